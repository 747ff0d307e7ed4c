"""What ``ganzoo.load`` returns: a thin wrapper over the SavedModel's signatures."""
import json
import operator
import os

import numpy as np
import tensorflow as tf

from ganzoo import export

INT64 = np.iinfo(np.int64)


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
        self.max_samples = int(self.info.get("max_samples", export.MAX_SAMPLES))

    def __repr__(self):
        return (f"Pretrained({self.card.get('name', self.path)!r}, kind={self.kind}, "
                f"resolution={self.resolution}, latent_dim={self.latent_dim}, "
                f"num_classes={self.num_classes})")

    def _need(self, kind, what):
        if self.kind != kind:
            raise TypeError(f"{what} needs a {kind} model; this one is {self.kind}")

    # Every input is checked here, before the graph runs: the SavedModel's own signatures
    # clamp num_samples and turn NaN latents into pixels without a word.

    def _labels(self, labels, n):
        if not self.num_classes:
            if labels is not None:
                raise ValueError("this model is not conditional; pass labels=None")
            return None
        if labels is None:
            labels = np.arange(n) % self.num_classes  # class by class
        array = np.asarray(labels)
        if array.dtype.kind not in "iu" or array.ndim > 1 or array.size not in (1, n):
            raise ValueError(f"labels must be integers in [0, {self.num_classes}): one per image "
                             f"({n}) or one for all; got {_describe(array)}")
        if array.size and (array.min() < 0 or array.max() >= self.num_classes):
            raise ValueError(f"labels must lie in [0, {self.num_classes}), this model's classes; "
                             f"got {array.min() if array.min() < 0 else array.max()}")
        return tf.constant(np.broadcast_to(array.astype(np.int32).reshape(-1), (n,)))

    def _count(self, num):
        try:
            if isinstance(num, (bool, np.bool_)):
                raise TypeError
            num = operator.index(num)
        except TypeError:
            raise TypeError(f"num must be an integer, got {num!r}") from None
        if not 1 <= num <= self.max_samples:
            raise ValueError(f"num must lie in [1, {self.max_samples}], got {num}; for more "
                             "images call sample again with other seeds")
        return num

    def _z(self, z):
        try:
            with np.errstate(over="ignore"):  # beyond float32 -> inf, refused below
                array = np.asarray(z, np.float32)
        except (TypeError, ValueError) as e:
            raise ValueError(f"z must be float32 numbers of shape [N, {self.latent_dim}]: {e}"
                             ) from None
        if array.ndim == 1 and array.size == self.latent_dim:
            array = array[None]  # one latent
        if array.ndim != 2 or array.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape [N, {self.latent_dim}] (this model's "
                             f"latent_dim), got shape {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError("z contains NaN or Inf (or values beyond float32); pass finite "
                             "latents, e.g. np.random.standard_normal")
        return tf.constant(array)

    def sample(self, num, seed=0, labels=None):
        """``num`` images from the stateless ``sample`` signature: same seed, same images.
        ``num`` lies in [1, 256]; ``labels`` (conditional models) one per image or one for all,
        default class by class."""
        self._need("noise", "sample")
        num = self._count(num)
        try:
            seed = operator.index(seed)
        except TypeError:
            raise TypeError(f"seed must be an integer, got {seed!r}") from None
        if not INT64.min <= seed <= INT64.max:
            raise ValueError(f"seed must fit in int64, got {seed}")
        kwargs = dict(num_samples=tf.constant(num, tf.int32), seed=tf.constant(seed, tf.int64))
        labels = self._labels(labels, num)
        if labels is not None:
            kwargs["labels"] = labels
        return self.module.signatures["sample"](**kwargs)["images"].numpy()

    def generate(self, z, labels=None):
        """Images for latents ``z`` float32 [N, latent_dim] (finite); ``labels`` one per row or
        one for all (conditional models)."""
        self._need("noise", "generate")
        z = self._z(z)
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
        return self.generate(z.astype(np.float32), labels)

    def translate(self, images, direction="a2b"):
        """uint8 images ``[N, H, W, 3]`` of one domain -> the other (CycleGAN)."""
        self._need("translation", "translate")
        if direction not in ("a2b", "b2a"):
            raise ValueError("direction must be 'a2b' or 'b2a'")
        array = np.asarray(images)
        if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != self.channels:
            raise ValueError(f"images must be uint8 [N, H, W, {self.channels}] (pixels 0..255), "
                             f"got {_describe(array)}")
        images = tf.constant(array)
        return self.module.signatures[f"translate_{direction}"](images=images)["images"].numpy()


def _read_card(path):
    card = os.path.join(path, "model_card.json")
    if not os.path.exists(card):
        return {}
    with open(card) as f:
        return json.load(f)


def _describe(array):
    return f"{array.dtype} array of shape {array.shape}"
