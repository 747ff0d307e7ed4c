"""Feature extractors for sample-quality metrics (FID, KID, precision/recall, Inception Score).

``get_extractor(name)`` returns an object with ``features(images) -> float32 [n, d]`` and
``logits(images) -> float32 [n, classes]``; images are uint8 ``[n, H, W, C]`` (or ``[n, H, W]``
grey), as the GANs' exported models produce them.

The domain extractors (``mnist_classifier``, ``cifar10_classifier``, ``celeba_faces``) are
small CNNs trained here by ``python -m ganzoo.train_extractor`` on real images preprocessed
exactly like the GANs' training data; their SavedModels live in ``saved_models/extractors/``
and are pinned by ``ganzoo.hub.tree_sha256`` like the generators in ``ganzoo.registry``. They
are not Inception: numbers from them are not comparable to published FIDs, only to other
numbers from the same extractor (same sha256). Images of another size are centre-cropped to a
square and resized with antialiased bilinear filtering (as ``ganzoo.data`` does), grey is
tiled to RGB and RGB turned to grey as needed.

``inception_v3`` is ``keras.applications.InceptionV3`` with ImageNet weights that you supply
(nothing is downloaded implicitly); see ``InceptionV3Extractor``.
"""
import hashlib
import os
import shutil
import tempfile
import urllib.request

import numpy as np
import tensorflow as tf

from ganzoo import hub
from ganzoo.lookup import lookup

REPO_ROOT = os.path.dirname(hub.REPO_MODELS)
NOT_INCEPTION = "not Inception: numbers are not comparable to published FIDs"

INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
INCEPTION_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
                 + INCEPTION_FILE)
# The file's sha256 as a third party publishes it (gomlx's inceptionv3 loader; not checked
# here: no download is possible); Keras itself pins the file by the md5 below.
INCEPTION_SHA256 = "00c9ea4e4762f716ac4d300d6d9c2935639cc5e4d139b5790d765dcbeea539d0"
INCEPTION_MD5 = "9a0d58056eeedaa3f26cb7ebd46da564"
WEIGHTS_ENV = "GANZOO_INCEPTION_WEIGHTS"


def _entry(name, dataset, sha256, resolution, channels, feature_dim, num_classes, what):
    return dict(name=name, kind="saved_model", dataset=dataset,
                path=f"saved_models/extractors/{name}", sha256=sha256, resolution=resolution,
                channels=channels, feature_dim=feature_dim, num_classes=num_classes,
                description=f"{what}; features = penultimate layer ({feature_dim}-d); "
                            f"{NOT_INCEPTION}")


EXTRACTORS = {
    "mnist_classifier": _entry(
        "mnist_classifier", "mnist",
        "47ad4243ee2bcd5b853875d8629673914c6ef1ea0e52246199eb2dfb6504e8b4", 28, 1, 128, 10,
        "small CNN digit classifier trained on MNIST train (28x28 grey)"),
    "cifar10_classifier": _entry(
        "cifar10_classifier", "cifar10",
        "ab11a41cdcfd9b0b2d960d10d45390cda996c861676b654fc3f8f48d283218ef", 32, 3, 256, 10,
        "small VGG-style CNN classifier trained on CIFAR-10 train (32x32 RGB, JPEG copy)"),
    "celeba_faces": _entry(
        "celeba_faces", "celeba",
        "ad6549695be6da4aa5b361626f8358aaf64eee3e674714e375c03083ed0af4d6", 64, 3, 256, 200,
        "CNN face-identity classifier (200 CelebA identities, train split, 64x64 centre crop)"),
    "inception_v3": dict(
        name="inception_v3", kind="keras_inception_v3", dataset="imagenet", path=None,
        sha256=INCEPTION_SHA256, url=INCEPTION_URL, resolution=299, channels=3,
        feature_dim=2048, num_classes=1000,
        description="keras.applications.InceptionV3 with Keras's ImageNet weights (supplied by "
                    f"you: weights= or ${WEIGHTS_ENV}); features = pool3 (2048-d), logits = the "
                    "1000-way layer before the softmax. Close to, not identical to, the TF "
                    "Inception graph of published FIDs (other weights, 1000 not 1008 classes)"),
}

# A dataset's name picks its domain extractor (as ganzoo.evaluate's protocols name them).
ALIASES = {"mnist": "mnist_classifier", "cifar10": "cifar10_classifier",
           "celeba": "celeba_faces"}


def list_extractors():
    return sorted(EXTRACTORS)


def get_extractor(name, *, path=None, weights=None, sha256=None):
    """The extractor ``name`` (or a dataset name in ``ALIASES``); ``path`` replaces a
    SavedModel's folder, ``weights`` and ``sha256`` are for ``inception_v3`` (see
    ``InceptionV3Extractor``)."""
    table = {**EXTRACTORS, **{alias: EXTRACTORS[n] for alias, n in ALIASES.items()}}
    entry = lookup(table, name, "feature extractor")
    if entry["kind"] == "keras_inception_v3":
        return InceptionV3Extractor(weights, sha256 or entry["sha256"])
    return SavedModelExtractor(entry, path)


# --- input handling ----------------------------------------------------------------------------

def _as_uint8(images):
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 (0..255), got {images.dtype}; convert [-1, 1] "
                        "floats with ganzoo.images.to_uint8")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be [n, H, W], [n, H, W, 1] or [n, H, W, 3]; "
                         f"got {images.shape}")
    return images


def adapt(images, resolution, channels):
    """uint8 [n, H, W, C] -> uint8 [n, R, R, channels] the way ``ganzoo.data`` prepares real
    images: centre crop to a square, antialiased bilinear resize, round to uint8."""
    from ganzoo import data
    images = tf.convert_to_tensor(images)
    if tuple(images.shape[1:3]) != (resolution, resolution):
        return data.crop_resize(images, resolution, channels)
    if images.shape[-1] == channels:
        return images
    return data._channels_uint8(tf.cast(images, tf.float32), channels)  # size already right


class Extractor:
    name = sha256 = None
    resolution = channels = feature_dim = num_classes = None

    def __repr__(self):
        return (f"{type(self).__name__}({self.name!r}, {self.resolution}x{self.resolution}x"
                f"{self.channels} -> {self.feature_dim}-d, classes={self.num_classes})")

    def _run(self, images, which):
        """uint8 [b, H, W, C] -> float32 tensor ``which`` ("features" or "logits")."""
        raise NotImplementedError

    def _batched(self, which, images, batch_size):
        images = _as_uint8(images)
        outs = [self._run(images[i:i + batch_size], which).numpy()
                for i in range(0, len(images), batch_size)]
        if not outs:
            width = self.feature_dim if which == "features" else self.num_classes
            return np.zeros((0, width), np.float32)
        return np.concatenate(outs).astype(np.float32)

    def features(self, images, batch_size=256):
        """float32 [n, feature_dim] for uint8 images of any size and 1 or 3 channels."""
        return self._batched("features", images, batch_size)

    def logits(self, images, batch_size=256):
        """float32 [n, num_classes], before the softmax."""
        if not self.num_classes:
            raise TypeError(f"{self.name} is not a classifier: it has no logits")
        return self._batched("logits", images, batch_size)


class SavedModelExtractor(Extractor):
    """A registry SavedModel with ``features``/``logits`` signatures on uint8 images."""

    def __init__(self, entry, path=None):
        self.entry = entry
        self.name, self.sha256 = entry["name"], entry["sha256"]
        self.resolution, self.channels = entry["resolution"], entry["channels"]
        self.feature_dim, self.num_classes = entry["feature_dim"], entry["num_classes"]
        self.path = path or os.path.join(REPO_ROOT, entry["path"])
        if not os.path.isdir(self.path):
            raise FileNotFoundError(
                f"extractor {self.name} not found at {self.path}; train it with "
                f"`python -m ganzoo.train_extractor {entry['dataset']} --out={entry['path']}` "
                "and pin the printed sha256 in ganzoo/extractors.py")
        hub.verify(self.path, self.sha256, f"extractor {self.name}")
        self.module = tf.saved_model.load(self.path)

    def _run(self, images, which):
        images = adapt(images, self.resolution, self.channels)
        return self.module.signatures[which](images=images)[which]


# --- Inception v3 ------------------------------------------------------------------------------

def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _missing_weights(where):
    return FileNotFoundError(
        f"InceptionV3 weights not found{where}. Nothing is downloaded implicitly. Get the "
        f"Keras ImageNet weights (with the top) from {INCEPTION_URL} (sha256 "
        f"{INCEPTION_SHA256}, Keras's md5 {INCEPTION_MD5}) and pass the file: "
        f"get_extractor('inception_v3', weights='/path/{INCEPTION_FILE}') or "
        f"export {WEIGHTS_ENV}=/path/{INCEPTION_FILE}; weights=URL downloads into "
        f"{os.path.join(hub.cache_root(), 'inception')} after a sha256 check; "
        "weights='random' builds untrained weights (tests only).")


def _check(path, sha256):
    actual = file_sha256(path)
    if actual != sha256:
        raise hub.HashMismatch(
            f"InceptionV3 weights {path} have sha256 {actual}, expected {sha256}; refusing "
            f"them. (Keras pins the original file by md5 {INCEPTION_MD5}: if yours matches it "
            "and you trust it, pass its sha256 explicitly with sha256=.)")
    return path


def _download(url, sha256):
    folder = os.path.join(hub.cache_root(), "inception")
    dest = os.path.join(folder, f"{sha256}.h5")
    if os.path.isfile(dest):
        return _check(dest, sha256)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".download-", suffix=".h5", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out)
        _check(tmp, sha256)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def inception_weights(weights=None, sha256=INCEPTION_SHA256):
    """A verified local weights file, or None for ``weights="random"``."""
    weights = weights or os.environ.get(WEIGHTS_ENV) or None
    if weights == "random":
        return None
    if weights is None:
        cached = os.path.join(hub.cache_root(), "inception", f"{sha256}.h5")
        if not os.path.isfile(cached):
            raise _missing_weights(f" (no weights= argument, no ${WEIGHTS_ENV}, nothing at "
                                   f"{cached})")
        return _check(cached, sha256)
    if weights.startswith(("http://", "https://", "file://")):
        return _download(weights, sha256)
    if not os.path.isfile(weights):
        raise _missing_weights(f" at {weights}")
    return _check(weights, sha256)


class InceptionV3Extractor(Extractor):
    """``keras.applications.InceptionV3(include_top=True, weights=None)`` + supplied weights.

    Preprocessing, exactly: uint8 images [n, H, W, C]; grey (C=1) is tiled to RGB; cast to
    float32 (values 0..255); resized to 299x299 with bilinear interpolation as the TF1
    ``ResizeBilinear`` op of the TF Inception graph does it (align_corners=False,
    half_pixel_centers=False, no antialiasing, aspect ratio not kept, no crop); scaled to
    [-1, 1] as x / 127.5 - 1 (Keras's ``inception_v3.preprocess_input``).

    ``features``: pool3, the 2048-d global average pool before the top (layer ``avg_pool``).
    ``logits``: the 1000-way ImageNet layer (``predictions``) before the softmax; for the
    Inception Score take its softmax.

    ``weights``: a local ``.h5`` path, an http(s)/file URL (downloaded into the ganzoo cache,
    checked before use), or ``"random"`` (untrained, for tests); by default
    ``$GANZOO_INCEPTION_WEIGHTS``, else a copy already in the cache. Files must match
    ``sha256`` (default: the pinned hash of the Keras file). These weights are Keras's port of
    the TF-slim ImageNet model, not the 2015 graph used by the original FID code (1008
    classes), so FIDs are close to, not identical to, published ones.
    """

    name, resolution, channels, feature_dim, num_classes = "inception_v3", 299, 3, 2048, 1000

    def __init__(self, weights=None, sha256=INCEPTION_SHA256):
        import keras
        self.weights = inception_weights(weights, sha256)
        self.sha256 = sha256 if self.weights else None
        base = keras.applications.InceptionV3(include_top=True, weights=None,
                                              classifier_activation=None)
        if self.weights:
            base.load_weights(self.weights)
        self.net = keras.Model(base.input, [base.get_layer("avg_pool").output, base.output])
        self._call = tf.function(
            self._forward, input_signature=[tf.TensorSpec([None, None, None, None], tf.uint8)])

    def _forward(self, images):
        x = tf.cast(images, tf.float32)
        x = tf.cond(tf.shape(x)[-1] == 1, lambda: tf.tile(x, [1, 1, 1, 3]), lambda: x)
        x = tf.ensure_shape(x, [None, None, None, 3])
        x = tf.raw_ops.ResizeBilinear(images=x, size=[299, 299], align_corners=False,
                                      half_pixel_centers=False)
        features, logits = self.net(x / 127.5 - 1.0, training=False)
        return tf.cast(features, tf.float32), tf.cast(logits, tf.float32)

    def _run(self, images, which):
        features, logits = self._call(tf.convert_to_tensor(images))
        return features if which == "features" else logits
