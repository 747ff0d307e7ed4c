"""The generator as a SavedModel with explicit signatures, loadable by plain
``tf.saved_model.load`` (no ganzoo classes needed) and by TF Serving.

Signatures:
- ``serving_default(z[, labels]) -> {"images": uint8 [N, H, W, C]}``
- ``sample(num_samples, seed[, labels]) -> {"images": ...}``: stateless, same seed same images,
  ``num_samples`` capped at ``MAX_SAMPLES``.
"""
import json
import os
import shutil
import tempfile

import tensorflow as tf

MAX_SAMPLES = 256


def to_uint8(images):
    images = tf.cast(images, tf.float32)
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


class GeneratorModule(tf.Module):
    def __init__(self, generator, latent_dim, num_classes=0, metadata=None):
        super().__init__()
        self.generator = generator
        self.latent_dim = tf.constant(latent_dim, name="latent_dim")
        self.num_classes = tf.constant(num_classes, name="num_classes")
        self._latent, self._classes = latent_dim, num_classes
        self.metadata = tf.constant(json.dumps(metadata or {}), name="metadata")

    def _run(self, z, labels=None):
        inputs = [z, labels] if self._classes else z
        return {"images": to_uint8(self.generator(inputs, training=False))}

    def _noise(self, num_samples, seed):
        n = tf.minimum(tf.maximum(num_samples, 1), MAX_SAMPLES)
        return tf.random.stateless_normal([n, self._latent], seed=tf.stack([seed, 0]))

    def signatures(self):
        z = tf.TensorSpec([None, self._latent], tf.float32, name="z")
        num = tf.TensorSpec([], tf.int32, name="num_samples")
        seed = tf.TensorSpec([], tf.int64, name="seed")
        if self._classes:
            labels = tf.TensorSpec([None], tf.int32, name="labels")
            serve = tf.function(lambda z, labels: self._run(z, labels), input_signature=[z, labels])

            def sample(num_samples, seed, labels):
                noise = self._noise(num_samples, seed)
                return self._run(noise, labels[:tf.shape(noise)[0]])
            sample = tf.function(sample, input_signature=[num, seed, labels])
        else:
            serve = tf.function(lambda z: self._run(z), input_signature=[z])
            sample = tf.function(lambda num_samples, seed: self._run(self._noise(num_samples, seed)),
                                 input_signature=[num, seed])
        return {"serving_default": serve, "sample": sample}


def save_generator(model, path, metadata=None):
    """Write ``model``'s generator to ``path`` atomically (built elsewhere, then renamed)."""
    module = GeneratorModule(model.generator, model.latent_dim, model.num_classes, metadata)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        tf.saved_model.save(module, tmp, signatures=module.signatures())
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
