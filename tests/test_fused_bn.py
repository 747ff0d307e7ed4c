"""ganzoo.layers.FusedBatchNormalization equals keras.layers.BatchNormalization: forward,
gradients and moving statistics (float32, bfloat16), inference, stateless_call, tf.function,
XLA, config and SavedModel round trips; and the fused op is really the one that runs."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from ganzoo.layers import FusedBatchNormalization

SHAPE = (16, 7, 7, 8)
TOL = {"float32": dict(rtol=1e-5, atol=1e-5), "bfloat16": dict(rtol=2e-2, atol=3e-2)}


def pair(dtype="float32", shape=SHAPE, **kwargs):
    """A keras BN and a fused BN with identical (non-trivial) weights."""
    kwargs.setdefault("momentum", 0.9)
    kwargs.setdefault("epsilon", 1e-5)
    ref = keras.layers.BatchNormalization(dtype=dtype, **kwargs)
    new = FusedBatchNormalization(dtype=dtype, **kwargs)
    ref.build(shape)
    new.build(shape)
    rng = np.random.default_rng(1)
    for v in ref.weights:
        if v.name in ("gamma", "moving_variance"):
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
        else:
            v.assign(rng.normal(0, 0.3, v.shape).astype("float32"))
    for a, b in zip(ref.weights, new.weights):
        b.assign(a)
    return ref, new


def setup(dtype):
    """A pair for the policy ``dtype``, its compute dtype and an input batch in it."""
    ref, new = pair(dtype)
    comp = "bfloat16" if "bfloat16" in dtype else "float32"
    return ref, new, comp, data(dtype=comp)


POLICIES = pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
MODES = pytest.mark.parametrize("training", [True, False])


def data(shape=SHAPE, dtype="float32", seed=0):
    x = np.random.default_rng(seed).normal(1.5, 2.0, shape).astype("float32")
    return tf.cast(tf.constant(x), dtype)


def f32(t):
    return np.asarray(tf.cast(t, tf.float32))


def test_weights_match_keras():
    ref, new = pair()
    assert [(w.name, tuple(w.shape), w.dtype, w.trainable) for w in ref.weights] == \
           [(w.name, tuple(w.shape), w.dtype, w.trainable) for w in new.weights]
    assert all(w.dtype == "float32" for w in new.weights)
    ref_b, new_b = pair("mixed_bfloat16")
    assert all(w.dtype == "float32" for w in new_b.weights)


@POLICIES
@MODES
def test_forward_matches(dtype, training):
    ref, new, comp, x = setup(dtype)
    a, b = ref(x, training=training), new(x, training=training)
    assert a.dtype == b.dtype == comp
    np.testing.assert_allclose(f32(b), f32(a), **TOL[comp])


@POLICIES
def test_moving_statistics_match(dtype):
    ref, new, comp, _ = setup(dtype)
    for seed in range(4):
        x = data(dtype=comp, seed=seed)
        ref(x, training=True)
        new(x, training=True)
    tol = dict(rtol=1e-5, atol=1e-6) if comp == "float32" else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(new.moving_mean.numpy(), ref.moving_mean.numpy(), **tol)
    np.testing.assert_allclose(new.moving_variance.numpy(), ref.moving_variance.numpy(), **tol)
    # And inference then uses them.
    x = data(dtype=comp, seed=9)
    np.testing.assert_allclose(f32(new(x, training=False)), f32(ref(x, training=False)),
                               **TOL[comp])


def test_non_trainable_layer_uses_moving_stats():
    ref, new = pair()
    ref.trainable = new.trainable = False
    x = data()
    mm = new.moving_mean.numpy()
    np.testing.assert_allclose(f32(new(x, training=True)), f32(ref(x, training=True)),
                               **TOL["float32"])
    np.testing.assert_array_equal(new.moving_mean.numpy(), mm)


@POLICIES
@MODES
def test_gradients_match(dtype, training):
    ref, new, comp, x = setup(dtype)
    w = tf.constant(np.random.default_rng(5).normal(size=SHAPE).astype("float32"))

    def grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.cast(layer(x, training=training), tf.float32)
            loss = tf.reduce_sum(y * w)
        return tape.gradient(loss, [x, layer.gamma, layer.beta])

    ga, gb = grads(ref), grads(new)
    for a, b, name in zip(ga, gb, ["x", "gamma", "beta"]):
        scale = np.abs(f32(a)).max()
        tol = 1e-5 if comp == "float32" else 3e-2
        np.testing.assert_allclose(f32(b) / scale, f32(a) / scale, rtol=0, atol=tol,
                                   err_msg=name)


def test_inside_tf_function():
    ref, new = pair()
    x = data()

    @tf.function
    def run(layer, x):
        return layer(x, training=True), layer(x, training=False)

    for a, b in zip(run(ref, x), run(new, x)):
        np.testing.assert_allclose(f32(b), f32(a), **TOL["float32"])
    np.testing.assert_allclose(new.moving_mean.numpy(), ref.moving_mean.numpy(), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(new.moving_variance.numpy(), ref.moving_variance.numpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("compiled", [False, True])
def test_stateless_call(compiled):
    def model(cls):
        inp = keras.Input(SHAPE[1:])
        h = keras.layers.Conv2D(8, 3, padding="same")(inp)
        out = cls(momentum=0.9, epsilon=1e-5)(h)
        return keras.Model(inp, out)

    keras.utils.set_random_seed(3)
    ref = model(keras.layers.BatchNormalization)
    keras.utils.set_random_seed(3)
    new = model(FusedBatchNormalization)
    x = data()
    before = [v.numpy() for v in new.non_trainable_variables]

    def call(m):
        return m.stateless_call(m.trainable_variables, m.non_trainable_variables, x,
                                training=True)

    if compiled:
        call = tf.function(call)
    (ya, nta), (yb, ntb) = call(ref), call(new)
    np.testing.assert_allclose(f32(yb), f32(ya), **TOL["float32"])
    # Returned state is the updated one ...
    for a, b, old in zip(nta, ntb, before):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
        assert not np.allclose(np.asarray(b), old)
    # ... and the variables are untouched.
    for v, old in zip(new.non_trainable_variables, before):
        np.testing.assert_array_equal(v.numpy(), old)


def test_fallbacks_match_keras():
    # 2-D input, 3-D input, axis=1 on 4-D input: Keras' own path.
    for shape, axis in [((16, 8), -1), ((4, 5, 8), -1), ((4, 8, 5, 5), 1)]:
        ref, new = pair(shape=shape, axis=axis)
        x = data(shape)
        for training in (True, False):
            np.testing.assert_allclose(f32(new(x, training=training)),
                                       f32(ref(x, training=training)), **TOL["float32"])
        np.testing.assert_allclose(new.moving_variance.numpy(), ref.moving_variance.numpy(),
                                   rtol=1e-6)


def test_center_scale_off():
    ref, new = pair(center=False, scale=False)
    assert [w.name for w in new.weights] == ["moving_mean", "moving_variance"]
    x = data()
    for training in (True, False):
        np.testing.assert_allclose(f32(new(x, training=training)),
                                   f32(ref(x, training=training)), **TOL["float32"])


def test_get_config_round_trip(tmp_path):
    layer = FusedBatchNormalization(momentum=0.8, epsilon=1e-4, center=False, scale=True)
    config = layer.get_config()
    clone = FusedBatchNormalization.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone, FusedBatchNormalization)
    # Whole-model .keras round trip with the registered class.
    inp = keras.Input(SHAPE[1:])
    m = keras.Model(inp, FusedBatchNormalization()(inp))
    m(data(), training=True)
    path = str(tmp_path / "m.keras")
    m.save(path)
    m2 = keras.saving.load_model(path)
    assert isinstance(m2.layers[-1], FusedBatchNormalization)
    np.testing.assert_allclose(m2(data(seed=4)).numpy(), m(data(seed=4)).numpy(), rtol=1e-6)


def test_saved_model(tmp_path):
    inp = keras.Input(SHAPE[1:])
    h = keras.layers.Conv2D(8, 3, padding="same")(inp)
    m = keras.Model(inp, FusedBatchNormalization()(h))
    for s in range(3):
        m(data(seed=s), training=True)

    class Wrap(tf.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, *SHAPE[1:]], tf.float32)])
        def serve(self, x):
            return self.model(x, training=False)

    path = str(tmp_path / "sm")
    tf.saved_model.save(Wrap(m), path)
    loaded = tf.saved_model.load(path)
    x = data(seed=7)
    np.testing.assert_allclose(loaded.serve(x).numpy(), m(x, training=False).numpy(),
                               rtol=1e-5, atol=1e-5)


def _op_types(layer, x, training):
    fn = tf.function(lambda x: layer(x, training=training))
    return {op.type for op in fn.get_concrete_function(x).graph.get_operations()}


@POLICIES
def test_fused_path_is_taken(dtype):
    _, new, _, x = setup(dtype)
    for training in (True, False):
        ops = _op_types(new, x, training)
        assert "FusedBatchNormV3" in ops
        assert not {"Mean", "SquaredDifference", "Rsqrt"} & ops, ops
        # bf16 activations are never upcast to float32 in the fused path.
        fn = tf.function(lambda x: new(x, training=training))
        g = fn.get_concrete_function(x).graph
        big_casts = [op for op in g.get_operations() if op.type == "Cast"
                     and op.outputs[0].shape.rank == 4]
        assert not big_casts
    _, fb = pair(shape=(16, 8))
    assert "FusedBatchNormV3" not in _op_types(fb, data((16, 8)), True)


@POLICIES
def test_xla(dtype):
    ref, new, comp, x = setup(dtype)
    # sum(y**2) would have a ~zero input gradient (BN output is normalised): use weights.
    w = tf.constant(np.random.default_rng(5).normal(size=SHAPE).astype("float32"))

    @tf.function(jit_compile=True)
    def run(layer, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * w)
        return y, tape.gradient(loss, [x, layer.gamma, layer.beta])

    (ya, ga), (yb, gb) = run(ref, x), run(new, x)
    np.testing.assert_allclose(f32(yb), f32(ya), **TOL[comp])
    for a, b in zip(ga, gb):
        s = np.abs(f32(a)).max()
        np.testing.assert_allclose(f32(b) / s, f32(a) / s, atol=1e-5 if comp == "float32" else 3e-2)
    np.testing.assert_allclose(new.moving_variance.numpy(), ref.moving_variance.numpy(), rtol=1e-5)
