"""Fuzz tests (hypothesis) over the two inputs a user controls most: config overrides on the
command line, and generation requests (the TF Serving export run the way the server runs it,
and ``ganzoo.load(...)`` in-process). Each bad input must end in the one clean error its layer
promises; nothing else may escape, and a generated image is never made from NaN."""
import os

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, event, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import ganzoo
from ganzoo import cli, config
from helpers import ROOT

# GANZOO_FUZZ_EXAMPLES=1000 for a deeper search than the suite's quick one
FAST = settings(max_examples=int(os.environ.get("GANZOO_FUZZ_EXAMPLES", 30)), deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def one_line(error):
    full = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    assert str(full).strip() and "\n" not in str(full).strip(), repr(full)
    return cli.message(error)


# ---- config overrides ----------------------------------------------------------------------------

SPEC = f"--config={ROOT}/zoo_configs/dcgan.py:mnist"
BASE = config.load(SPEC.split("=", 1)[1])
LEAVES = config.flat_keys(BASE)
GROUPS = sorted({k.rsplit(".", 1)[0] for k in LEAVES if "." in k})
ARG_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=12)

wild_keys = st.one_of(st.sampled_from(GROUPS),
                     st.sampled_from(LEAVES).map(lambda k: k + "x"),           # near misses
                     st.sampled_from(LEAVES).map(lambda k: k.replace("_", "-")),
                     st.sampled_from(LEAVES).map(lambda k: k + ".sub"),
                     st.from_regex(r"[a-z_.\-]{0,14}", fullmatch=True), ARG_TEXT)
values = st.one_of(st.integers(-2 ** 70, 2 ** 70).map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.sampled_from(["true", "false", "True", "0", "1", "None", "", "(8,)",
                                    "(8, 'a')", "[1, 2]", "{'a': 1}", "(((", "1e400", "-0", "0x10",
                                    "adam", "npz:/nowhere.npz", "auto", "float32"]),
                   ARG_TEXT)
TYPED = {bool: st.sampled_from(["true", "false", "True", "False", "1", "0"]),
         int: st.integers(-2 ** 40, 2 ** 40).map(str),
         float: st.one_of(st.floats(allow_nan=False).map(repr), st.integers(-9, 9).map(str)),
         str: ARG_TEXT,
         tuple: st.lists(st.integers(1, 64), max_size=3).map(lambda x: repr(tuple(x)))}


def leaf_default(config_, key):
    for part in key.split("."):
        config_ = config_[part]
    return config_


def right_or_wrong(key):
    """A value of the key's own type, one of any type, or none (a bare boolean flag)."""
    typed = TYPED.get(type(leaf_default(BASE, key)), values)
    return st.tuples(st.just(key), st.one_of(typed, typed, values, st.none()), st.booleans())


wild = st.tuples(wild_keys, st.one_of(values, st.none()), st.booleans())
overrides = st.tuples(st.lists(st.sampled_from(LEAVES).flatmap(right_or_wrong), max_size=3),
                      st.one_of(st.none(), st.none(), wild)
                      ).map(lambda t: t[0] + ([t[1]] if t[1] else []))  # one wild key at most


def argv_of(items):
    argv = ["ganzoo-train", SPEC, "--workdir=/nowhere"]
    for key, value, negate in items:
        if value is None:  # a bare flag: --config.KEY (true) or --noconfig.KEY (false)
            argv.append(f"--{'no' if negate else ''}config.{key}")
        else:
            argv.append(f"--config.{key}={value}")
    return argv


@FAST
@given(overrides)
def test_config_overrides_are_parsed_or_refused_in_one_line(items):
    try:
        parsed = config.parse_overrides(argv_of(items))
    except (KeyError, ValueError, TypeError) as e:
        event(f"refused: {type(e).__name__}")
        one_line(e)
        return
    event("accepted")
    # accepted: every field keeps its type (ConfigDict's type safety, ints may widen to float)
    for key in LEAVES:
        default, got = leaf_default(BASE, key), leaf_default(parsed, key)
        assert type(got) is type(default) or (type(default) is float and type(got) is int), \
            (key, default, got)


# ---- generation requests -------------------------------------------------------------------------

LATENT, CLASSES, SHAPE = 100, 10, (28, 28, 1)


class Served:
    """A SavedModel run the way TF Serving runs it: a TF1 Session fed by tensor name; dtypes
    are checked by the runtime, shapes only by the graph (as tests/test_serving.py's
    SessionModel)."""

    def __init__(self, path):
        from tensorflow.core.protobuf import config_pb2
        self._options = config_pb2.CallableOptions
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            meta = tf.compat.v1.saved_model.load(self.session, ["serve"], path)
        self.signatures = meta.signature_def
        self._callables = {}

    def run(self, signature, inputs):
        sig = self.signatures[signature]
        keys = sorted(inputs)
        if (signature, tuple(keys)) not in self._callables:
            options = self._options(feed=[sig.inputs[k].name for k in keys],
                                    fetch=[sig.outputs["images"].name])
            self._callables[signature, tuple(keys)] = self.session._make_callable_from_options(
                options)
        return self._callables[signature, tuple(keys)](*[inputs[k] for k in keys])[0]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    pytest.importorskip("tensorflow_serving", reason="ganzoo-export needs tensorflow-serving-api")
    from ganzoo import serving_export
    base = str(tmp_path_factory.mktemp("serving"))
    return Served(serving_export.export_for_serving("cgan_mnist", base))


@pytest.fixture(scope="module")
def cgan():
    return ganzoo.load("cgan_mnist")


FLOATS = st.one_of(st.floats(-3, 3, width=32), st.floats(width=32),
                   st.sampled_from([np.nan, np.inf, -np.inf, 3e38, -3e38, 1e30]))
SIZES = st.one_of(st.integers(0, 4), st.integers(250, 260))


@st.composite
def z_requests(draw):
    n = draw(SIZES)
    width = draw(st.one_of(st.just(LATENT), st.just(LATENT), st.integers(0, 2 * LATENT)))
    shape = draw(st.one_of(st.just((n, width)), st.just((n, width)),
                           st.sampled_from([(width,), (n, 2, width), ()])))
    dtype = draw(st.sampled_from([np.float32] * 8 + [np.float64, np.float16, np.int32]))
    normal = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))).standard_normal(shape)
    small = hnp.arrays(np.float32, shape, elements=FLOATS, fill=st.nothing())
    z = draw(small if np.prod(shape) <= 8 else st.just(normal.astype(np.float32)))
    if draw(st.booleans()) and z.size:  # a few odd values in a normal batch
        flat = z.reshape(-1)
        for i in draw(st.lists(st.integers(0, z.size - 1), max_size=3)):
            flat[i] = draw(FLOATS)
    with np.errstate(over="ignore", invalid="ignore"):
        return z.astype(dtype)


@st.composite
def label_requests(draw, n):
    size = draw(st.one_of(st.just(n), st.just(n), st.integers(0, 300)))
    dtype = draw(st.sampled_from([np.int32] * 8 + [np.int64, np.float32]))
    values = st.one_of(st.integers(0, CLASSES - 1), st.integers(-3, CLASSES + 3),
                       st.sampled_from([-2 ** 31, 2 ** 31 - 1]))
    labels = np.array(draw(st.lists(values, min_size=size, max_size=size)) if size <= 8
                      else np.random.default_rng(size).integers(0, CLASSES, size), np.int64)
    if size > 8 and draw(st.booleans()):
        labels[draw(st.integers(0, size - 1))] = draw(values)
    return labels.astype(dtype)


def check_served(run, z_or_n, labels, valid, n):
    """``run()`` gives valid uint8 images of shape [n, 28, 28, 1] exactly when ``valid``; else a
    tf.errors.InvalidArgumentError with a one-line first line (what the server answers)."""
    try:
        images = run()
    except tf.errors.InvalidArgumentError as e:
        first = e.message.splitlines()[0]
        assert first.strip()
        event(f"refused: {first.split(' [')[0].split(':')[0][:60]}")
        if "the generator produced NaN or Inf" in first:
            # the checks passed (they run first) and a huge, finite z overflowed: refused, not
            # turned into pixels
            assert valid and np.abs(z_or_n).max() > 1e3, f"{first} for {z_or_n!r:.200}"
            return
        assert not valid, f"a valid request failed: {first}"
        return
    assert valid, f"an invalid request was answered: {z_or_n!r:.200} {labels!r:.200}"
    event("images")
    assert images.dtype == np.uint8 and images.shape == (n, *SHAPE)


def z_valid(z):
    return (z.dtype == np.float32 and z.ndim == 2 and z.shape[1] == LATENT
            and z.shape[0] <= 256 and bool(np.isfinite(z).all()))


def labels_valid(labels, n):
    return (labels.dtype == np.int32 and labels.ndim == 1 and labels.size == n
            and bool(((labels >= 0) & (labels < CLASSES)).all()))


@FAST
@given(data=st.data())
def test_served_generate_gives_images_or_a_clear_error(served, data):
    z = data.draw(z_requests())
    n = z.shape[0] if z.ndim else 0
    labels = data.draw(label_requests(n))
    valid = z_valid(z) and labels_valid(labels, n)
    check_served(lambda: served.run("serving_default", dict(z=z, labels=labels)), z, labels,
                 valid, n)


@FAST
@given(data=st.data())
def test_served_sample_gives_images_or_a_clear_error(served, data):
    n = data.draw(st.one_of(SIZES, st.integers(-2 ** 31, 2 ** 31 - 1)))
    dtype = data.draw(st.sampled_from([np.int32] * 8 + [np.int64]))
    seed = np.int64(data.draw(st.integers(-2 ** 63, 2 ** 63 - 1)))
    labels = data.draw(label_requests(min(max(n, 0), 300)))
    valid = dtype is np.int32 and 1 <= n <= 256 and labels_valid(labels, n)
    num = np.asarray(n).astype(dtype)
    check_served(lambda: served.run("sample", dict(num_samples=num, seed=seed, labels=labels)),
                 n, labels, valid, n)


@FAST
@given(data=st.data())
def test_pretrained_generate_and_sample_give_images_or_a_one_line_error(cgan, data):
    """The same requests through ganzoo.load: refused before the graph runs (ValueError or
    TypeError, one line), or the images the server would give."""
    z = data.draw(z_requests())
    n = z.shape[0] if z.ndim == 2 else (1 if z.ndim == 1 and z.size == LATENT else 0)
    labels = data.draw(label_requests(n))
    as_list = data.draw(st.booleans())
    try:
        images = cgan.generate(z.tolist() if as_list else z, labels)
    except (ValueError, TypeError) as e:
        one_line(e)
        finite = np.isfinite(z.astype(np.float32)).all() if z.size else True
        shape = np.shape(z.tolist()) if as_list else z.shape  # [] has no width
        shape_ok = len(shape) == 2 and shape[1] == LATENT or shape == (LATENT,)
        labels_ok = labels.dtype.kind == "i" and labels.size in (1, n) and labels.ndim == 1 and \
            bool(((labels >= 0) & (labels < CLASSES)).all())
        assert not (finite and shape_ok and labels_ok), f"refused a valid request: {e}"
        return
    assert images.dtype == np.uint8 and images.shape == (n, *SHAPE)

    num = data.draw(st.one_of(st.integers(-3, 260), st.floats(0, 10), st.just(True)))
    seed = data.draw(st.one_of(st.integers(-2 ** 64, 2 ** 64), st.just(1.5)))
    try:
        images = cgan.sample(num, seed=seed)
    except (ValueError, TypeError) as e:
        one_line(e)
        return
    assert type(num) is int and 1 <= num <= 256 and -2 ** 63 <= seed < 2 ** 63
    assert images.dtype == np.uint8 and images.shape == (num, *SHAPE)
