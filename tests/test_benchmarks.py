"""The benchmark helpers (benchmarks/): FLOP counts against hand counts, the statistics and
interleaving helpers, README rendering from a results dict, and the PyTorch mirror's parameter
counts. Nothing here is timed."""
import sys

import keras
import pytest
from keras import layers

from helpers import ROOT, load_config

sys.path.insert(0, ROOT)

from benchmarks import common, flops, report  # noqa: E402
from ganzoo.models.dcgan import conv_discriminator, conv_generator  # noqa: E402


# ---- FLOP counter ---------------------------------------------------------------------------

def tiny_net():
    x = keras.Input((5, 5, 1))
    h = layers.Conv2D(2, 3, name="conv")(x)                             # 5x5x1 -> 3x3x2
    h = layers.Conv2DTranspose(3, 2, strides=2, name="deconv")(h)       # -> 6x6x3
    h = layers.ReLU()(h)
    h = layers.Dense(4, name="dense_seq")(layers.Reshape((36, 3))(h))  # per row of 36
    out = layers.Dense(1, name="dense")(layers.Flatten()(h))           # 144 -> 1
    return keras.Model(x, out)


# By hand: Conv2D 3*3 outputs x 3*3*1*2 = 162 MACs; Conv2DTranspose 3*3 inputs x 2*2*2*3 =
# 216 MACs; Dense on [36, 3] -> [36, 4]: 36*3*4 = 432 MACs; Dense 144 -> 1: 144 MACs.
TINY = {"conv": 324, "deconv": 432, "dense_seq": 864, "dense": 288}


def test_layer_flops_match_hand_counts():
    rows = flops.model_layers(tiny_net())
    assert [(name, f) for name, _, f in rows] == list(TINY.items())
    assert [kind for _, kind, _ in rows] == ["Conv2D", "Conv2DTranspose", "Dense", "Dense"]
    assert flops.forward_flops(tiny_net()) == sum(TINY.values())


def test_backward_flops_weight_and_input_gradients():
    net, total = tiny_net(), sum(TINY.values())
    first = TINY["conv"]
    assert flops.backward_flops(net, trained=True, input_grad=False) == 2 * total - first
    assert flops.backward_flops(net, trained=True, input_grad=True) == 2 * total
    assert flops.backward_flops(net, trained=False, input_grad=True) == total
    assert flops.backward_flops(net, trained=False, input_grad=False) == total - first


def test_dcgan_forward_flops_by_hand():
    g = conv_generator(100, 28, 1, 64)
    d = conv_discriminator(28, 1, 64)
    # G: dense 100 -> 7*7*128; deconv 7x7x128 -> 14x14x64; deconv 14x14x64 -> 28x28x1 (k 4)
    g_layers = [2 * 100 * 6272, 2 * 7 * 7 * 16 * 128 * 64, 2 * 14 * 14 * 16 * 64 * 1]
    # D: conv 28x28x1 -> 14x14x64; conv -> 7x7x128; dense 6272 -> 1
    d_layers = [2 * 14 * 14 * 16 * 1 * 64, 2 * 7 * 7 * 16 * 64 * 128, 2 * 6272]
    assert [f for _, _, f in flops.model_layers(g)] == g_layers
    assert [f for _, _, f in flops.model_layers(d)] == d_layers
    step = flops.gan_step_flops(g, d, batch=8, n_critic=2)
    G, D = sum(g_layers), sum(d_layers)
    d_phase = 8 * (G + 2 * D + 2 * (2 * D - d_layers[0]))
    g_phase = 8 * (G + D + D + (2 * G - g_layers[0]))
    assert (step["d_phase"], step["g_phase"]) == (d_phase, g_phase)
    assert step["total"] == 2 * d_phase + g_phase


def test_matmul_flops():
    assert flops.matmul_flops(4096) == 2 * 4096 ** 3


def test_keras_param_counts():
    net = keras.Sequential([keras.Input((3,)), layers.Dense(4), layers.BatchNormalization()])
    assert flops.keras_param_counts(net) == (3 * 4 + 4 + 2 * 4, 2 * 4)


# ---- statistics and interleaving ------------------------------------------------------------

def test_median_ratio_and_paired_ratios():
    assert common.median([3.0, 1.0, 2.0]) == 2.0
    assert common.median([4.0, 1.0, 2.0, 3.0]) == 2.5
    with pytest.raises(ValueError):
        common.median([])
    assert common.ratio([2.0, 2.2, 1.8], [1.0, 1.1, 0.9]) == pytest.approx(2.0)
    assert common.ratio(3.0, 1.5) == 2.0
    paired = common.paired_ratios([2.0, 3.0, 4.0], [1.0, 1.0, 1.0])
    assert paired == dict(min=2.0, median=3.0, max=4.0)
    with pytest.raises(ValueError):
        common.paired_ratios([1.0], [1.0, 2.0])


def test_summary_and_steps_for():
    s = common.summary([2.0, 1.0, 3.0], units_per_block=10)
    assert s["median_block_s"] == 2.0 and s["images_per_s"] == 5.0 and s["spread"] == 1.0
    assert common.steps_for(0.1, 1.0) == 10
    assert common.steps_for(5.0, 1.0) == 1       # at least one step
    assert common.steps_for(1e-6, 1.0, hi=50) == 50
    assert common.steps_for(0.0, 1.0, hi=7) == 7


def test_interleave_rotates_and_uses_measured_time():
    order = []

    def block(name, seconds):
        def run():
            order.append(name)
            return common.Measured(seconds)
        return run

    times = common.interleave({"a": block("a", 1.0), "b": block("b", 2.0),
                               "c": block("c", 3.0)}, repeats=3)
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert times == {"a": [1.0] * 3, "b": [2.0] * 3, "c": [3.0] * 3}


def test_plain_makes_json_safe_values():
    import numpy as np
    out = common.plain({"a": np.float32(1.23456789), 1: (np.int64(3), [0.1234567891])})
    assert out == {"a": 1.23457, "1": [3, [0.123457]]}
    assert type(out["1"][0]) is int


def test_busy():
    assert common.busy(3.0, cpus=2) and not common.busy(0.5, cpus=2)
    assert not common.busy(None, cpus=2)


# ---- README ------------------------------------------------------------------------------------

def results_dict():
    def row(what, s, **kw):
        return dict(what=what, s_per_step=s, images_per_s=128 / s, **kw)
    return {
        "command": "python benchmarks/run.py", "date": "2026-01-01 00:00 UTC",
        "machine": {"cpu": "Test CPU", "cpus": 2, "flags": ["avx512_bf16"], "tensorflow": "2.21.0"},
        "parts": {
            "reference": dict(what="DCGAN", speedup=1.25, goal=1.3, met=False,
                              paired=dict(min=1.2, median=1.25, max=1.3),
                              rows={"ganzoo": row("ganzoo default", 0.08, vs_reference=1.25),
                                    "keras_reference": row("reference", 0.1, vs_reference=1.0)},
                              date="2026-01-01 00:00 UTC", seconds=20.0),
            "torch": dict(skipped="torch is not installed"),
            "pipeline": dict(what="folder", overhead=0.02, goal=0.05, met=True,
                             rows={"memory": row("memory", 0.1, overhead=0.0),
                                   "folder": row("folder", 0.102, overhead=0.0196)}),
            "policies": dict(
                auto=dict(precision="mixed_bfloat16", xla=False), auto_agrees=False,
                variants=[dict(variant="gan", what="MLP", auto=dict(precision="mixed_bfloat16",
                                                                    xla=False),
                               fastest=dict(precision="float32", xla=False),
                               auto_is_fastest=False, auto_vs_fastest=0.9,
                               rows=[dict(precision="float32", xla=False, images_per_s=1000.0,
                                          vs_float32=1.0, first_step_s=1.0, spread=0.05),
                                     dict(precision="mixed_float16", xla=True,
                                          error="XLA says no")])]),
            "flops": dict(error="RuntimeError: boom"),
        },
    }


def test_render_readme_from_results():
    text = report.render(results_dict(), notes="Hand-written note.")
    assert text.startswith("# Speed benchmarks\n")
    assert "`python benchmarks/run.py`, 2026-01-01 00:00 UTC" in text
    assert "Test CPU, 2 CPUs (avx512_bf16)" in text
    goals = text.split("## Goals")[1].split("\n## ")[0]
    assert ("| DCGAN default path vs keras.io-style Keras reference | ≥ 1.30× | 1.25× | "
            "**missed** |") in goals
    assert "| Input pipeline overhead (folder vs memory) | ≤ 5% | 2.0% | **met** |" in goals
    assert "| DCGAN default path vs PyTorch bf16 | ≥ 1.20× | - | not measured |" in goals
    assert "| `auto` picks the fastest measured policy | every variant | no | **missed** |" in goals
    assert "Skipped: torch is not installed" in text
    assert "Failed: `RuntimeError: boom`" in text
    assert "| gan | MLP | float32, XLA off | mixed_bfloat16, XLA off | 0.90× | **no** |" in text
    assert "| gan | mixed_float16 | on | - | - | - | - | cannot run: XLA says no |" in text
    assert "| ganzoo default | - | 1,600 | 80.0 | 1.25× |" in text
    assert "Quick run" not in text and "busy" not in text
    assert text.rstrip().endswith("Hand-written note.")
    for title in report.TITLES.values():
        assert f"## {title}" in text


def test_render_flags_quick_and_busy_runs_and_missing_parts():
    results = results_dict()
    results["parts"]["pipeline"].update(quick=True, busy=True, load_before=3.0, load_after=4.0)
    del results["parts"]["reference"]
    text = report.render(results)
    assert "**Quick run (`--quick`)**" in text
    assert "**The machine was busy**" in text and "pipeline 3.0→4.0" in text
    assert "| 2.0% | **met** (quick run, busy machine) |" in text
    assert text.count("Not run yet") == 2 and "## Notes" not in text  # reference, sampling


def test_number_formats():
    assert report.num(None) == "-" and report.num(1234.5) == "1,234" and report.num(0.123) == "0.12"
    assert report.pct(0.0534) == "5.3%" and report.times(1.234) == "1.23×"
    assert report.verdict(True) == "**met**" and report.verdict(None) == "not measured"


# ---- the PyTorch mirror --------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_torch_mirror_has_the_same_parameters(dataset):
    torch = pytest.importorskip("torch")
    from benchmarks import torch_dcgan
    m = load_config("dcgan", dataset).model
    g, d = (conv_generator(m.latent_dim, m.resolution, m.channels, m.width),
            conv_discriminator(m.resolution, m.channels, m.width))
    tg = torch_dcgan.Generator(m.latent_dim, m.resolution, m.channels, m.width)
    td = torch_dcgan.Discriminator(m.resolution, m.channels, m.width)
    assert torch_dcgan.param_counts(tg) == flops.keras_param_counts(g)
    assert torch_dcgan.param_counts(td) == flops.keras_param_counts(d)
    # the same shapes through both: [N, C, H, W] in PyTorch
    out = tg(torch.zeros(2, m.latent_dim))
    assert tuple(out.shape) == (2, m.channels, m.resolution, m.resolution)
    assert tuple(td(out).shape) == (2, 1)
    kinds = [type(x).__name__ for x in tg.modules()]
    assert kinds.count("ConvTranspose2d") == len([x for x in g.layers
                                                  if type(x).__name__ == "Conv2DTranspose"])


def test_torch_mirror_step_trains_both_nets():
    torch = pytest.importorskip("torch")
    import numpy as np
    from benchmarks import torch_dcgan
    net = torch_dcgan.TorchDCGAN(latent_dim=4, resolution=8, channels=1, width=4,
                                 precision="bfloat16", channels_last=True)
    before = [p.detach().clone() for p in list(net.generator.parameters())
              + list(net.discriminator.parameters())]
    d_loss, g_loss = net.step(net.images(np.zeros((2, 8, 8, 1), np.float32)))
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    after = list(net.generator.parameters()) + list(net.discriminator.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, after) if a.dim() > 1)
    assert all(p.requires_grad for p in net.discriminator.parameters())


# ---- the keras.io-style reference ----------------------------------------------------------------

@pytest.mark.parametrize("training, updates", [(True, True), (None, False)])
def test_reference_batch_norm_mode(training, updates):
    """Called as keras.io writes it (no ``training=``), Keras 3 runs the nets' batch norm in
    inference mode: the moving statistics never move. The benchmark's reference passes
    ``training=True``."""
    import numpy as np
    import tensorflow as tf
    from benchmarks.keras_reference import KerasIoGAN
    keras.utils.set_random_seed(0)
    ref = KerasIoGAN(conv_discriminator(8, 1, 4, norm="keras_batch"),
                     conv_generator(4, 8, 1, 4, norm="keras_batch"), 4, training=training)
    ref.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5),
                keras.losses.BinaryCrossentropy(from_logits=True))
    x = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 1)).astype("float32")
    ref.make_train_function()
    ref.train_function(iter(tf.data.Dataset.from_tensors(x).repeat()))  # as fit() does
    bn = next(x for x in ref.generator.layers if isinstance(x, layers.BatchNormalization))
    assert bool(np.any(np.asarray(bn.moving_mean) != 0)) == updates
