"""The evaluation protocol end to end on a toy dataset, a stand-in extractor and shipped models."""
import json
import os

import numpy as np
import pytest

from ganzoo import evaluate

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


class PoolExtractor:
    """Features = 7x7 average-pooled pixels; logits = the first 10 of them."""
    name, sha256, num_classes = "pool7", "0" * 64, 10

    def features(self, images):
        x = np.asarray(images, np.float32).mean(-1)
        n, h, w = x.shape
        return x.reshape(n, 7, h // 7, 7, w // 7).mean((2, 4)).reshape(n, 49) / 255.0

    def logits(self, images):
        return self.features(images)[:, :10] * 10.0


@pytest.fixture
def toy(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)

    def digits(n):  # bright strokes at random rows on black, 28x28
        x = np.zeros((n, 28, 28), np.uint8)
        rows = rng.integers(4, 24, size=n)
        for i, r in enumerate(rows):
            x[i, r - 2:r + 2, 6:22] = 255
        return x

    path = tmp_path / "toy.npz"
    np.savez(path, x_train=digits(300), y_train=np.zeros(300, np.uint8),
             x_test=digits(100), y_test=np.zeros(100, np.uint8))
    protocols = {"toy": dict(source=f"npz:{path}", resolution=28, channels=1, num=64,
                             extractor=PoolExtractor(), reference=dict(split="train"),
                             heldout=dict(split="test"), class_scores=True)}
    monkeypatch.setattr(evaluate, "protocols", lambda: protocols)
    return evaluate.Evaluator("toy", extractor=PoolExtractor())


def test_reference_against_itself_is_perfect(toy):
    ev = evaluate.Evaluator("toy", extractor=PoolExtractor(), num=300)  # reservoirs hold all
    block = ev.images(evaluate.real_batches("toy", "reference"))
    v = block["values"]
    assert block["num_samples"] == 300 and block["reference"]["images"] == 300
    assert v["fid"] == pytest.approx(0.0, abs=1e-6)
    assert v["precision"] == 1.0 and v["recall"] == 1.0


def test_ceiling_floor_and_models_have_every_metric(toy):
    import ganzoo
    ceiling, floor = toy.ceiling(), toy.floor()
    assert ceiling["num_samples"] == 64 and floor["num_samples"] == 64
    assert ceiling["values"]["fid"] < floor["values"]["fid"]  # held-out strokes vs a blur
    model = toy.model(ganzoo.load("cgan_mnist"))
    assert model["num_samples"] == 64
    assert {"fid", "kid", "kid_std", "precision", "recall", "is", "accuracy"} <= set(model["values"])
    assert all(np.isfinite(x) for x in model["values"].values())
    assert model["extractor"] == {"name": "pool7", "sha256": "0" * 64}
    json.dumps(model)  # a card block must serialise


def test_generated_batches_are_seeded_and_cycle_classes():
    import ganzoo
    model = ganzoo.load("cgan_mnist")
    a = np.concatenate(list(evaluate.generated_batches(model, 300, seed=3)))
    b = np.concatenate(list(evaluate.generated_batches(model, 300, seed=3)))
    assert a.shape == (300, 28, 28, 1) and np.array_equal(a, b)
    assert not np.array_equal(a[256:], a[:44])  # each batch has its own seed
    assert list(evaluate.generated_labels(model, 12)) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_gmm_sample_is_seeded_and_fits_the_data():
    rng = np.random.default_rng(0)
    x = np.zeros((400, 8, 8, 1), np.uint8)
    x[:200, :4] = 200                      # two modes: top half lit, bottom half lit
    x[200:, 4:] = 200
    x = np.clip(x + rng.integers(0, 20, x.shape), 0, 255).astype(np.uint8)
    a = evaluate.gmm_sample(x, 100, seed=1, components=2, pca_dims=8)
    b = evaluate.gmm_sample(x, 100, seed=1, components=2, pca_dims=8)
    assert a.dtype == np.uint8 and a.shape == (100, 8, 8, 1) and np.array_equal(a, b)
    top = a[:, :4].mean((1, 2, 3)) > a[:, 4:].mean((1, 2, 3))
    assert 0.3 < top.mean() < 0.7          # both modes drawn, interleaved
    assert not np.array_equal(a, evaluate.gmm_sample(x, 100, seed=2, components=2, pca_dims=8))


def test_beats_knows_each_metric_direction():
    floor = dict(fid=10.0, kid=0.1, precision=0.5, recall=0.5, accuracy=0.2)
    assert evaluate.beats(dict(fid=5.0, kid=0.05, precision=0.6, recall=0.7, accuracy=0.9), floor) == []
    assert sorted(evaluate.beats(dict(fid=11.0, kid=0.05, precision=0.4, recall=0.7), floor)) == [
        "fid", "precision"]


def test_markdown_table_lists_ceiling_models_and_floor():
    block = lambda **v: dict(values=v, extractor=dict(name="x"), num_samples=10)  # noqa: E731
    table = evaluate.markdown_table({"mnist": dict(
        ceiling=block(fid=1.0), floor=block(fid=9.0), models={"gan_mnist": block(fid=4.0)})})
    lines = table.splitlines()
    assert "real held-out" in lines[2] and "`gan_mnist`" in lines[3] and "GMM" in lines[4]
    assert "4.00" in lines[3]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isfile(os.path.join(DATA, "mnist.npz")),
                    reason="needs ../shared/data/mnist.npz (the real MNIST); absent here")
def test_cli_scores_a_shipped_model_on_real_mnist(tmp_path):
    from ganzoo.cli import eval as cli
    out = tmp_path / "m.json"
    from absl import flags
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["ganzoo-eval", "--num=512", "--metric=fid,kid,pr,accuracy", f"--json={out}"])
    cli.main(["ganzoo-eval", "cgan_mnist"])
    result = json.loads(out.read_text())
    assert result["num_samples"] == 512 and result["reference"]["images"] == 60000
    assert result["values"]["accuracy"] > 0.9
