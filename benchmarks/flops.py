"""Analytic FLOP count of a GAN training step, from layer shapes.

Only the layers that do the arithmetic are counted: Dense, Conv2D and Conv2DTranspose (one
multiply-add = 2 FLOPs). Batch norm, activations, the losses and the Adam updates are not:
they are memory-bound and add well under 5% of the FLOPs of these nets.

A layer's forward pass costs F = 2 * MACs. Its backward pass costs F for the weight gradient
(when the layer's weights are trained in that phase) plus F for the gradient with respect to
its input (when anything before it needs a gradient). So for a network that is trained,
backward = 2F for every layer but the first (which needs no input gradient), and for the
frozen discriminator the generator step differentiates through, backward = F (input
gradients only), which is what TensorFlow runs: gradients nobody asked for are pruned.

One step of ganzoo's two-phase update with batch n and n_critic critic steps:
  each critic step: G forward on n (frozen), D forward on n real + n fake, D backward on both;
  generator step:   G forward on n, D forward on n (frozen), D input-gradients, G backward.
"""
import keras

WEIGHTED = ("Dense", "Conv2D", "Conv2DTranspose")


def _dims(shape):
    return [int(d) for d in shape[1:]]  # drop the batch dimension


def layer_macs(layer, input_shape, output_shape):
    """Multiply-adds per example of one Dense / Conv2D / Conv2DTranspose layer; 0 for others.
    ``input_shape``/``output_shape`` include a leading batch dimension (any value)."""
    kind = type(layer).__name__
    if kind not in WEIGHTED:
        return 0
    kernel = [int(d) for d in layer.kernel.shape]
    out = _dims(output_shape)
    if kind == "Dense":  # kernel [in, out]; leading dims of the input multiply
        rows = 1
        for d in out[:-1]:
            rows *= d
        return rows * kernel[0] * kernel[1]
    groups = getattr(layer, "groups", 1) or 1
    if kind == "Conv2D":  # kernel [kh, kw, cin/groups, cout]: every output pixel
        h, w = out[0], out[1]
        return h * w * kernel[0] * kernel[1] * kernel[2] * kernel[3]
    # Conv2DTranspose, kernel [kh, kw, cout, cin]: every input pixel scatters kh*kw*cout
    inp = _dims(input_shape)
    return inp[0] * inp[1] * kernel[0] * kernel[1] * kernel[2] * kernel[3] // groups


def model_layers(model):
    """[(layer name, kind, forward FLOPs per example)] of the weighted layers of a functional
    Keras model, in order."""
    rows = []
    for layer in model.layers:
        if type(layer).__name__ not in WEIGHTED:
            continue
        macs = layer_macs(layer, layer.input.shape, layer.output.shape)
        rows.append((layer.name, type(layer).__name__, 2 * macs))
    return rows


def forward_flops(model):
    """Forward FLOPs per example."""
    return sum(f for _, _, f in model_layers(model))


def backward_flops(model, trained, input_grad):
    """Backward FLOPs per example: weight gradients when ``trained``; input gradients for every
    layer after the first, and for the first too when ``input_grad`` (something upstream of
    this network is trained)."""
    total = 0
    for i, (_, _, f) in enumerate(model_layers(model)):
        if trained:
            total += f
        if i > 0 or input_grad:
            total += f
    return total


def gan_step_flops(generator, discriminator, batch, n_critic=1):
    """FLOPs of one two-phase training step (see the module docstring), with the breakdown."""
    g_fwd, d_fwd = forward_flops(generator), forward_flops(discriminator)
    d_phase = batch * (g_fwd                                    # G(z), frozen
                       + 2 * d_fwd                              # D(real), D(fake)
                       + 2 * backward_flops(discriminator, True, False))
    g_phase = batch * (g_fwd + d_fwd
                       + backward_flops(discriminator, False, True)
                       + backward_flops(generator, True, False))
    return dict(total=n_critic * d_phase + g_phase, d_phase=d_phase, g_phase=g_phase,
                n_critic=n_critic, batch=batch, g_forward_per_image=g_fwd,
                d_forward_per_image=d_fwd,
                method="analytic from layer shapes: Dense/Conv2D/Conv2DTranspose, 2 FLOPs per "
                       "multiply-add; backward = weight grads (trained nets) + input grads")


def keras_param_counts(model):
    """(trainable, non-trainable) parameter counts of a Keras model."""
    count = lambda vs: sum(int(keras.ops.size(v)) for v in vs)  # noqa: E731
    return count(model.trainable_variables), count(model.non_trainable_variables)


# ---- measured peak --------------------------------------------------------------------------

def matmul_flops(n):
    return 2 * n ** 3


def matmul_block(n, dtype, calls):
    """A callable running ``calls`` [n, n] x [n, n] matmuls of ``dtype`` (one block), and the
    FLOPs it does. Each result is summed to a scalar that is fetched, so the block ends only
    when the work is done."""
    import tensorflow as tf
    a = tf.random.stateless_normal([n, n], seed=[1, 2], dtype=tf.float32)
    b = tf.random.stateless_normal([n, n], seed=[3, 4], dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(b, dtype)

    @tf.function
    def mm(a, b):
        return tf.reduce_sum(tf.matmul(a, b))  # ~n^2 adds, next to 2n^3 in the matmul

    def block():
        out = None
        for _ in range(calls):
            out = mm(a, b)
        float(out)
    block()  # trace and warm up
    return block, calls * matmul_flops(n)
