"""The evaluation protocol: an exported generator's samples against real training images,
through one feature extractor, with a floor and a ceiling scored the same way.

Metrics: FID (float64 Fréchet distance of feature means/covariances, streamed), KID (unbiased,
cubic polynomial kernel, 100 subsets of up to 1,000), precision/recall (k=3 nearest-neighbour
manifolds), and, where the extractor classifies the dataset's classes (MNIST, CIFAR-10), the
Inception-Score formula on its class probabilities and, for conditional models, the accuracy of
the classifier on samples of each requested class.

Per dataset (``PROTOCOLS``): the reference is the training split; ``num`` generated images
(``sample(256, seed=i)`` for i = seed, seed+1, ...; conditional models cycle the classes) are
compared with it; the ceiling is ``num`` held-out real images; the floor is a Gaussian mixture
fitted to training pixels (``gmm_images``). Every row uses the same extractor, ``num`` and the
same reference, so rows are comparable with each other, not with published numbers.
"""
import datetime
import os

import numpy as np

from ganzoo import hub, metrics
from ganzoo.config import data_root
from ganzoo.lookup import lookup

ALL_METRICS = ("fid", "kid", "pr", "is", "accuracy")
HIGHER_IS_BETTER = {"fid": False, "kid": False, "precision": True, "recall": True, "is": True,
                    "accuracy": True}
BATCH = 256


def protocols():
    root = data_root()
    celeba = os.path.join(root, "celeba")
    return {
        "mnist": dict(source=f"npz:{root}/mnist.npz", resolution=28, channels=1, num=10000,
                      extractor="mnist", reference=dict(split="train"), heldout=dict(split="test"),
                      class_scores=True),
        "cifar10": dict(source=f"folder:{root}/cifar10/train", resolution=32, channels=3, num=10000,
                        extractor="cifar10", reference={},
                        heldout=dict(source=f"folder:{root}/cifar10/test"), class_scores=True),
        # the faces' identity file splits them: train for reference, validation + test held out
        "celeba": dict(source=f"folder:{celeba}/img_align_celeba", resolution=64, channels=3,
                       num=1200, extractor="celeba", identity=f"{celeba}/identity.txt",
                       reference=dict(celeba_splits=("train",)),
                       heldout=dict(celeba_splits=("validation", "test"))),
        # CycleGAN: photos of testA translated to anime, against anime trainB
        "face2genshin": dict(source=f"cyclegan:{root}/face2genshin", resolution=64, channels=3,
                             num=100, extractor="celeba", reference=dict(domain="B"),
                             heldout=dict(split="test", domain="B"),
                             inputs=dict(split="test", domain="A")),
    }


def protocol(dataset):
    return lookup(protocols(), dataset, "evaluation protocol")


def real_batches(dataset, part="reference", resolution=None, limit=None):
    """uint8 batches of the protocol's real images (``part``: reference, heldout or inputs)."""
    import tensorflow as tf

    from ganzoo import data
    p = protocol(dataset)
    spec = dict(p[part])
    source = spec.pop("source", p["source"])
    names = None
    if "celeba_splits" in spec:
        names = _celeba_names(p["identity"], spec.pop("celeba_splits"))
    ds = data.real_images(source, resolution or p["resolution"], p["channels"], names=names, **spec)
    if limit:
        ds = ds.take(limit)
    for batch in ds.batch(BATCH).prefetch(tf.data.AUTOTUNE):
        yield batch.numpy()


def _celeba_names(identity_file, splits):
    with open(identity_file) as f:
        rows = [line.split() for line in f if line.strip()]
    return {r[0] for r in rows if r[2] in splits}


def generated_batches(model, num, seed=0, dataset=None):
    """uint8 batches from the exported model: ``sample`` for noise models (classes cycled for
    conditional ones), ``translate`` of the protocol's inputs for translation models."""
    if model.kind == "translation":
        left = num
        for batch in real_batches(dataset, "inputs", resolution=model.resolution, limit=num):
            yield model.translate(batch[:left])
            left -= len(batch)
        return
    labels, done, i = generated_labels(model, num), 0, 0
    while done < num:
        n = min(BATCH, num - done)
        yield model.sample(n, seed=seed + i, labels=None if labels is None else labels[done:done + n])
        done, i = done + n, i + 1


def generated_labels(model, num):
    return np.arange(num) % model.num_classes if model.num_classes else None


def gmm_images(dataset, num, seed=0, fit_images=10000, **kwargs):
    """The floor: ``gmm_sample`` fitted to up to ``fit_images`` training images."""
    x = np.concatenate(list(real_batches(dataset, "reference", limit=fit_images)))
    return gmm_sample(x, num, seed, **kwargs)


def gmm_sample(images, num, seed=0, components=10, pca_dims=100):
    """``num`` uint8 images from a Gaussian mixture (``components``, full covariance) fitted by
    scikit-learn to the first ``pca_dims`` principal components of ``images``' pixels, mapped
    back to pixels (a full-covariance GMM on 3,072-12,288 raw pixels does not fit here)."""
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture
    shape = images.shape[1:]
    x = images.reshape(len(images), -1).astype(np.float64) / 127.5 - 1.0
    pca = PCA(n_components=min(pca_dims, len(x) - 1), random_state=seed).fit(x)
    gmm = GaussianMixture(components, covariance_type="full", reg_covar=1e-4,
                          random_state=seed).fit(pca.transform(x))
    z, _ = gmm.sample(num)
    z = z[np.random.default_rng(seed).permutation(num)]  # sample() returns them by component
    pixels = pca.inverse_transform(z)
    out = np.clip(np.round((pixels + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return out.reshape((num,) + shape)


def _chunks(images):
    for i in range(0, len(images), BATCH):
        yield images[i:i + BATCH]


class Features:
    """Streaming statistics of one image set: FeatureStats (mean/cov for FID, a reservoir of
    ``keep`` rows for KID and precision/recall) and the extractor's class probabilities."""

    def __init__(self, extractor, batches, keep, seed=0, classes=False):
        self.stats = metrics.FeatureStats(keep=keep, seed=seed)
        probs = []
        for batch in batches:
            self.stats.update(extractor.features(batch))
            if classes:
                probs.append(metrics.softmax(extractor.logits(batch)))
        self.probs = np.concatenate(probs) if probs else None


def score(fake, real, wanted, labels=None, kid_subsets=100, kid_subset_size=1000, k=3):
    """Metric values of ``fake`` against ``real`` (two Features) for the names in ``wanted``."""
    out = {}
    if "fid" in wanted:
        out["fid"] = float(metrics.fid(fake.stats, real.stats))
    if "kid" in wanted:
        mean, std = metrics.kid(fake.stats.features, real.stats.features, num_subsets=kid_subsets,
                                subset_size=kid_subset_size)
        out["kid"], out["kid_std"] = float(mean), float(std)
    if "pr" in wanted:
        pr = metrics.precision_recall(real.stats.features, fake.stats.features, k=k)
        out["precision"], out["recall"] = float(pr["precision"]), float(pr["recall"])
    if "is" in wanted and fake.probs is not None:
        mean, std = metrics.inception_score(fake.probs)
        out["is"], out["is_std"] = float(mean), float(std)
    if "accuracy" in wanted and labels is not None and fake.probs is not None:
        out["accuracy"] = float(metrics.classifier_accuracy(fake.probs, labels))
    return out


class Evaluator:
    """Scores image sets of one dataset against its reference; the reference features are
    computed once and reused for every row."""

    def __init__(self, dataset, extractor=None, num=None, seed=0, metrics_wanted=ALL_METRICS):
        self.dataset, self.protocol = dataset, protocol(dataset)
        extractor = extractor or self.protocol["extractor"]
        if isinstance(extractor, str):
            from ganzoo import extractors
            extractor = extractors.get_extractor(extractor)
        self.extractor = extractor
        self.num = int(num or self.protocol["num"])
        self.seed = seed
        # IS and class accuracy only where the extractor classifies the dataset's own classes
        # (not the face net's identities)
        self.classes = bool(self.protocol.get("class_scores")) and bool(
            getattr(self.extractor, "num_classes", 0))
        self.wanted = set(metrics_wanted)
        self._real = None

    @property
    def real(self):
        if self._real is None:
            self._real = Features(self.extractor, real_batches(self.dataset, "reference"),
                                  keep=self.num, seed=self.seed, classes=False)
        return self._real

    def images(self, batches, labels=None):
        fake = Features(self.extractor, batches, keep=self.num, seed=self.seed + 1,
                        classes=self.classes)
        return self.block(score(fake, self.real, self.wanted, labels), fake.stats.count)

    def model(self, model):
        batches = generated_batches(model, self.num, self.seed, self.dataset)
        return self.images(batches, generated_labels(model, self.num))

    def floor(self):
        return self.images(_chunks(gmm_images(self.dataset, self.num, self.seed)))

    def ceiling(self):
        return self.images(real_batches(self.dataset, "heldout", limit=self.num))

    def block(self, values, count):
        return dict(
            values=values, num_samples=int(count), seeds=f"sample({BATCH}, seed=i), i from {self.seed}",
            extractor=dict(name=self.extractor.name, sha256=self.extractor.sha256),
            reference=dict(dataset=self.dataset, images=int(self.real.stats.count),
                           source=self.protocol["reference"].get("source", self.protocol["source"]),
                           **{k: (list(v) if isinstance(v, tuple) else v)
                              for k, v in self.protocol["reference"].items() if k != "source"}),
            date=datetime.date.today().isoformat())


def beats(values, floor):
    """Names of metrics where ``values`` is not better than ``floor``."""
    worse = []
    for name, higher in HIGHER_IS_BETTER.items():
        if name in values and name in floor:
            if (values[name] <= floor[name]) if higher else (values[name] >= floor[name]):
                worse.append(name)
    return worse


def evaluate_all(names=None, metrics_wanted=ALL_METRICS, update_cards=False, baselines=None,
                 log=print):
    """Every (or the named) pretrained model with its dataset's floor and ceiling: returns
    ``{dataset: {"floor": block, "ceiling": block, "models": {name: block}}}``; with
    ``update_cards`` writes each card's ``metrics`` block, and the floors and ceilings to
    ``baselines`` (a JSON path)."""
    import json

    import ganzoo
    from ganzoo import registry
    names = names or ganzoo.list_models()
    by_dataset = {}
    for name in names:
        by_dataset.setdefault(registry.get(name)["dataset"], []).append(name)
    results = {}
    for dataset, group in by_dataset.items():
        ev = Evaluator(dataset, metrics_wanted=metrics_wanted)
        row = results[dataset] = dict(models={})
        row["ceiling"] = ev.ceiling()
        log(f"{dataset} real held-out: {row['ceiling']['values']}")
        row["floor"] = ev.floor()
        log(f"{dataset} GMM floor: {row['floor']['values']}")
        for name in group:
            model = ganzoo.load(name)
            block = ev.model(model)
            block["floor"] = row["floor"]["values"]
            block["ceiling"] = row["ceiling"]["values"]
            block["worse_than_floor"] = beats(block["values"], block["floor"])
            row["models"][name] = block
            log(f"{name}: {block['values']}" + (f"  NOT above the floor on {block['worse_than_floor']}"
                                                if block["worse_than_floor"] else ""))
            if update_cards:
                _write_card(model.path, block)
    if update_cards and baselines:
        old = {}
        if os.path.exists(baselines):
            with open(baselines) as f:
                old = json.load(f)
        old.update({d: dict(floor=r["floor"], ceiling=r["ceiling"]) for d, r in results.items()})
        hub.write_json(baselines, old)
    return results


def _write_card(path, block):
    import json
    card_path = os.path.join(path, "model_card.json")
    with open(card_path) as f:
        card = json.load(f)
    card["metrics"] = block
    hub.write_json(card_path, card)


METRIC_COLUMNS = (("fid", "FID ↓", "{:.2f}"), ("kid", "KID ↓", "{:.4f}"), ("precision", "precision ↑", "{:.3f}"),
            ("recall", "recall ↑", "{:.3f}"), ("is", "IS ↑", "{:.2f}"), ("accuracy", "class acc. ↑", "{:.1%}"))


def markdown_table(results):
    """The README's quality table: per dataset the ceiling, each model and the floor."""
    lines = ["| dataset (extractor, samples) | images | " + " | ".join(c[1] for c in METRIC_COLUMNS) + " |",
             "|---|---|" + "---|" * len(METRIC_COLUMNS)]

    def row(label, block):
        v = block["values"]
        cells = [c[2].format(v[c[0]]) if c[0] in v else "" for c in METRIC_COLUMNS]
        return f"| {label} | " + " | ".join(cells) + " |"

    for dataset, r in results.items():
        head = f"{dataset} ({r['ceiling']['extractor']['name']}, {r['ceiling']['num_samples']:,})"
        lines.append(row(f"{head} | real held-out (ceiling)", r["ceiling"]))
        for name, block in r["models"].items():
            lines.append(row(f"| `{name}`", block))
        lines.append(row("| GMM on pixels (floor)", r["floor"]))
    return "\n".join(lines)


def results_from_cards(baselines):
    """``evaluate_all``'s shape rebuilt from ``baselines`` (JSON) and the shipped cards'
    metrics blocks, for the README table without re-running anything."""
    import json

    import ganzoo
    from ganzoo import hub, registry
    with open(baselines) as f:
        results = {d: dict(r, models={}) for d, r in json.load(f).items()}
    for name in ganzoo.list_models():
        entry = registry.get(name)
        card = os.path.join(hub.REPO_MODELS, name, str(entry["version"]), "model_card.json")
        if entry["dataset"] in results and os.path.exists(card):
            with open(card) as f:
                block = json.load(f).get("metrics")
            if block:
                results[entry["dataset"]]["models"][name] = block
    return results
