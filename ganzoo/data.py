"""tf.data input pipelines: ``make(cfg, batch_size)`` yields float32 image batches in [-1, 1].

``cfg.source`` picks the reader:

* ``npz:PATH``     a numpy ``.npz`` laid out like ``keras.datasets`` (``x_train``/``y_train``,
                   ``x_test``/``y_test``); images are resized when their size differs.
* ``folder:PATH``  image files found recursively (.jpg .jpeg .png .bmp .gif, any case). If
                   PATH's immediate subfolders hold images, each subfolder is a class (sorted
                   names -> labels 0..K-1); images directly in PATH then are ignored with a
                   warning. Otherwise all images are label 0. Names starting with "." are
                   skipped. Files are decoded by content, not by extension (real folders hold
                   PNGs named .jpg), centre-cropped to a square and downsized (antialiased).
* ``tfds:NAME``    a TensorFlow Datasets dataset with ``image`` (and ``label``) features. With
                   ``download=False`` (the default) an unprepared dataset fails at once with
                   a message saying how to provide it; nothing touches the network.
* ``cyclegan:PATH`` two unpaired domains in the CycleGAN layout: PATH holds trainA/, trainB/,
                   testA/, testB/ (each read like ``folder:``); split ``train`` -> trainA+trainB,
                   ``test`` -> testA+testB. ``tfds:cycle_gan/NAME`` gives the same from the TFDS
                   splits trainA/trainB (testA/testB). Batches are ``(a_batch, b_batch)``; see
                   ``_two_domain`` for the augmentation (resize, random crop, flips).

Bad-file policy for folders: every file's header is read up front (PIL, in threads). Files
that PIL cannot identify, or whose format tf.io.decode_image cannot read, are dropped from
the list and logged (count and first names). If more than ``max_bad_fraction`` of the files
are bad, ``make`` raises ValueError naming them instead. Files that pass the header check but
fail to decode later (e.g. truncated) are dropped by the pipeline (``ignore_errors``, logged
by tf.data). Images whose short side is below ``resolution`` are an error, not skipped.

Pipeline: decode/resize to uint8 -> cache in memory (``cache``) -> shuffle(seed) -> repeat ->
batch(drop_remainder) -> scale x/127.5 - 1 (+ optional horizontal flip) -> prefetch.
"""
import logging
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf

log = logging.getLogger(__name__)

SOURCES = ("npz:PATH", "folder:PATH", "tfds:NAME", "cyclegan:PATH")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# PIL format names that tf.io.decode_image reads (MPO is a multi-picture JPEG from cameras).
_DECODABLE = {"JPEG", "MPO", "PNG", "GIF", "BMP"}
_NAMES_SHOWN = 5


def parse_source(source):
    """``"npz:PATH"`` -> ``("npz", "PATH")``; ValueError for an unknown prefix."""
    kind, sep, rest = str(source).partition(":")
    if not sep or kind not in ("npz", "folder", "tfds", "cyclegan") or not rest:
        raise ValueError(f"unknown data source {source!r}: expected one of "
                         + ", ".join(repr(s) for s in SOURCES))
    return kind, (os.path.expanduser(rest) if kind != "tfds" else rest)


def make(cfg, batch_size, *, seed=0, repeat=True, skip=0):
    """Batched dataset of float32 images [B, R, R, C] in [-1, 1], or (images, int32 labels).
    ``skip`` drops the first batches unprocessed: a resumed run continues the same order."""
    for key in ("source", "resolution", "channels"):
        if cfg.get(key, None) is None:
            raise KeyError(f"data config needs {key!r}")
    resolution, channels = int(cfg["resolution"]), int(cfg["channels"])
    if channels not in (1, 3):
        raise ValueError(f"data.channels must be 1 or 3, got {channels}")
    if resolution < 1:
        raise ValueError(f"data.resolution must be positive, got {resolution}")
    labels = bool(cfg.get("labels", False))
    split = cfg.get("split", "train") or "train"

    kind, where = parse_source(cfg["source"])
    if is_two_domain(cfg["source"]):
        if labels:
            raise ValueError(f"{cfg['source']} has two unlabelled domains; set data.labels=False")
        return _two_domain(cfg, kind, where, split, resolution, channels, batch_size, seed, repeat,
                           skip)
    if kind == "npz":
        ds = _npz(where, split, resolution, channels, labels)
    elif kind == "folder":
        ds = _folder(where, resolution, channels, seed, float(cfg.get("max_bad_fraction", 0.01)))
    else:
        ds = _tfds(where, split, resolution, channels, labels,
                   cfg.get("tfds_data_dir", None) or None, bool(cfg.get("download", False)))

    if cfg.get("cache", True):
        ds = ds.cache()
    buffer = int(cfg.get("shuffle_buffer", 10000))
    if buffer > 1:
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=True)
    flip = bool(cfg.get("random_flip", False))

    def finish(step, batch):
        images, y = batch
        images = tf.cast(images, tf.float32) / 127.5 - 1.0
        if flip:  # stateless, keyed on (seed, batch index): reproducible and new every epoch
            key = tf.stack([tf.constant(seed, tf.int64), step])
            coin = tf.random.stateless_uniform([batch_size], seed=key)
            images = tf.where((coin < 0.5)[:, None, None, None], tf.reverse(images, [2]), images)
        return (images, y) if labels else images

    ds = ds.enumerate().skip(skip).map(finish, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _drop_alpha(image):
    c = image.shape[-1]
    return image[..., :c - 1] if c in (2, 4) else image


def _channels_uint8(image, channels):
    """float [..., H, W, 1 or 3] -> uint8 with ``channels`` channels (grey tiled, RGB to luma)."""
    if channels == 1 and image.shape[-1] == 3:
        image = tf.image.rgb_to_grayscale(image)
    elif channels == 3 and image.shape[-1] == 1:
        image = tf.concat([image] * 3, axis=-1)
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def crop_resize(image, resolution, channels):
    """uint8 [..., H, W, C] (C in 1..4; one image or a batch) -> centre-cropped, resized uint8
    [..., R, R, channels]: how every source prepares real images (and the extractors, fakes)."""
    image = _drop_alpha(image)
    h, w = tf.shape(image)[-3], tf.shape(image)[-2]
    s = tf.minimum(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    image = image[..., top:top + s, left:left + s, :]
    image = tf.image.resize(image, [resolution, resolution], antialias=True)  # float32
    image = _channels_uint8(image, channels)
    return tf.ensure_shape(image, image.shape[:-3] + [resolution, resolution, channels])


def real_images(source, resolution, channels, split="train", domain=None, names=None,
                labels=False):
    """Unshuffled, finite dataset of uint8 images [R, R, C] (or (image, label)) prepared like
    the training data (centre crop, antialiased resize), for evaluation. ``domain`` "A"/"B"
    picks one side of a two-domain source; ``names`` filters a folder by file name."""
    kind, where = parse_source(source)
    if is_two_domain(source):
        if domain not in DOMAINS:
            raise ValueError(f"{source} has two domains; pass domain='A' or 'B'")
        cfg = dict(source=source, resolution=resolution, channels=channels)
        ds = _domain(cfg, kind, where, split, domain, resolution, channels, 0, False, False)
        return ds.map(lambda image: (image, 0)) if labels else ds
    if kind == "npz":
        ds = _npz(where, split, resolution, channels, labels)
    elif kind == "folder":
        ds = _folder(where, resolution, channels, 0, 0.01, shuffle_files=False, names=names)
    else:
        ds = _tfds(where, split, resolution, channels, labels, None, False)
    return ds if labels else ds.map(lambda image, label: image)


# --- npz ---------------------------------------------------------------------------------------

def _npz(path, split, resolution, channels, labels):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"npz file not found: {path}; check data.source (npz:PATH)")
    keys = [f"x_{split}"] + ([f"y_{split}"] if labels else [])
    how = f"write it with np.savez(path, x_{split}=images, y_{split}=labels)"
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an .npz file (not a zip archive of arrays: cut short, "
                         f"or another format); {how}")
    try:
        f = np.load(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is not a readable .npz file ({e}); {how}") from e
    with f:
        missing = [k for k in keys if k not in f.files]
        if missing:
            fix = (" or set data.labels=False to train without labels"
                   if missing == keys[1:] else " or set data.split to a split it has")
            raise KeyError(f"{path} has no key(s) {missing} for split {split!r} (keys present: "
                           f"{sorted(f.files)}); save the arrays under those names{fix}")
        try:
            x = f[keys[0]]
            y = f[keys[1]].reshape(-1) if labels else np.zeros(len(x), np.int32)
        except ValueError as e:  # object arrays need pickle, which is never allowed here
            raise ValueError(f"{path}: {e}; save plain numeric arrays (uint8 images, integer "
                             "labels)") from e
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"{path}: {keys[0]} has shape {x.shape}; expected N×H×W or N×H×W×C "
                         "with C in 1..4 (one image per row)")
    if not len(x):
        raise ValueError(f"{path}: {keys[0]} holds no images; point data.source at the data")
    if len(y) != len(x):
        raise ValueError(f"{path}: {len(x)} images but {len(y)} labels in {keys[-1]}; save one "
                         "label per image")
    if x.dtype != np.uint8:
        raise ValueError(f"{path}: {keys[0]} has dtype {x.dtype}; expected uint8 pixels 0..255 "
                         "(convert with np.clip(x, 0, 255).astype(np.uint8), scaling floats in "
                         "[0, 1] by 255 first)")
    if labels and (y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.array_equal(
            y, np.round(y)))):
        raise ValueError(f"{path}: {keys[1]} has dtype {y.dtype} with non-integer values; "
                         "save integer class labels 0..K-1")
    y = y.astype(np.int32)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if x.shape[1:] != (resolution, resolution, channels):
        ds = ds.map(lambda im, lab: (crop_resize(im, resolution, channels), lab),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds


# --- folder ------------------------------------------------------------------------------------

def _scan(root):
    """Sorted image paths under root and their labels (see module docstring)."""
    found = []  # (path, top-level subfolder or "" for files directly in root)
    for d, dirs, names in os.walk(root):
        dirs[:] = [n for n in dirs if not n.startswith(".")]
        rel = os.path.relpath(d, root)
        top = "" if rel == os.curdir else rel.split(os.sep)[0]
        found += [(os.path.join(d, n), top) for n in names
                  if not n.startswith(".") and n.lower().endswith(IMAGE_EXTENSIONS)]
    found.sort()
    classes = sorted({top for _, top in found if top})
    if not classes:
        return [p for p, _ in found], [0] * len(found)
    loose = [p for p, top in found if not top]
    if loose:
        log.warning("%s: %d image(s) directly in the folder are ignored because it has class "
                    "subfolders %s: %s", root, len(loose), classes, loose[:_NAMES_SHOWN])
    index = {c: i for i, c in enumerate(classes)}
    kept = [(p, index[top]) for p, top in found if top]
    return [p for p, _ in kept], [i for _, i in kept]


def _header(path):
    """(width, height) from the file header, or a string saying why the file is unusable."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            if im.format not in _DECODABLE:
                return f"unsupported format {im.format}"
            return im.size
    except Image.UnidentifiedImageError:
        return "not an image file PIL can identify"
    except Exception as e:  # noqa: BLE001 - any failure to read the header makes the file bad
        return f"{type(e).__name__}: {str(e).replace(repr(path), 'it').replace(path, 'it')}"


def _headers(paths):
    # Chunks, not one task per file: the work is short and GIL-bound, threads only help to
    # overlap disk reads on a cold cache.
    chunks = [paths[i:i + 256] for i in range(0, len(paths), 256)]
    with ThreadPoolExecutor(8) as pool:
        return [h for chunk in pool.map(lambda c: [_header(p) for p in c], chunks) for h in chunk]


def _folder(root, resolution, channels, seed, max_bad_fraction, prepare=None,
            shuffle_files=True, names=None):
    """(image, label) per usable file. ``prepare(uint8 image)`` replaces the default centre
    crop + resize; ``shuffle_files=False`` keeps the sorted file order; ``names`` (a set of
    file names) keeps only those files."""
    if not os.path.isdir(root):
        if os.path.exists(root):
            raise NotADirectoryError(f"{root} is a file, not a folder of images; use "
                                     "folder:DIR for a folder, npz:PATH for an .npz")
        raise FileNotFoundError(f"image folder not found: {root}; check data.source "
                                "(folder:PATH)")
    paths, labels = _scan(root)
    if names is not None:
        kept = [(p, y) for p, y in zip(paths, labels) if os.path.basename(p) in names]
        paths, labels = [p for p, _ in kept], [y for _, y in kept]
    if not paths:
        raise ValueError(f"no images found in {root} (looked recursively for "
                         f"{', '.join(IMAGE_EXTENSIONS)}, any case); put images there or point "
                         "data.source at the folder that holds them")

    headers = _headers(paths)
    bad = [(p, h) for p, h in zip(paths, headers) if isinstance(h, str)]
    if bad:
        names = [f"{p} ({why})" for p, why in bad[:_NAMES_SHOWN]]
        if len(bad) > max_bad_fraction * len(paths):
            raise ValueError(f"{root}: {len(bad)} of {len(paths)} image files are unreadable, "
                             f"more than max_bad_fraction={max_bad_fraction}: "
                             f"{', '.join(names)}{', ...' if len(bad) > len(names) else ''}; "
                             "delete or re-encode them, or raise data.max_bad_fraction to skip "
                             "them")
        log.warning("%s: skipping %d unreadable image file(s) of %d: %s",
                    root, len(bad), len(paths), names)
    good = [i for i, h in enumerate(headers) if not isinstance(h, str)]
    small = [(paths[i], headers[i]) for i in good if min(headers[i]) < resolution]
    if small:
        raise ValueError(f"{root}: {len(small)} image(s) smaller than resolution {resolution} on "
                         f"their short side, e.g. " + ", ".join(
                             f"{p} ({w}x{h})" for p, (w, h) in small[:_NAMES_SHOWN])
                         + "; remove or upscale them, or lower data.resolution and "
                         "model.resolution")

    # A seeded permutation of the file list, so a shuffle buffer smaller than the data still
    # mixes classes (the list is sorted by class).
    order = np.random.default_rng(seed).permutation(good) if shuffle_files else np.array(good)
    ds = tf.data.Dataset.from_tensor_slices((np.array(paths)[order],
                                             np.array(labels, np.int32)[order]))

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        if prepare is not None:
            return prepare(image), label
        return crop_resize(image, resolution, channels), label

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.ignore_errors(log_warning=True)


# --- tfds --------------------------------------------------------------------------------------

def _tfds(name, split, resolution, channels, labels, data_dir, download, prepare=None):
    import tensorflow_datasets as tfds  # slow import, only when needed

    builder = tfds.builder(name, data_dir=data_dir)
    if download:
        builder.download_and_prepare()
    try:
        ds = builder.as_dataset(split=split, shuffle_files=False)
    except AssertionError as e:  # tfds's "could not find data in ..." check
        raise FileNotFoundError(
            f"TFDS dataset {name!r} is not prepared at {builder.data_dir} "
            f"(data_dir={data_dir or 'TFDS default'}) and config.data.download is False. "
            f"To provide it: run `tfds build {name} --data_dir=DIR` on a machine with internet "
            f"and copy DIR here, then set config.data.tfds_data_dir=DIR; or set "
            f"config.data.download=True on a machine with internet.") from e
    features = builder.info.features
    needed = ["image"] + (["label"] if labels else [])
    missing = [k for k in needed if k not in features]
    if missing:
        raise ValueError(f"TFDS dataset {name!r} has no feature(s) {missing}; "
                         f"features: {list(features.keys())}")

    def pick(ex):
        label = tf.cast(ex["label"], tf.int32) if labels else tf.constant(0, tf.int32)
        if prepare is not None:
            return prepare(ex["image"]), label
        return crop_resize(ex["image"], resolution, channels), label

    return ds.map(pick, num_parallel_calls=tf.data.AUTOTUNE)


# --- two domains (CycleGAN) --------------------------------------------------------------------

DOMAINS = ("A", "B")


def is_two_domain(source):
    """True for ``cyclegan:PATH`` and ``tfds:cycle_gan[/CONFIG]``: batches are (a, b) pairs."""
    kind, where = parse_source(source)
    return kind == "cyclegan" or (kind == "tfds" and where.split("/")[0].split(":")[0] == "cycle_gan")


def load_size(cfg):
    """The short side images are resized to before the random crop: ``data.load_size``, or
    286/256 of the resolution (286 for 256, as in Zhu et al. 2017) when it is 0 or absent."""
    resolution = int(cfg["resolution"])
    size = int(cfg.get("load_size", 0) or 0) or resolution * 286 // 256
    if size < resolution:
        raise ValueError(f"data.load_size {size} is below the resolution {resolution}")
    return size


def _resize_short_side(image, size, channels):
    """uint8 [H, W, C] -> uint8 with the short side ``size`` (aspect kept, antialiased)."""
    image = _drop_alpha(image)
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    s = tf.minimum(h, w)
    new = tf.stack([(h * size + s // 2) // s, (w * size + s // 2) // s])  # the short side -> size
    image = _channels_uint8(tf.image.resize(image, new, antialias=True), channels)
    return tf.ensure_shape(image, [None, None, channels])


def _domain(cfg, kind, where, split, domain, resolution, channels, seed, augment, shuffle):
    """uint8 images of one domain: resized to the load size (augment) or centre-cropped and
    resized to the resolution (no augment)."""
    prepare = None
    if augment:
        size = load_size(cfg)
        prepare = lambda image: _resize_short_side(image, size, channels)  # noqa: E731
    if kind == "cyclegan":
        root = os.path.join(where, split + domain)
        if not os.path.isdir(root):
            raise FileNotFoundError(
                f"image folder not found: {root} (a cyclegan:PATH source needs "
                f"{', '.join(s + d for s in ('train', 'test') for d in DOMAINS)} under {where})")
        ds = _folder(root, resolution, channels, seed, float(cfg.get("max_bad_fraction", 0.01)),
                     prepare=prepare, shuffle_files=shuffle)
    else:
        ds = _tfds(where, split + domain, resolution, channels, False,
                   cfg.get("tfds_data_dir", None) or None, bool(cfg.get("download", False)),
                   prepare=prepare)
    return ds.map(lambda image, label: image)


def _two_domain(cfg, kind, where, split, resolution, channels, batch_size, seed, repeat, skip=0):
    """Batches ``(a, b)`` of float32 [B, R, R, C] in [-1, 1] from two unpaired domains.

    Each domain is read, cached, shuffled (its own seed) and repeated on its own, then the two
    are zipped, so the pairs are random. ``augment`` (default: split == "train"): resize the
    short side to ``load_size`` (286 for 256), random crop to the resolution and, with
    ``random_flip``, random horizontal flips (stateless, keyed on (seed, image index)); else
    centre crop + resize and no flips (the test images a preview shows). ``shuffle_buffer`` <= 1
    turns shuffling off and keeps the sorted file order."""
    augment = bool(cfg.get("augment", split == "train"))
    flip = augment and bool(cfg.get("random_flip", False))
    buffer = int(cfg.get("shuffle_buffer", 10000))
    shape = [resolution, resolution, channels]
    parts = []
    for i, domain in enumerate(DOMAINS):
        domain_seed = 2 * int(seed) + i  # independent orders for A and B, for every run seed
        ds = _domain(cfg, kind, where, split, domain, resolution, channels, domain_seed,
                     augment, shuffle=buffer > 1)
        if cfg.get("cache", True):
            ds = ds.cache()
        if buffer > 1:
            ds = ds.shuffle(buffer, seed=domain_seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        if augment:
            def jitter(index, image, domain_seed=domain_seed):
                crop_key, flip_key = tf.unstack(tf.random.experimental.stateless_split(
                    tf.stack([tf.constant(domain_seed, tf.int64), index]), 2))
                image = tf.image.stateless_random_crop(image, shape, seed=crop_key)
                if flip:
                    image = tf.image.stateless_random_flip_left_right(image, seed=flip_key)
                return tf.ensure_shape(image, shape)
            ds = ds.enumerate().map(jitter, num_parallel_calls=tf.data.AUTOTUNE)
        parts.append(ds)

    def scale(a, b):
        return tf.cast(a, tf.float32) / 127.5 - 1.0, tf.cast(b, tf.float32) / 127.5 - 1.0

    ds = tf.data.Dataset.zip(tuple(parts)).batch(batch_size, drop_remainder=True).skip(skip)
    return ds.map(scale, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
