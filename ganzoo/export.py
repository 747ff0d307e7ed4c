"""The generator as a SavedModel with explicit signatures, loadable by plain
``tf.saved_model.load`` (no ganzoo classes needed) and by TF Serving.

Signatures of a noise-to-image generator:
- ``serving_default(z[, labels]) -> {"images": uint8 [N, H, W, C]}``
- ``sample(num_samples, seed[, labels]) -> {"images": ...}``: stateless, same seed same images
  in any process, ``num_samples`` clamped to [1, MAX_SAMPLES].
The module's ``info`` variable holds JSON: kind, latent_dim, num_classes, resolution, channels
and whatever the trainer adds (step, images seen, config).
"""
import json
import os
import shutil
import tempfile

import tensorflow as tf

MAX_SAMPLES = 256


def to_uint8(images):
    """[-1, 1] -> uint8, rounding like ``ganzoo.images.to_uint8``."""
    images = tf.cast(images, tf.float32)
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


def info_variable(info):
    return tf.Variable(json.dumps(info, sort_keys=True, default=str), trainable=False, name="info")


class GeneratorModule(tf.Module):
    def __init__(self, generate, latent_dim, num_classes=0, info=None):
        """``generate(z[, labels])`` -> float images in [-1, 1] (a traceable callable)."""
        super().__init__()
        self._generate = generate
        self._latent, self._classes = int(latent_dim), int(num_classes)
        self.info = info_variable(info or {})

    def _run(self, z, labels=None):
        out = self._generate(z, labels) if self._classes else self._generate(z)
        return {"images": to_uint8(out)}

    def _noise(self, num_samples, seed):
        n = tf.clip_by_value(num_samples, 1, MAX_SAMPLES)
        return tf.random.stateless_normal([n, self._latent], seed=tf.stack([seed, tf.constant(0, tf.int64)]))

    def signatures(self):
        z = tf.TensorSpec([None, self._latent], tf.float32, name="z")
        num = tf.TensorSpec([], tf.int32, name="num_samples")
        seed = tf.TensorSpec([], tf.int64, name="seed")
        if self._classes:
            labels = tf.TensorSpec([None], tf.int32, name="labels")

            def serve(z, labels):
                return self._run(z, labels)

            def sample(num_samples, seed, labels):
                noise = self._noise(num_samples, seed)
                return self._run(noise, labels[:tf.shape(noise)[0]])
            return {"serving_default": tf.function(serve, input_signature=[z, labels]),
                    "sample": tf.function(sample, input_signature=[num, seed, labels])}

        def serve(z):
            return self._run(z)

        def sample(num_samples, seed):
            return self._run(self._noise(num_samples, seed))
        return {"serving_default": tf.function(serve, input_signature=[z]),
                "sample": tf.function(sample, input_signature=[num, seed])}


def save_atomic(module, path, signatures):
    """``tf.saved_model.save`` into a temporary sibling, then rename into place, so a reader
    (or TF Serving) never sees a half-written directory."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        tf.saved_model.save(module, tmp, signatures=signatures)
        os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; a server may run as another user
        if os.path.exists(path):
            old = tmp + ".old"
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def save_generator(model, path, metadata=None):
    """Write a noise-to-image GANModel's generator to ``path`` (atomically). It runs through
    ``model.generate``; every variable that uses must be tracked by ``model.generator``."""
    def generate(z, labels=None):
        return model.generate(z, labels, training=False)

    out = generate(tf.zeros([1, model.latent_dim]),
                   tf.zeros([1], tf.int32) if model.conditional else None)
    info = dict(kind="noise", latent_dim=model.latent_dim, num_classes=model.num_classes,
                resolution=int(out.shape[1]), channels=int(out.shape[-1]), **(metadata or {}))
    module = GeneratorModule(generate, model.latent_dim, model.num_classes, info)
    module.generator = model.generator  # tracked, so its variables are saved
    return save_atomic(module, path, module.signatures())
