"""Layers of the Progressive GAN (Karras et al. 2018, "Progressive Growing of GANs").

* ``EqualizedDense`` / ``EqualizedConv2D``: equalized learning rate. The stored weight is drawn
  from N(0, 1) and multiplied at run time by the He constant ``gain / sqrt(fan_in)``, so Adam's
  per-parameter normalisation sees every weight on the same scale (paper, section 4.1).
* ``PixelNorm``: x / sqrt(mean_c(x^2) + eps) at every pixel (section 4.2).
* ``MinibatchStddev``: appends the average standard deviation over a group of samples as one
  feature map (section 3). The group size must divide the batch; when it does not, the largest
  divisor of the batch not above the group size is used (1 for a prime batch: the statistic is
  then 0 + eps).

Plus ``FusedBatchNormalization`` (the DCGAN family's batch norm, see its docstring).

Numerics that are sensitive to float16 (the means of squares) are computed in float32 and cast
back to the compute dtype; ``scale`` and ``group_size`` are plain attributes, not variables.
"""
import math

import keras
import tensorflow as tf
from keras import layers, ops

HE_GAIN = math.sqrt(2.0)


class EqualizedDense(keras.layers.Layer):
    """Dense layer with equalized learning rate: y = x @ (w * gain / sqrt(fan_in)) + b."""

    def __init__(self, units, gain=HE_GAIN, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.units, self.gain, self.use_bias = int(units), float(gain), bool(use_bias)

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.scale = self.gain / math.sqrt(fan_in)
        self.kernel = self.add_weight(shape=(fan_in, self.units), name="kernel",
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = (self.add_weight(shape=(self.units,), name="bias", initializer="zeros")
                     if self.use_bias else None)

    def call(self, x):
        y = ops.matmul(x, ops.cast(self.kernel, x.dtype) * ops.cast(self.scale, x.dtype))
        return y + ops.cast(self.bias, x.dtype) if self.use_bias else y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return dict(super().get_config(), units=self.units, gain=self.gain, use_bias=self.use_bias)


class EqualizedConv2D(keras.layers.Layer):
    """Stride-1 'same' convolution (NHWC) with equalized learning rate, fan_in = k * k * C_in."""

    def __init__(self, filters, kernel_size=3, gain=HE_GAIN, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.gain, self.use_bias = float(gain), bool(use_bias)

    def build(self, input_shape):
        k, channels = self.kernel_size, int(input_shape[-1])
        self.scale = self.gain / math.sqrt(k * k * channels)
        self.kernel = self.add_weight(shape=(k, k, channels, self.filters), name="kernel",
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = (self.add_weight(shape=(self.filters,), name="bias", initializer="zeros")
                     if self.use_bias else None)

    def call(self, x):
        kernel = ops.cast(self.kernel, x.dtype) * ops.cast(self.scale, x.dtype)
        y = tf.nn.conv2d(x, kernel, strides=1, padding="SAME")
        return tf.nn.bias_add(y, ops.cast(self.bias, x.dtype)) if self.use_bias else y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return dict(super().get_config(), filters=self.filters, kernel_size=self.kernel_size,
                    gain=self.gain, use_bias=self.use_bias)


def pixel_norm(x, epsilon=1e-8):
    """x / sqrt(mean over channels of x^2 + eps), the mean taken in float32."""
    mean_square = tf.reduce_mean(tf.square(tf.cast(x, tf.float32)), axis=-1, keepdims=True)
    return x * tf.cast(tf.math.rsqrt(mean_square + epsilon), x.dtype)


class PixelNorm(keras.layers.Layer):
    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        return pixel_norm(x, self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return dict(super().get_config(), epsilon=self.epsilon)


def largest_divisor(n, limit):
    """The largest d <= limit that divides n (n, limit >= 1)."""
    for d in range(min(int(limit), int(n)), 0, -1):
        if n % d == 0:
            return d
    return 1


def minibatch_stddev(x, group_size=4, epsilon=1e-8):
    """[N, H, W, C] -> [N, H, W, C + 1] as in the paper's official code: sample n is in group
    n % (N / G); per group, the std over its G members of every feature, averaged over
    H, W and C, is broadcast as one extra feature map."""
    n = x.shape[0]
    if n is not None:
        g = largest_divisor(n, group_size)
    else:  # dynamic batch: the same rule in the graph
        n = tf.shape(x)[0]
        candidates = tf.range(min(int(group_size), 2 ** 31 - 1), 0, -1)
        candidates = tf.boolean_mask(candidates, candidates <= n)
        g = tf.boolean_mask(candidates, tf.math.floormod(n, candidates) == 0)[0]
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    y = tf.reshape(tf.cast(x, tf.float32), [g, -1, h, w, c])       # [G, M, H, W, C]
    y = y - tf.reduce_mean(y, axis=0, keepdims=True)
    std = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + epsilon)    # [M, H, W, C]
    std = tf.reduce_mean(std, axis=[1, 2, 3])                        # [M]
    std = tf.tile(tf.reshape(std, [-1, 1, 1, 1]), [g, h, w, 1])      # [N, H, W, 1]
    return tf.concat([x, tf.cast(std, x.dtype)], axis=-1)


class MinibatchStddev(keras.layers.Layer):
    def __init__(self, group_size=4, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.group_size, self.epsilon = int(group_size), float(epsilon)

    def call(self, x):
        return minibatch_stddev(x, self.group_size, self.epsilon)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + 1,)

    def get_config(self):
        return dict(super().get_config(), group_size=self.group_size, epsilon=self.epsilon)


def upsample2x(x):
    """Nearest-neighbour x2 (each pixel becomes a 2x2 block), NHWC."""
    n, h, w, c = tf.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
    x = tf.broadcast_to(x[:, :, None, :, None, :], [n, h, 2, w, 2, c])
    return tf.reshape(x, [n, 2 * h, 2 * w, c])


def downsample2x(x):
    """2x2 average pooling, NHWC."""
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")


_FUSED_DTYPES = (tf.float32, tf.bfloat16, tf.float16)


@keras.saving.register_keras_serializable(package="ganzoo")
class FusedBatchNormalization(layers.BatchNormalization):
    """keras.layers.BatchNormalization with a fused NHWC path: one ``FusedBatchNormV3`` (and
    its gradient op) in the compute dtype, so under mixed_bfloat16 the activations stay bf16
    (oneDNN kernels) with float32 statistics, where Keras' layer upcasts to float32 and
    normalises with a chain of elementwise ops: 1.15x on the default DCGAN step here
    (benchmarks/notes.md). Same weights, config and moving-average semantics (biased batch
    variance, ``moving = moving * momentum + batch * (1 - momentum)``, updated with ``assign``
    so ``stateless_call`` captures them); masks, ``synchronized``, ``renorm``, non-4-D inputs
    and other axes use Keras' own ``call``."""

    def _can_fuse(self, inputs, mask):
        return (mask is None
                and not self.synchronized
                and not self.renorm
                and inputs.shape.rank == 4
                and self.axis in (-1, 3)
                and inputs.dtype in _FUSED_DTYPES)

    def call(self, inputs, training=None, mask=None):
        inputs = tf.convert_to_tensor(inputs)
        if not self._can_fuse(inputs, mask):
            return super().call(inputs, training=training, mask=mask)

        channels = inputs.shape[-1]
        gamma = (tf.convert_to_tensor(self.gamma) if self.scale
                 else tf.ones([channels], tf.float32))
        beta = (tf.convert_to_tensor(self.beta) if self.center
                else tf.zeros([channels], tf.float32))
        gamma, beta = tf.cast(gamma, tf.float32), tf.cast(beta, tf.float32)
        moving_mean = tf.cast(tf.convert_to_tensor(self.moving_mean), tf.float32)
        moving_variance = tf.cast(tf.convert_to_tensor(self.moving_variance), tf.float32)

        if training and self.trainable:
            empty = tf.constant([], tf.float32)
            y, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=gamma, offset=beta, mean=empty, variance=empty,
                epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC",
                is_training=True)
            # FusedBatchNormV3 returns the Bessel-corrected variance n/(n-1) * var (with
            # n-1 floored at 1); Keras tracks the biased batch variance. Undo it.
            n = tf.cast(tf.size(inputs) // channels, tf.float32)
            variance = variance * (tf.maximum(n - 1.0, 1.0) / n)
            # Statistics are per-batch quantities; no gradient flows into the moving
            # averages (Keras' moving stats are non-trainable as well).
            mean, variance = tf.stop_gradient(mean), tf.stop_gradient(variance)
            m = self.momentum
            self.moving_mean.assign(moving_mean * m + mean * (1.0 - m))
            self.moving_variance.assign(moving_variance * m + variance * (1.0 - m))
        else:
            y, _, _, _, _, _ = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=gamma, offset=beta, mean=moving_mean,
                variance=moving_variance, epsilon=self.epsilon, data_format="NHWC",
                is_training=False)
        return tf.cast(y, self.compute_dtype) if y.dtype != self.compute_dtype else y
