"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation between domains A and B.

Networks, as in the paper's appendix and its reference code:

- two ResNet generators, ``G_ab`` (= ``self.generator``) and ``G_ba``:
  c7s1-ngf, d(2 ngf), d(4 ngf), R(4 ngf) x n_blocks, u(2 ngf), u(ngf), c7s1-C, tanh; reflection
  padding before the 7x7 and the residual 3x3 convolutions, instance norm
  (``GroupNormalization(groups=-1)``) after every convolution but the last. Stride-2 and
  transposed convolutions are padded exactly like the reference's ``padding=1,
  output_padding=1``. The generators are fully convolutional (any H, W divisible by 4).
- two 70x70 PatchGAN discriminators, ``D_b`` (= ``self.discriminator``) and ``D_a``:
  C(ndf)-C(2 ndf)-C(4 ndf) stride 2, C(8 ndf) stride 1, then a 1-channel 4x4 convolution;
  LeakyReLU 0.2, instance norm except after the first layer. The two stride-1 layers keep the
  size ("same") where the reference shrinks by one pixel each, so the patch map is R/8 x R/8
  instead of R/8 - 2 and works down to 16x16 inputs; the receptive field is 70x70 either way.

Objective: least-squares adversarial loss (``ganzoo.losses.least_squares_*``; the generator term
is doubled because ``least_squares_g`` carries LSGAN's 1/2 that the CycleGAN objective and the
reference's ``MSELoss`` do not, so lambda keeps its paper meaning), cycle loss
``cycle_weight`` x (|G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b|) (L1 means) and identity loss
``identity_weight`` x ``cycle_weight`` x (|G_ab(b) - b| + |G_ba(a) - a|). The discriminators see
generated images through a 50-image history pool each (Shrivastava et al. 2017).

``train_step`` on ``(a, b)`` batches: the discriminators' phase (both D's, one optimizer, the
generators frozen through ``stateless_call``), then the generators' phase (both G's, one
optimizer, the discriminators frozen). Logged: ``d_loss`` (= d_a_loss + d_b_loss), ``g_loss``
(everything the generators minimise), ``loss`` (their sum), ``d_a_loss``, ``d_b_loss``,
``g_adv_loss``, and the unweighted ``cycle_loss`` and ``identity_loss``.
"""
import logging

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from ganzoo import images as image_utils
from ganzoo.engine import GANModel

log = logging.getLogger("ganzoo")

INIT = keras.initializers.RandomNormal(0.0, 0.02)  # the reference's init_type="normal", gain 0.02


class ReflectionPadding2D(layers.Layer):
    """Mirror padding of H and W by ``padding`` pixels (the edge pixel is not repeated)."""

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, x):
        p = self.padding
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, shape):
        grow = lambda d: None if d is None else d + 2 * self.padding  # noqa: E731
        return (shape[0], grow(shape[1]), grow(shape[2]), shape[3])

    def get_config(self):
        return dict(super().get_config(), padding=self.padding)


def instance_norm():
    return layers.GroupNormalization(groups=-1, epsilon=1e-5)


def _conv(filters, kernel, strides=1, padding="valid", use_bias=False, **kwargs):
    return layers.Conv2D(filters, kernel, strides, padding=padding, use_bias=use_bias,
                         kernel_initializer=INIT, **kwargs)


def resnet_generator(channels=3, ngf=64, n_blocks=9, name="generator"):
    """ResNet generator, images [N, H, W, C] in [-1, 1] -> same shape (H, W divisible by 4)."""
    x = keras.Input((None, None, channels), name="images")
    h = _conv(ngf, 7)(ReflectionPadding2D(3)(x))                              # c7s1-ngf
    h = layers.ReLU()(instance_norm()(h))
    for mult in (2, 4):                                                       # d(2ngf), d(4ngf)
        h = _conv(ngf * mult, 3, 2)(layers.ZeroPadding2D(1)(h))
        h = layers.ReLU()(instance_norm()(h))
    for _ in range(n_blocks):                                                 # R(4ngf) x n
        r = _conv(ngf * 4, 3)(ReflectionPadding2D(1)(h))
        r = layers.ReLU()(instance_norm()(r))
        r = _conv(ngf * 4, 3)(ReflectionPadding2D(1)(r))
        h = layers.Add()([h, instance_norm()(r)])
    for mult in (2, 1):                                                       # u(2ngf), u(ngf)
        # = PyTorch ConvTranspose2d(k=3, s=2, padding=1, output_padding=1): 2H exactly
        h = layers.Conv2DTranspose(ngf * mult, 3, 2, padding="valid", use_bias=False,
                                   kernel_initializer=INIT)(h)
        h = layers.Cropping2D(((1, 0), (1, 0)))(h)
        h = layers.ReLU()(instance_norm()(h))
    h = _conv(channels, 7, use_bias=True)(ReflectionPadding2D(3)(h))          # c7s1-C
    out = layers.Activation("tanh", dtype="float32")(h)
    return keras.Model(x, out, name=name)


def patch_discriminator(channels=3, ndf=64, name="discriminator"):
    """70x70 PatchGAN: images [N, H, W, C] -> float32 logits [N, H/8, W/8, 1]."""
    x = keras.Input((None, None, channels), name="images")
    h = x
    for i, mult in enumerate((1, 2, 4)):                                      # C64-C128-C256, s2
        h = _conv(ndf * mult, 4, 2, use_bias=(i == 0))(layers.ZeroPadding2D(1)(h))
        if i:
            h = instance_norm()(h)
        h = layers.LeakyReLU(0.2)(h)
    h = _conv(ndf * 8, 4, 1, padding="same")(h)                               # C512, s1
    h = layers.LeakyReLU(0.2)(instance_norm()(h))
    out = _conv(1, 4, 1, padding="same", use_bias=True, dtype="float32")(h)
    return keras.Model(x, out, name=name)


class HistoryPool(tf.Module):
    """The image buffer of Shrivastava et al. 2017 as the CycleGAN reference uses it, in
    variables (so it runs inside a compiled step and is saved in checkpoints).

    ``pool(images)`` goes through the batch in order: while the pool is not full the image is
    stored and returned; after that, with probability 1/2 a uniformly chosen stored image is
    returned and replaced by the new one, otherwise the new image is returned. ``size=0``
    returns the batch unchanged.
    """

    def __init__(self, size, shape, seed=None, name=None):
        super().__init__(name=name)
        self.size = int(size)
        self.images = tf.Variable(tf.zeros([max(self.size, 1), *shape], tf.float32),
                                  trainable=False, name="images")
        self.count = tf.Variable(0, dtype=tf.int32, trainable=False, name="count")
        if not isinstance(seed, keras.random.SeedGenerator):
            seed = keras.random.SeedGenerator(seed)
        self.seed_generator = seed
        self.rng = seed.state  # tracked: a checkpoint restores the random stream too

    def __call__(self, images):
        if self.size == 0:
            return images
        images = tf.cast(images, tf.float32)
        n = images.shape[0] if images.shape[0] is not None else tf.shape(images)[0]
        coins = keras.random.uniform([n], seed=self.seed_generator)
        slots = keras.random.randint([n], 0, self.size, seed=self.seed_generator)

        def body(i, pool, count, out):
            image = images[i]
            filling = count < self.size
            use_stored = tf.logical_and(tf.logical_not(filling), coins[i] < 0.5)
            slot = tf.where(filling, count, slots[i])
            stored = tf.gather(pool, slot)  # not pool[slot]: XLA recompiles on every call
            kept = tf.where(tf.logical_or(filling, use_stored), image, stored)
            pool = tf.tensor_scatter_nd_update(pool, slot[None, None], kept[None])
            out = out.write(i, tf.where(use_stored, stored, image))
            return i + 1, pool, count + tf.cast(filling, tf.int32), out

        out = tf.TensorArray(tf.float32, size=n, element_shape=images.shape[1:])
        _, pool, count, out = tf.while_loop(
            lambda i, *_: i < n, body, [tf.constant(0), self.images.read_value(),
                                        self.count.read_value(), out],
            parallel_iterations=1)
        self.images.assign(pool)
        self.count.assign(count)
        return tf.ensure_shape(out.stack(), images.shape)


def l1(x, y):
    return tf.reduce_mean(tf.abs(tf.cast(x, tf.float32) - tf.cast(y, tf.float32)))


class CycleGAN(GANModel):
    """Data: ``(a_batch, b_batch)`` float32 images in [-1, 1] (``cyclegan:PATH`` sources)."""

    def __init__(self, resolution=256, channels=3, ngf=64, ndf=64, n_blocks=None,
                 cycle_weight=10.0, identity_weight=0.5, pool_size=50, latent_dim=None,
                 seed=None, **kwargs):
        # latent_dim: a translation model has no noise input; accepted (and ignored) because
        # config.base_config puts it into every model config.
        del latent_dim
        if kwargs.get("ema_decay"):
            raise ValueError("ema_decay is not supported by cyclegan (its train_step and "
                             "export are its own); set it to 0")
        if n_blocks is None:
            n_blocks = 9 if resolution >= 256 else 6
        super().__init__(resnet_generator(channels, ngf, n_blocks, name="generator_ab"),
                         patch_discriminator(channels, ndf, name="discriminator_b"),
                         latent_dim=0, loss="least_squares", seed=seed, **kwargs)
        self.generator_ba = resnet_generator(channels, ngf, n_blocks, name="generator_ba")
        self.discriminator_a = patch_discriminator(channels, ndf, name="discriminator_a")
        self.resolution, self.channels, self.n_blocks = int(resolution), int(channels), n_blocks
        self.cycle_weight, self.identity_weight = float(cycle_weight), float(identity_weight)
        shape = (self.resolution, self.resolution, self.channels)
        self.pool_a = HistoryPool(pool_size, shape, None if seed is None else seed + 1, "pool_a")
        self.pool_b = HistoryPool(pool_size, shape, None if seed is None else seed + 2, "pool_b")
        names = ["loss", "d_loss", "g_loss", "d_a_loss", "d_b_loss", "g_adv_loss", "cycle_loss",
                 "identity_loss"]
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}

    # G_ab and D_b are the engine's generator and discriminator.
    @property
    def generator_ab(self):
        return self.generator

    @property
    def discriminator_b(self):
        return self.discriminator

    @property
    def generator_variables(self):
        return self.generator.trainable_variables + self.generator_ba.trainable_variables

    @property
    def discriminator_variables(self):
        return self.discriminator_a.trainable_variables + self.discriminator.trainable_variables

    def translate(self, images, direction="a2b", training=False):
        net = self.generator if direction == "a2b" else self.generator_ba
        return net(images, training=training)

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    # ---- hooks of the training loop ---------------------------------------------------------
    def build_networks(self):
        x = tf.zeros([1, self.resolution, self.resolution, self.channels])
        for net in (self.generator, self.generator_ba, self.discriminator, self.discriminator_a):
            net(x)
        self.build_optimizers()

    def build_optimizers(self):
        for opt, variables in ((self.d_optimizer, self.discriminator_variables),
                               (self.g_optimizer, self.generator_variables)):
            if not opt.built:
                opt.build(variables)

    def checkpoint_items(self):
        return dict(super().checkpoint_items(), generator_ba=self.generator_ba,
                    discriminator_a=self.discriminator_a, pool_a=self.pool_a, pool_b=self.pool_b)

    def preview_inputs(self, config, num):
        """The first ``num`` test images of each domain (sorted files, centre crop, no flips);
        the training images, likewise, when the source has no test split."""
        from ganzoo import data
        cfg = dict(config.data.to_dict(), split="test", shuffle_buffer=0, augment=False,
                   random_flip=False, cache=False)
        try:
            ds = data.make(cfg, 1, repeat=False)
        except FileNotFoundError as e:
            log.warning("no test split for the sample grids (%s); showing training images", e)
            ds = data.make(dict(cfg, split="train"), 1, repeat=False)
        pairs = list(ds.take(num))
        if not pairs:
            raise ValueError(f"no image pairs for the sample grids in {config.data.source}")
        return tuple(tf.concat([p[i] for p in pairs], 0) for i in range(2))

    def preview(self, inputs):
        """Six rows: A, G_ab(A), G_ba(G_ab(A)), B, G_ba(B), G_ab(G_ba(B)); one column per pair."""
        a, b = inputs
        fake_b = self.generator(a, training=False)
        fake_a = self.generator_ba(b, training=False)
        rows = [a, fake_b, self.generator_ba(fake_b, training=False),
                b, fake_a, self.generator(fake_a, training=False)]
        pictures = image_utils.to_uint8(np.concatenate([np.asarray(r, np.float32) for r in rows]))
        return image_utils.grid(pictures, cols=int(a.shape[0]))

    def export(self, path, metadata=None):
        """SavedModel: ``translate_a2b`` / ``translate_b2a`` (``serving_default`` = a2b), each
        ``images`` uint8 [N, H, W, C] -> ``images`` uint8 [N, H, W, C], any H and W."""
        from ganzoo import export
        info = dict(kind="translation", latent_dim=None, num_classes=0,
                    resolution=self.resolution, channels=self.channels, **(metadata or {}))
        module = tf.Module()
        module.generator_ab, module.generator_ba = self.generator, self.generator_ba
        module.info = export.info_variable(info)
        spec = tf.TensorSpec([None, None, None, self.channels], tf.uint8, name="images")

        def translator(net):
            def translate(images):
                x = tf.cast(images, tf.float32) / 127.5 - 1.0
                h, w = tf.shape(x)[1], tf.shape(x)[2]
                # the generator halves H and W twice: mirror-pad up to a multiple of 4, crop back
                x = tf.pad(x, [[0, 0], [0, (-h) % 4], [0, (-w) % 4], [0, 0]], mode="SYMMETRIC")
                return {"images": export.to_uint8(net(x, training=False)[:, :h, :w])}
            return tf.function(translate, input_signature=[spec])

        a2b, b2a = translator(self.generator), translator(self.generator_ba)
        return export.save_atomic(module, path, {"serving_default": a2b, "translate_a2b": a2b,
                                                 "translate_b2a": b2a})

    # ---- the two phases ---------------------------------------------------------------------
    def d_step(self, real_a, real_b):
        """Both discriminators, one optimizer; the generators run frozen."""
        fake_b = self.pool_b(self.frozen(self.generator, real_a))
        fake_a = self.pool_a(self.frozen(self.generator_ba, real_b))
        with tf.GradientTape() as tape:
            d_b_loss = self.d_loss_fn(self.discriminator(real_b, training=True),
                                      self.discriminator(fake_b, training=True))
            d_a_loss = self.d_loss_fn(self.discriminator_a(real_a, training=True),
                                      self.discriminator_a(fake_a, training=True))
            d_loss = d_a_loss + d_b_loss
            scaled = self.scaled(self.d_optimizer, d_loss)
        self.apply_gradients(self.d_optimizer, tape, scaled, self.discriminator_variables)
        return dict(d_loss=d_loss, d_a_loss=d_a_loss, d_b_loss=d_b_loss)

    def g_step(self, real_a, real_b):
        """Both generators, one optimizer; the discriminators run frozen."""
        with tf.GradientTape() as tape:
            fake_b = self.generator(real_a, training=True)
            fake_a = self.generator_ba(real_b, training=True)
            cycle = (l1(self.generator_ba(fake_b, training=True), real_a)
                     + l1(self.generator(fake_a, training=True), real_b))
            adv = 2.0 * (self.g_loss_fn(self.frozen(self.discriminator, fake_b))
                         + self.g_loss_fn(self.frozen(self.discriminator_a, fake_a)))
            g_loss = adv + self.cycle_weight * cycle
            if self.identity_weight:
                identity = (l1(self.generator(real_b, training=True), real_b)
                            + l1(self.generator_ba(real_a, training=True), real_a))
                g_loss += self.identity_weight * self.cycle_weight * identity
            else:
                identity = tf.constant(0.0)
            scaled = self.scaled(self.g_optimizer, g_loss)
        self.apply_gradients(self.g_optimizer, tape, scaled, self.generator_variables)
        return dict(g_loss=g_loss, g_adv_loss=adv, cycle_loss=cycle, identity_loss=identity)

    # No Python control flow on tensors in here (the pool uses tf.while_loop), so AutoGraph's
    # source conversion is skipped, as Keras's own train function does.
    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise ValueError("CycleGAN trains on (a_batch, b_batch) pairs: use a two-domain "
                             "source (cyclegan:PATH or tfds:cycle_gan/NAME)")
        real_a, real_b = data
        logs = self.d_step(real_a, real_b)
        logs.update(self.g_step(real_a, real_b))
        logs["loss"] = logs["d_loss"] + logs["g_loss"]
        for name, tracker in self.trackers.items():
            tracker.update_state(logs[name])
        return {name: t.result() for name, t in self.trackers.items()}
