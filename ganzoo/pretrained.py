"""What ``ganzoo.load`` returns: a thin wrapper over the SavedModel's signatures."""
import json
import os

import numpy as np
import tensorflow as tf


class Pretrained:
    """A pretrained generator. ``sample``/``generate``/``interpolate`` for noise models,
    ``translate`` for image-to-image ones; all return uint8 ``[N, H, W, C]`` arrays."""

    def __init__(self, path, card=None):
        self.path = path
        self.module = tf.saved_model.load(path)
        self.info = json.loads(self.module.info.numpy().decode())
        self.card = card if card is not None else _read_card(path)
        self.kind = self.info.get("kind", "noise")
        self.latent_dim = self.info.get("latent_dim")
        self.num_classes = self.info.get("num_classes", 0)
        self.resolution = self.info.get("resolution")
        self.channels = self.info.get("channels")

    def __repr__(self):
        return (f"Pretrained({self.card.get('name', self.path)!r}, kind={self.kind}, "
                f"resolution={self.resolution}, latent_dim={self.latent_dim}, "
                f"num_classes={self.num_classes})")

    def _need(self, kind, what):
        if self.kind != kind:
            raise TypeError(f"{what} needs a {kind} model; this one is {self.kind}")

    def _labels(self, labels, n):
        if not self.num_classes:
            if labels is not None:
                raise ValueError("this model is not conditional; pass labels=None")
            return None
        if labels is None:
            labels = np.arange(n) % self.num_classes  # class by class
        labels = np.broadcast_to(np.asarray(labels, np.int32), (n,))
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"labels must lie in [0, {self.num_classes})")
        return tf.constant(labels)

    def sample(self, num, seed=0, labels=None):
        """``num`` images from the stateless ``sample`` signature: same seed, same images."""
        self._need("noise", "sample")
        kwargs = dict(num_samples=tf.constant(num, tf.int32), seed=tf.constant(seed, tf.int64))
        labels = self._labels(labels, num)
        if labels is not None:
            kwargs["labels"] = labels
        return self.module.signatures["sample"](**kwargs)["images"].numpy()

    def generate(self, z, labels=None):
        self._need("noise", "generate")
        z = tf.constant(np.asarray(z, np.float32).reshape(-1, self.latent_dim))
        kwargs = dict(z=z)
        labels = self._labels(labels, z.shape[0])
        if labels is not None:
            kwargs["labels"] = labels
        return self.module.signatures["serving_default"](**kwargs)["images"].numpy()

    def interpolate(self, z0=None, z1=None, steps=8, seed=0, labels=None, spherical=True):
        """Images along the path from ``z0`` to ``z1`` (drawn from ``seed`` when omitted);
        spherical (slerp) by default, which keeps Gaussian latents at a typical norm."""
        self._need("noise", "interpolate")
        rng = np.random.default_rng(seed)
        z0 = rng.standard_normal(self.latent_dim) if z0 is None else np.asarray(z0, np.float64)
        z1 = rng.standard_normal(self.latent_dim) if z1 is None else np.asarray(z1, np.float64)
        t = np.linspace(0.0, 1.0, steps)[:, None]
        if spherical:
            cos = np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1))
            omega = np.arccos(np.clip(cos, -1.0, 1.0))
            if omega < 1e-6:
                z = (1 - t) * z0 + t * z1
            else:
                z = (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)
        else:
            z = (1 - t) * z0 + t * z1
        if labels is not None:
            labels = np.broadcast_to(labels, (steps,))
        return self.generate(z.astype(np.float32), labels)

    def translate(self, images, direction="a2b"):
        """uint8 images ``[N, H, W, 3]`` of one domain -> the other (CycleGAN)."""
        self._need("translation", "translate")
        if direction not in ("a2b", "b2a"):
            raise ValueError("direction must be 'a2b' or 'b2a'")
        images = tf.constant(np.asarray(images, np.uint8))
        return self.module.signatures[f"translate_{direction}"](images=images)["images"].numpy()


def _read_card(path):
    card = os.path.join(path, "model_card.json")
    if not os.path.exists(card):
        return {}
    with open(card) as f:
        return json.load(f)
