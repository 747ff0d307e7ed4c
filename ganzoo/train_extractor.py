"""Train a domain feature extractor on the shared data and export it as a SavedModel.

    python -m ganzoo.train_extractor mnist|cifar10|celeba [--out=saved_models/extractors/NAME]
        [--epochs=N] [--precision=float32|mixed_bfloat16] [--data=../shared/data]

The net sees real images exactly as the GANs do (``ganzoo.data``: the same npz reader,
centre crop and antialiased resize, uint8, then x/127.5 - 1). The SavedModel has two
signatures, ``features(images uint8 [None, H, W, C]) -> {"features": float32 [None, D]}``
(the penultimate layer: global average pool -> dense -> BN -> ReLU) and
``logits(images) -> {"logits": float32 [None, K]}``; the [-1, 1] scaling is inside the graph.
It is always exported in float32 (a bfloat16-trained net is copied into a float32 one).
``model_card.json`` beside it records data, licence, training and the test accuracy measured
through the exported ``logits`` signature; the registry line for ``ganzoo/extractors.py`` is
printed at the end.
"""
import argparse
import os
import platform
import time

import keras
import numpy as np
import tensorflow as tf

from ganzoo import data, export, hub, registry
from ganzoo.config import data_root

NOT_INCEPTION = ("not Inception: numbers are not comparable to published FIDs (a small net "
                 "trained here on this dataset; compare runs only with the same extractor and "
                 "sha256)")

SPECS = {
    "mnist": dict(name="mnist_classifier", resolution=28, channels=1, num_classes=10,
                  widths=(32, 64), convs=2, feature_dim=128, epochs=3, batch_size=128,
                  learning_rate=2e-3, weight_decay=1e-4, dropout=0.3, flip=False, pad=0,
                  what="small CNN digit classifier trained on MNIST train (28x28 grey)"),
    "cifar10": dict(name="cifar10_classifier", resolution=32, channels=3, num_classes=10,
                    widths=(32, 64, 128), convs=2, feature_dim=256, epochs=6, batch_size=128,
                    learning_rate=3e-3, weight_decay=5e-4, dropout=0.3, flip=True, pad=4,
                    what="small VGG-style CNN classifier trained on CIFAR-10 train (32x32 RGB, "
                         "JPEG copy)"),
    "celeba": dict(name="celeba_faces", resolution=64, channels=3, num_classes=200,
                   widths=(24, 48, 96, 192), convs=1, feature_dim=256, epochs=25,
                   batch_size=64, learning_rate=3e-3, weight_decay=5e-4, dropout=0.4,
                   flip=True, pad=4,
                   what="CNN face-identity classifier (200 CelebA identities, train split, "
                        "64x64 centre crop)"),
}


def scale(images):
    """uint8 -> float32 in [-1, 1], as ``ganzoo.data.make`` does."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


# --- data: uint8 arrays, preprocessed like the GAN's training data -----------------------------

def _collect(ds):
    xs, ys = zip(*ds.batch(1000).as_numpy_iterator())
    return np.concatenate(xs), np.concatenate(ys).astype(np.int32)


def load(dataset, root):
    """(x_train, y_train, x_test, y_test, class names), x uint8 [N, R, R, C]."""
    spec = SPECS[dataset]
    r, c = spec["resolution"], spec["channels"]
    if dataset == "mnist":
        path = os.path.join(root, "mnist.npz")
        train = _collect(data._npz(path, "train", r, c, labels=True))
        test = _collect(data._npz(path, "test", r, c, labels=True))
        return (*train, *test, [str(i) for i in range(10)])
    if dataset == "cifar10":
        def folder(split):
            return data._folder(os.path.join(root, "cifar10", split), r, c, 0, 0.01,
                                shuffle_files=False)
        names = sorted(n for n in os.listdir(os.path.join(root, "cifar10", "train"))
                       if not n.startswith("."))
        return (*_collect(folder("train")), *_collect(folder("test")), names)
    # celeba: identity.txt lines "file identity split"; labels = sorted identities -> 0..199
    base = os.path.join(root, "celeba")
    with open(os.path.join(base, "identity.txt")) as f:
        rows = [line.split() for line in f if line.strip()]
    ids = sorted({int(i) for _, i, _ in rows})
    index = {i: k for k, i in enumerate(ids)}

    def split(name):
        picked = [(os.path.join(base, "img_align_celeba", f), index[int(i)])
                  for f, i, s in rows if s == name]
        paths, labels = zip(*picked)
        ds = tf.data.Dataset.from_tensor_slices((list(paths), np.array(labels, np.int32)))

        def read(path, label):  # the folder: reader's decode, centre crop and resize
            image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
            image.set_shape([None, None, 3])
            return data.crop_resize(image, r, c), label
        return _collect(ds.map(read, num_parallel_calls=tf.data.AUTOTUNE))
    return (*split("train"), *split("test"), [str(i) for i in ids])


def pipeline(x, y, spec, seed, epochs):
    """Shuffled, augmented (stateless flips / pad-and-crop, keyed on (seed, index)) batches of
    float32 [-1, 1] images from in-memory uint8 arrays."""
    shape = [spec["resolution"], spec["resolution"], spec["channels"]]
    pad = spec["pad"]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed).repeat(epochs)

    def augment(index, example):
        image, label = example
        flip_key, crop_key = tf.unstack(tf.random.experimental.stateless_split(
            tf.stack([tf.constant(seed, tf.int64), index]), 2))
        if spec["flip"]:
            image = tf.image.stateless_random_flip_left_right(image, seed=flip_key)
        if pad:
            image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
            image = tf.image.stateless_random_crop(image, shape, seed=crop_key)
        return image, label

    ds = ds.enumerate().map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(spec["batch_size"], drop_remainder=True)

    def finish(images, labels):
        return scale(images), labels
    return ds.map(finish).prefetch(tf.data.AUTOTUNE)


# --- the net -----------------------------------------------------------------------------------

def build(spec, dtype="float32"):
    """float [-1, 1] images -> [features, logits]: VGG-style stages of ``convs`` x (conv3x3,
    BN, ReLU) + max-pool, global average pool, dense -> BN -> ReLU (the features), dropout,
    dense (the logits, float32)."""
    inputs = keras.Input([spec["resolution"], spec["resolution"], spec["channels"]])
    x = inputs
    l2 = keras.regularizers.L2(spec["weight_decay"])
    for i, width in enumerate(spec["widths"]):
        for _ in range(spec["convs"]):
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                    kernel_regularizer=l2, dtype=dtype)(x)
            x = keras.layers.BatchNormalization(dtype=dtype)(x)
            x = keras.layers.ReLU(dtype=dtype)(x)
        x = keras.layers.MaxPooling2D(dtype=dtype)(x)
    x = keras.layers.GlobalAveragePooling2D(dtype=dtype)(x)
    x = keras.layers.Dense(spec["feature_dim"], use_bias=False, kernel_regularizer=l2,
                           dtype=dtype)(x)
    x = keras.layers.BatchNormalization(dtype=dtype)(x)
    features = keras.layers.ReLU(dtype=dtype, name="features")(x)
    x = keras.layers.Dropout(spec["dropout"], dtype=dtype)(features)
    logits = keras.layers.Dense(spec["num_classes"], kernel_regularizer=l2, dtype="float32",
                                name="logits")(x)
    return keras.Model(inputs, [features, logits])


def describe(spec):
    stages = " -> ".join(f"{spec['convs']}x conv3x3({w})+BN+ReLU, maxpool" for w in spec["widths"])
    return (f"{stages} -> global avg pool -> dense({spec['feature_dim']})+BN+ReLU [features] -> "
            f"dropout({spec['dropout']}) -> dense({spec['num_classes']}) [logits]")


class ExtractorModule(tf.Module):
    def __init__(self, net, spec, info):
        super().__init__()
        self.net = net
        self.info = export.info_variable(info)
        images = tf.TensorSpec([None, spec["resolution"], spec["resolution"], spec["channels"]],
                               tf.uint8, name="images")
        self.features = tf.function(self._features, input_signature=[images])
        self.logits = tf.function(self._logits, input_signature=[images])

    def _features(self, images):
        return {"features": tf.cast(self.net(scale(images), training=False)[0], tf.float32)}

    def _logits(self, images):
        return {"logits": tf.cast(self.net(scale(images), training=False)[1], tf.float32)}


def accuracy(module, x, y, batch_size=500):
    logits = module.signatures["logits"]
    right = sum(int(np.sum(np.argmax(logits(images=tf.constant(x[i:i + batch_size]))["logits"],
                                     -1) == y[i:i + batch_size]))
                for i in range(0, len(x), batch_size))
    return right / len(x)


def tree_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def train(dataset, out, root, epochs=None, precision="float32", seed=0):
    spec = dict(SPECS[dataset])
    if epochs:
        spec["epochs"] = int(epochs)
    keras.utils.set_random_seed(seed)
    t0 = time.time()
    x_train, y_train, x_test, y_test, classes = load(dataset, root)
    load_s = time.time() - t0
    print(f"{dataset}: {len(x_train)} train / {len(x_test)} test images {x_train.shape[1:]}, "
          f"loaded in {load_s:.0f}s", flush=True)

    net = build(spec, precision)
    steps_per_epoch = len(x_train) // spec["batch_size"]
    total = steps_per_epoch * spec["epochs"]
    lr = keras.optimizers.schedules.CosineDecay(
        0.0, total - total // 20, warmup_target=spec["learning_rate"], warmup_steps=total // 20)
    trainer = keras.Model(net.input, net.outputs[1])
    trainer.compile(optimizer=keras.optimizers.Adam(lr),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=["accuracy"])
    t1 = time.time()
    trainer.fit(pipeline(x_train, y_train, spec, seed, spec["epochs"]),
                epochs=spec["epochs"], steps_per_epoch=steps_per_epoch, verbose=2)
    train_s = time.time() - t1

    if precision != "float32":  # export a float32 copy: reproducible, portable features
        trained, net = net, build(spec, "float32")
        net.set_weights(trained.get_weights())
    info = dict(name=spec["name"], dataset=dataset, resolution=spec["resolution"],
                channels=spec["channels"], feature_dim=spec["feature_dim"],
                num_classes=spec["num_classes"], classes=classes)
    module = ExtractorModule(net, spec, info)
    export.save_atomic(module, out, {"features": module.features, "logits": module.logits})

    loaded = tf.saved_model.load(out)
    test_accuracy = accuracy(loaded, x_test, y_test)
    sha = hub.tree_sha256(out)
    size = tree_size(out)
    test_split = {"mnist": "mnist.npz x_test (10,000)",
                  "cifar10": "cifar10/test (10,000)",
                  "celeba": "celeba identity.txt split 'test' (600)"}[dataset]
    r, c, d = spec["resolution"], spec["channels"], spec["feature_dim"]
    card = dict(
        name=spec["name"], kind="feature_extractor", sha256=sha, size_bytes=size,
        note=NOT_INCEPTION,
        dataset=dict(name=dataset, licence=registry.LICENCES[dataset],
                     restriction="The model carries the dataset's licence restrictions.",
                     root=root, train_images=len(x_train), test_split=test_split),
        input=dict(dtype="uint8", resolution=spec["resolution"], channels=spec["channels"],
                   preprocessing="images as ganzoo.data gives them (centre crop to square, "
                                 "antialiased resize, uint8); in the graph x/127.5 - 1"),
        signatures={"features": f"images uint8 [None,{r},{r},{c}] -> features float32 [None,{d}]",
                    "logits": f"images -> logits float32 [None,{spec['num_classes']}]"},
        feature_layer="penultimate: global avg pool -> dense -> BN -> ReLU (layer 'features')",
        feature_dim=spec["feature_dim"], num_classes=spec["num_classes"], classes=classes,
        architecture=describe(spec), parameters=int(net.count_params()),
        test_accuracy=round(test_accuracy, 4),
        training=dict(
            command=f"python -m ganzoo.train_extractor {dataset} --out={out}"
                    + (f" --epochs={epochs}" if epochs else "") + f" --precision={precision}",
            epochs=spec["epochs"], batch_size=spec["batch_size"], steps=total,
            optimizer=f"Adam, cosine decay from {spec['learning_rate']} with 5% warm-up, "
                      f"L2 {spec['weight_decay']}",
            augmentation=", ".join(filter(None, [
                "random horizontal flips" if spec["flip"] else "",
                f"reflect-pad {spec['pad']} + random crop" if spec["pad"] else ""])) or "none",
            precision=precision, seed=seed, load_time_s=round(load_s, 1),
            wall_time_s=round(train_s, 1),
            hardware=dict(device="cpu", cpus=os.cpu_count(), machine=platform.machine()),
            tensorflow=tf.__version__, keras=keras.__version__))
    hub.write_json(os.path.join(out, "model_card.json"), card)
    print(f"{spec['name']}: test accuracy {test_accuracy:.4f}, train {train_s:.0f}s, "
          f"{size / 1e6:.2f} MB, sha256 {sha}")
    print("registry line:")
    print(f'    "{spec["name"]}": _entry("{spec["name"]}", "{dataset}", "{sha}", '
          f'{spec["resolution"]}, {spec["channels"]}, {spec["feature_dim"]}, '
          f'{spec["num_classes"]},\n        "{spec["what"]}"),')
    return card


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ganzoo.train_extractor",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=sorted(SPECS))
    parser.add_argument("--out", default=None,
                        help="SavedModel folder (default saved_models/extractors/NAME)")
    parser.add_argument("--data", default=data_root(), help="the shared data folder")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = args.out or os.path.join("saved_models", "extractors", SPECS[args.dataset]["name"])
    train(args.dataset, out, args.data, args.epochs, args.precision, args.seed)


if __name__ == "__main__":
    main()
