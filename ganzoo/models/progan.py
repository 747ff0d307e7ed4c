"""Progressive GAN (Karras et al. 2018): grow G and D from 4x4 to ``max_resolution``.

Networks. G and D hold every block up to ``max_resolution`` from the start (so every variable
exists before a checkpoint restore); only the blocks up to the current resolution run.
G: z -> pixel norm -> dense to 4x4 -> conv 3x3, then per doubling: nearest x2, two conv 3x3,
each followed by LeakyReLU(0.2) and pixel norm; a 1x1 toRGB per resolution, linear output.
D mirrors it: a 1x1 fromRGB per resolution, per halving two conv 3x3 and 2x2 average pooling;
at 4x4 minibatch stddev, conv 3x3, dense, dense to 1. Every weight uses the equalized learning
rate (``ganzoo.layers``). Widths: ``nf(s) = min(fmap_base / 2^(s * fmap_decay), fmap_max)``
for the block at resolution 2^(s+1) (paper: fmap_base 8192, fmap_max 512).

Fade-in. While a new resolution r fades in, G outputs
``alpha * toRGB_r(block_r(h)) + (1 - alpha) * up2(toRGB_{r/2}(h))`` and D reads
``alpha * block_r(fromRGB_r(x)) + (1 - alpha) * fromRGB_{r/2}(avgpool(x))``; real images are
blended the same way (``alpha * x + (1 - alpha) * up2(avgpool(x))``) so that D cannot tell real
from fake by sharpness alone. alpha lives in a non-trainable variable of each network, set by
``before_step``; G's current resolution is a Python attribute read when a step is traced, and
D's is the static size of its input. So one ``tf.function`` serves one resolution (its fade and
its stabilise phase): the training loop re-makes it, and the data pipeline at the new
resolution and batch size, when ``stage(step)`` changes.

Schedule. Phases: stabilise 4x4, then for each doubling a fade phase and a stabilise phase,
each ``images_per_phase`` images long (paper: 800k). A phase at resolution r runs
``ceil(images_per_phase / batch(r))`` steps, where ``batch(r) = batch_sizes[log2(r) - 2]``
(the last entry repeats for higher resolutions). So ``train.steps`` drives the schedule: the
images seen by step s are the sum of the batch sizes of steps 0..s-1, and ``ProGAN.schedule``
lists the phases with their first steps. Steps beyond the last phase keep training at
``max_resolution`` with alpha = 1; a run shorter than the schedule ends (and exports) at the
resolution it reached. ``train.batch_size`` is not used.

Loss: WGAN-GP (lambda 10) plus the drift term 0.001 * E[D(x)^2], n_critic 1, Adam 1e-3,
betas (0, 0.99) in the config. Samples and the export use the moving average of G's weights
(``ema_decay``, paper 0.999; ``engine.WeightAverage``). Not implemented: the reset of the Adam
state at each new resolution.
"""
import bisect
import logging
import math
from typing import NamedTuple

import keras
import tensorflow as tf

from ganzoo import layers as L
from ganzoo.engine import GANModel

log = logging.getLogger("ganzoo")


def log2_resolution(resolution):
    k = int(round(math.log2(resolution))) if resolution > 0 else 0
    if resolution < 4 or 2 ** k != resolution:
        raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
    return k


def resolutions_up_to(max_resolution):
    return [2 ** k for k in range(2, log2_resolution(max_resolution) + 1)]


def num_features(stage, fmap_base, fmap_max, fmap_decay=1.0):
    """Channels of the block at resolution 2^(stage + 1)."""
    return max(1, min(int(fmap_base / 2.0 ** (stage * fmap_decay)), int(fmap_max)))


def _lrelu(x):
    return tf.maximum(x, x * 0.2)


def _lerp(low, high, alpha):
    alpha = tf.cast(alpha, high.dtype)
    return high * alpha + low * (1.0 - alpha)  # exact at alpha 0 and 1


def _fade_variable(layer):
    return layer.add_weight(shape=(), name="alpha", initializer="ones", trainable=False,
                            dtype="float32", autocast=False)


class Generator(keras.Model):
    """z [N, latent_dim] -> images [N, r, r, channels] (float32) at ``resolution`` (default: the
    current one, ``self.resolution``) with fade-in weight ``alpha`` (default: ``self.alpha``)."""

    def __init__(self, latent_dim, max_resolution, channels, nf, name="generator", **kwargs):
        super().__init__(name=name, **kwargs)
        self.latent_dim, self.max_resolution, self.channels = latent_dim, max_resolution, channels
        self.resolutions = resolutions_up_to(max_resolution)
        self.resolution = 4
        self.nf = nf
        c4 = nf(1)
        self.dense = L.EqualizedDense(4 * 4 * c4, gain=L.HE_GAIN / 4, name="dense_4x4")
        self.conv4 = L.EqualizedConv2D(c4, 3, name="conv_4x4")
        self.blocks = []
        for r in self.resolutions[1:]:
            c = nf(log2_resolution(r) - 1)
            self.blocks.append([L.EqualizedConv2D(c, 3, name=f"conv0_{r}x{r}"),
                                L.EqualizedConv2D(c, 3, name=f"conv1_{r}x{r}")])
        self.to_rgb = [L.EqualizedConv2D(channels, 1, gain=1.0, name=f"to_rgb_{r}x{r}")
                       for r in self.resolutions]
        self.build((None, latent_dim))

    def build(self, input_shape):
        c4 = self.nf(1)
        self.dense.build((None, self.latent_dim))
        self.conv4.build((None, 4, 4, c4))
        c_prev = c4
        for r, (conv0, conv1) in zip(self.resolutions[1:], self.blocks):
            c = self.nf(log2_resolution(r) - 1)
            conv0.build((None, r, r, c_prev))
            conv1.build((None, r, r, c))
            c_prev = c
        for r, to_rgb in zip(self.resolutions, self.to_rgb):
            to_rgb.build((None, r, r, self.nf(log2_resolution(r) - 1)))
        self.alpha = _fade_variable(self)
        self.built = True

    def features(self, z, resolution):
        """Feature maps at ``resolution`` and at half of it (None at 4x4)."""
        h = self.dense(L.pixel_norm(z))
        h = tf.reshape(h, [-1, 4, 4, self.nf(1)])
        h = L.pixel_norm(_lrelu(h))
        h = L.pixel_norm(_lrelu(self.conv4(h)))
        previous = None
        for r, (conv0, conv1) in zip(self.resolutions[1:], self.blocks):
            if r > resolution:
                break
            previous = h
            h = L.upsample2x(h)
            h = L.pixel_norm(_lrelu(conv0(h)))
            h = L.pixel_norm(_lrelu(conv1(h)))
        return h, previous

    def call(self, z, training=False, resolution=None, alpha=None):
        resolution = int(resolution or self.resolution)
        k = log2_resolution(resolution) - 2
        if resolution > self.max_resolution:
            raise ValueError(f"resolution {resolution} is above max_resolution "
                             f"{self.max_resolution}")
        h, previous = self.features(z, resolution)
        out = self.to_rgb[k](h)
        if previous is not None:
            low = L.upsample2x(self.to_rgb[k - 1](previous))
            out = _lerp(low, out, self.alpha if alpha is None else alpha)
        return tf.cast(out, tf.float32)

    def blocks_and_layers(self):
        return [self.dense, self.conv4, *[c for b in self.blocks for c in b], *self.to_rgb]


class Discriminator(keras.Model):
    """images [N, r, r, channels] at any resolution r <= max_resolution (read from the input's
    static shape) -> float32 logits [N, 1], fading in with ``alpha`` (default ``self.alpha``)."""

    def __init__(self, max_resolution, channels, nf, mbstd_group_size=4, name="discriminator",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.max_resolution, self.channels, self.nf = max_resolution, channels, nf
        self.resolutions = resolutions_up_to(max_resolution)
        self.from_rgb = [L.EqualizedConv2D(nf(log2_resolution(r) - 1), 1, name=f"from_rgb_{r}x{r}")
                         for r in self.resolutions]
        self.blocks = []  # blocks[i] takes resolutions[i + 1] down to resolutions[i]
        for r in self.resolutions[1:]:
            k = log2_resolution(r)
            self.blocks.append([L.EqualizedConv2D(nf(k - 1), 3, name=f"conv0_{r}x{r}"),
                                L.EqualizedConv2D(nf(k - 2), 3, name=f"conv1_{r}x{r}")])
        self.mbstd = L.MinibatchStddev(mbstd_group_size) if mbstd_group_size > 1 else None
        self.conv4 = L.EqualizedConv2D(nf(1), 3, name="conv_4x4")
        self.dense0 = L.EqualizedDense(nf(0), name="dense0_4x4")
        self.dense1 = L.EqualizedDense(1, gain=1.0, name="dense1_4x4")
        self.build((None, max_resolution, max_resolution, channels))

    def build(self, input_shape):
        for r, from_rgb in zip(self.resolutions, self.from_rgb):
            from_rgb.build((None, r, r, self.channels))
        for r, (conv0, conv1) in zip(self.resolutions[1:], self.blocks):
            k = log2_resolution(r)
            conv0.build((None, r, r, self.nf(k - 1)))
            conv1.build((None, r, r, self.nf(k - 1)))
        extra = 0
        if self.mbstd is not None:
            self.mbstd.build((None, 4, 4, self.nf(1)))
            extra = 1
        self.conv4.build((None, 4, 4, self.nf(1) + extra))
        self.dense0.build((None, 4 * 4 * self.nf(1)))
        self.dense1.build((None, self.nf(0)))
        self.alpha = _fade_variable(self)
        self.built = True

    def block(self, i, h):
        conv0, conv1 = self.blocks[i]
        return L.downsample2x(_lrelu(conv1(_lrelu(conv0(h)))))

    def call(self, x, training=False, alpha=None):
        resolution = x.shape[1]
        if resolution is None or resolution > self.max_resolution:
            raise ValueError(f"images of static size up to {self.max_resolution} expected, "
                             f"got shape {x.shape}")
        k = log2_resolution(resolution) - 2
        h = _lrelu(self.from_rgb[k](x))
        if k > 0:
            h = self.block(k - 1, h)
            low = _lrelu(self.from_rgb[k - 1](L.downsample2x(x)))
            h = _lerp(low, h, self.alpha if alpha is None else alpha)
            for i in range(k - 2, -1, -1):
                h = self.block(i, h)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = _lrelu(self.conv4(h))
        h = _lrelu(self.dense0(tf.reshape(h, [-1, 4 * 4 * self.nf(1)])))
        return tf.cast(self.dense1(h), tf.float32)

    def blocks_and_layers(self):
        return [*self.from_rgb, *[c for b in self.blocks for c in b], self.conv4, self.dense0,
                self.dense1] + ([self.mbstd] if self.mbstd is not None else [])


class Phase(NamedTuple):
    index: int
    resolution: int
    fading: bool
    first_step: int
    steps: int           # steps this phase runs (the last phase runs on)
    batch_size: int


class State(NamedTuple):
    """Where step ``step`` is in the schedule."""
    phase: int
    resolution: int
    fading: bool
    alpha: float
    phase_images: int    # images of this phase seen before this step
    batch_size: int


class Schedule:
    """Phases of ``images_per_phase`` images each: stabilise 4x4, then fade + stabilise per
    doubling up to ``max_resolution``."""

    def __init__(self, max_resolution, images_per_phase, batch_sizes):
        if images_per_phase < 1:
            raise ValueError(f"images_per_phase must be positive, got {images_per_phase}")
        batch_sizes = [int(b) for b in (batch_sizes if isinstance(batch_sizes, (list, tuple))
                                        else [batch_sizes])]
        if not batch_sizes or min(batch_sizes) < 1:
            raise ValueError(f"batch_sizes must be positive integers, got {batch_sizes}")
        self.images_per_phase = int(images_per_phase)
        self.resolutions = resolutions_up_to(max_resolution)
        self.batch = {r: batch_sizes[min(i, len(batch_sizes) - 1)]
                      for i, r in enumerate(self.resolutions)}
        kinds = [(4, False)] + [(r, fade) for r in self.resolutions[1:] for fade in (True, False)]
        self.phases, start = [], 0
        for i, (r, fade) in enumerate(kinds):
            steps = -(-self.images_per_phase // self.batch[r])
            self.phases.append(Phase(i, r, fade, start, steps, self.batch[r]))
            start += steps
        self.total_steps = start  # the end of the last stabilise phase
        self._starts = [p.first_step for p in self.phases]

    def at(self, step):
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        p = self.phases[bisect.bisect_right(self._starts, step) - 1]
        images = (step - p.first_step) * p.batch_size
        alpha = min(images / self.images_per_phase, 1.0) if p.fading else 1.0
        return State(p.index, p.resolution, p.fading, alpha, images, p.batch_size)

    def images_before(self, step):
        """Images seen (generator batches) in steps 0..step-1."""
        total = 0
        for p in self.phases:
            steps = step - p.first_step if p is self.phases[-1] else min(step - p.first_step, p.steps)
            total += max(0, steps) * p.batch_size
        return total

    def describe(self):
        return "; ".join(f"{'fade' if p.fading else 'stabilise'} {p.resolution}x{p.resolution}: "
                         f"steps {p.first_step}-{p.first_step + p.steps - 1} (batch {p.batch_size})"
                         for p in self.phases) + f"; then {self.resolutions[-1]} on"


class ProGAN(GANModel):
    def __init__(self, max_resolution=64, channels=3, latent_dim=512, fmap_base=8192,
                 fmap_max=512, fmap_decay=1.0, images_per_phase=800_000,
                 batch_sizes=(16, 16, 16, 16, 16, 16, 14, 6, 3), mbstd_group_size=4,
                 loss="wasserstein", n_critic=1, gp_weight=10.0, drift_weight=0.001, **kwargs):
        log2_resolution(max_resolution)

        def nf(stage):
            return num_features(stage, fmap_base, fmap_max, fmap_decay)

        super().__init__(Generator(latent_dim, max_resolution, channels, nf),
                         Discriminator(max_resolution, channels, nf, mbstd_group_size),
                         latent_dim=latent_dim, loss=loss, n_critic=n_critic, gp_weight=gp_weight,
                         drift_weight=drift_weight, **kwargs)
        self.max_resolution, self.channels = int(max_resolution), int(channels)
        self.schedule = Schedule(max_resolution, images_per_phase, batch_sizes)
        # Progress through the schedule, saved in checkpoints: the values used by the last step
        # trained (0 before any), checked against the schedule when a run resumes.
        self.progress = dict(
            alpha=keras.Variable(1.0, dtype="float32", trainable=False, name="progress_alpha"),
            resolution=keras.Variable(0, dtype="int32", trainable=False, name="progress_resolution"),
            phase=keras.Variable(0, dtype="int32", trainable=False, name="progress_phase"),
            phase_images=keras.Variable(0, dtype="int64", trainable=False,
                                        name="progress_phase_images"))
        self._checked_resume = False
        log.info("ProGAN schedule (%d images per phase): %s", self.schedule.images_per_phase,
                 self.schedule.describe())

    # ---- schedule hooks --------------------------------------------------------
    def stage(self, step):
        state = self.schedule.at(step)
        return {"data": {"resolution": state.resolution}, "batch_size": state.batch_size}

    def before_step(self, step):
        state = self.schedule.at(step)
        if not self._checked_resume:
            self._checked_resume = True
            self.check_resume(step)
        self.set_alpha(state.alpha)
        self.generator.resolution = state.resolution
        p = self.progress
        p["alpha"].assign(state.alpha)
        p["resolution"].assign(state.resolution)
        p["phase"].assign(state.phase)
        p["phase_images"].assign(state.phase_images)

    def check_resume(self, step):
        """The restored progress must be the schedule's for the last step trained."""
        stored = int(self.progress["resolution"].numpy())
        if step == 0 or stored == 0:
            return
        expected = self.schedule.at(step - 1)
        got = (stored, int(self.progress["phase"].numpy()), float(self.progress["alpha"].numpy()))
        want = (expected.resolution, expected.phase, expected.alpha)
        if got[:2] != want[:2] or abs(got[2] - want[2]) > 1e-6:
            raise AssertionError(
                f"the checkpoint at step {step} holds resolution {got[0]}, phase {got[1]}, "
                f"alpha {got[2]:.6f}, but the schedule gives resolution {want[0]}, phase "
                f"{want[1]}, alpha {want[2]:.6f} for its last step {step - 1}")
        log.info("resuming at step %d: %dx%d, %s, alpha %.4f", step, stored, stored,
                 "fading in" if expected.fading else "stabilising", got[2])

    def set_alpha(self, alpha):
        self.generator.alpha.assign(alpha)
        self.discriminator.alpha.assign(alpha)

    def _restore_current(self):
        """After a restore with no step to run: G at the checkpoint's resolution and alpha."""
        stored = int(self.progress["resolution"].numpy())
        if stored:
            self.generator.resolution = stored
            self.set_alpha(float(self.progress["alpha"].numpy()))

    @property
    def resolution(self):
        return self.generator.resolution

    def checkpoint_items(self):
        items = super().checkpoint_items()
        items.update({f"progress_{k}": v for k, v in self.progress.items()})
        return items

    def build_networks(self):
        """Every block of G and D is built in their constructors; check it, then build the
        optimizers over all of them."""
        for net in (self.generator, self.discriminator):
            unbuilt = [layer.name for layer in net.blocks_and_layers() if not layer.built]
            if unbuilt or not net.built:
                raise RuntimeError(f"{net.name}: layers not built: {unbuilt}")
        self.build_optimizers()
        self.build_average()

    # ---- training ----------------------------------------------------------------
    @staticmethod
    def apply_gradients(optimizer, tape, loss, variables):
        """Only the blocks in use get gradients; update just those (no None-gradient noise)."""
        grads = tape.gradient(loss, variables)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])

    def blend_reals(self, real):
        """During a fade, real images get the same blend of resolutions as G's output."""
        if real.shape[1] is None or real.shape[1] <= 4:
            return real
        low = L.upsample2x(L.downsample2x(real))
        return _lerp(low, real, self.discriminator.alpha)

    def train_step(self, data):
        real, labels = self.unpack(data)
        real = self.blend_reals(real)
        return super().train_step(real if labels is None else (real, labels))

    # ---- outputs -----------------------------------------------------------------
    def preview(self, inputs):
        """A grid at the current resolution (not upsampled)."""
        self._restore_current()
        return super().preview(inputs)

    def export(self, path, metadata=None):
        """The generator at the current resolution and alpha (the final one after a full run)."""
        self._restore_current()
        metadata = dict(metadata or {}, alpha=float(self.generator.alpha.numpy()),
                        max_resolution=self.max_resolution)
        return super().export(path, metadata=metadata)
