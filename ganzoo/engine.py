"""The base model every GAN in the zoo trains with.

``train_step`` is the two-phase update: ``n_critic`` discriminator steps that only
touch D's variables, then one generator step that only touches G's. The network
that is frozen in a phase runs through ``stateless_call``, so even its
non-trainable state (batch-norm statistics) is left exactly as it was.
"""
import contextlib

import keras
import numpy as np
import tensorflow as tf

from ganzoo import images, losses, penalties


def is_float16(model):
    return model.dtype_policy.name == "mixed_float16"


def num_replicas():
    """Replicas in sync while running on one of them (inside ``strategy.run``); 1 otherwise,
    and always 1 on the default strategy."""
    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def _replicated_seed_generator(seed_generator):
    """Under a multi-replica strategy Keras' SeedGenerator state (aggregation "none") cannot be
    advanced inside ``strategy.run``; every replica computes the same next state, so keep the
    first replica's. Same name, shape and value: checkpoints are unchanged."""
    state = seed_generator.state
    seed_generator.state = keras.Variable(
        state.value, shape=state.shape, dtype=state.dtype, trainable=False,
        aggregation="only_first_replica", name="seed_generator_state")
    return seed_generator


class WeightAverage(tf.Module):
    """Exponential moving average of a list of variables (the paper's G EMA in ProGAN).

    The decay ramps up as ``min(decay, (1 + t) / (10 + t))`` over the first updates (as
    ``tf.train.ExponentialMovingAverage`` with ``num_updates``), so early averages are not
    dominated by the initial weights."""

    def __init__(self, variables, decay, name="generator_average"):
        super().__init__(name=name)
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) (or 0 for off), got {decay}")
        self.decay = float(decay)
        # Every replica computes the same average: keep the first replica's (see SeedGenerator).
        first = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.averages = [tf.Variable(tf.convert_to_tensor(v), trainable=False, aggregation=first,
                                     name=f"ema_{i}") for i, v in enumerate(variables)]
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, aggregation=first,
                                   name="ema_updates")

    def update(self, variables):
        self.updates.assign_add(1)
        t = tf.cast(self.updates, tf.float32)
        beta = tf.minimum(self.decay, (1.0 + t) / (10.0 + t))
        for average, v in zip(self.averages, variables):
            average.assign(beta * average + (1.0 - beta) * tf.cast(v, average.dtype))

    @contextlib.contextmanager
    def applied(self, variables):
        """The averages in ``variables`` for the duration of the block (eager)."""
        saved = [v.numpy() for v in variables]
        for average, v in zip(self.averages, variables):
            v.assign(average)
        try:
            yield
        finally:
            for value, v in zip(saved, variables):
                v.assign(value)


class GANModel(keras.Model):
    """Generator + discriminator trained adversarially.

    Data: ``images`` or ``(images, labels)``. A batch holds ``n_critic`` real
    minibatches (one per critic step, as in WGAN), so its size must divide by
    ``n_critic``; the generator step uses a minibatch of the same size.
    """

    def __init__(self, generator, discriminator, *, latent_dim, num_classes=0,
                 loss="non_saturating", n_critic=1, gp_weight=0.0, r1_weight=0.0,
                 drift_weight=0.0, clip_value=0.0, ema_decay=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_classes)
        self.loss_name = loss
        self.d_loss_fn, self.g_loss_fn, self.value_fn = losses.get(loss)
        self.n_critic = int(n_critic)
        self.gp_weight = float(gp_weight)
        self.r1_weight = float(r1_weight)
        self.drift_weight = float(drift_weight)
        self.clip_value = float(clip_value)
        self.ema_decay = float(ema_decay)
        self.generator_average = None  # WeightAverage, made by build_networks when ema_decay > 0
        self.seed_generator = keras.random.SeedGenerator(seed)
        if tf.distribute.get_strategy().num_replicas_in_sync > 1:  # in a strategy's scope
            _replicated_seed_generator(self.seed_generator)
        names = ["loss", "d_loss", "g_loss"]
        if self.value_fn is not None:
            names.append("value")  # V(D, G)
        if loss == "wasserstein":
            names.append("w_distance")
        if self.gp_weight:
            names.append("gp")
        if self.r1_weight:
            names.append("r1")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}

    # ---- the two networks -------------------------------------------------
    @property
    def conditional(self):
        return self.num_classes > 0

    def _inputs(self, x, labels):
        return [x, labels] if self.conditional else x

    def generate(self, z, labels=None, training=False):
        return self.generator(self._inputs(z, labels), training=training)

    def discriminate(self, x, labels=None, training=False):
        return self.discriminator(self._inputs(x, labels), training=training)

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def sample_latent(self, n):
        return self.replica_slice(
            lambda m: keras.random.normal([m, self.latent_dim], seed=self.seed_generator), n)

    def sample_labels(self, n):
        return self.replica_slice(
            lambda m: keras.random.randint([m], 0, self.num_classes, seed=self.seed_generator), n)

    @staticmethod
    def replica_slice(draw, n):
        """``draw(n)``; inside ``strategy.run`` over R replicas, this replica's ``n`` rows of
        ``draw(n * R)``: every replica draws the global batch's noise from the same seed and
        keeps its own part, so replicas see different noise and the run sees exactly the
        noise one device would draw for the global batch."""
        replicas = num_replicas()
        if replicas == 1:
            return draw(n)
        index = tf.distribute.get_replica_context().replica_id_in_sync_group
        return draw(n * replicas)[index * n:(index + 1) * n]

    @staticmethod
    def frozen(net, inputs, training=True, **kwargs):
        """Run ``net`` with its current weights but without changing any of its state."""
        out, _ = net.stateless_call(net.trainable_variables, net.non_trainable_variables,
                                    inputs, training=training, **kwargs)
        return out

    # ---- hooks the training loop calls (override for models that differ) -------------------
    def build_networks(self):
        """Create every variable (networks and optimizer slots) before a checkpoint restore."""
        z = tf.zeros([2, self.latent_dim])
        labels = tf.zeros([2], tf.int32) if self.conditional else None
        self.discriminate(self.generate(z, labels), labels)
        self.build_optimizers()
        self.build_average()

    def build_average(self):
        if self.ema_decay and self.generator_average is None:
            self.generator_average = WeightAverage(self.generator.trainable_variables,
                                                   self.ema_decay)

    def averaged(self):
        """Context in which G holds its moving-average weights (a no-op without EMA): samples
        and exports are made from the average, training from the raw weights."""
        if self.generator_average is None:
            return contextlib.nullcontext()
        return self.generator_average.applied(self.generator.trainable_variables)

    def stage(self, step):
        """Settings that need new data or a new compiled step, e.g. a resolution, as a dict of
        ``data`` overrides and/or ``batch_size``; ``None`` for models with one shape throughout.
        The loop re-makes the pipeline and the ``tf.function`` only when this value changes."""
        return None

    def before_step(self, step):
        """Per-step state that lives in variables (so nothing retraces), e.g. a fade-in weight."""

    def preview_inputs(self, config, num):
        """The fixed inputs every sample grid of a run is made from."""
        z = tf.random.stateless_normal([num, self.latent_dim], seed=[config.train.seed, 1])
        labels = None
        if self.conditional:
            labels = tf.constant(np.arange(num) % self.num_classes, tf.int32)
        return z, labels

    def preview(self, inputs):
        """uint8 [H, W, C] grid of generated images for ``preview_inputs``."""
        z, labels = inputs
        with self.averaged():
            pictures = images.to_uint8(self.generate(z, labels, training=False))
        cols = self.num_classes if self.conditional and self.num_classes <= 16 else None
        return images.grid(pictures, cols=cols)

    def export(self, path, metadata=None):
        """Write the generator as a SavedModel with explicit signatures."""
        from ganzoo import export
        if self.generator_average is not None:
            metadata = dict(metadata or {}, generator_weights=f"EMA, decay {self.ema_decay}")
        with self.averaged():
            return export.save_generator(self, path, metadata=metadata)

    # ---- compile ------------------------------------------------------------
    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        # Keras loss-scales only self.optimizer; a GAN has two.
        if is_float16(self.generator) or is_float16(self.discriminator):
            wrap = keras.optimizers.LossScaleOptimizer
            d_optimizer = d_optimizer if isinstance(d_optimizer, wrap) else wrap(d_optimizer)
            g_optimizer = g_optimizer if isinstance(g_optimizer, wrap) else wrap(g_optimizer)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    def build_optimizers(self):
        """Create optimizer slots now, so a checkpoint can restore into them."""
        for opt, net in ((self.d_optimizer, self.discriminator), (self.g_optimizer, self.generator)):
            if not opt.built:
                opt.build(net.trainable_variables)

    def checkpoint_items(self):
        """What a checkpoint holds besides the step: networks, optimizers, noise RNG state."""
        items = dict(generator=self.generator, discriminator=self.discriminator,
                     d_optimizer=self.d_optimizer, g_optimizer=self.g_optimizer,
                     rng=self.seed_generator.state)
        if self.generator_average is not None:
            items["generator_average"] = self.generator_average
        return items

    @property
    def metrics(self):
        return list(self.trackers.values())

    @staticmethod
    def apply_gradients(optimizer, tape, loss, variables):
        grads = tape.gradient(loss, variables)
        optimizer.apply(grads, variables)

    @staticmethod
    def scaled(optimizer, loss):
        """The loss to differentiate. Under R > 1 replicas it is divided by R: each replica's
        loss is a mean over its share of the global batch and Keras' optimizer SUMs gradients
        across replicas, so the update is the one-device update on the global batch."""
        replicas = num_replicas()
        if replicas > 1:
            loss = loss * tf.cast(1.0 / replicas, loss.dtype)
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return optimizer.scale_loss(loss)
        return loss

    @staticmethod
    def clip_weights(variables, clip_value):
        if num_replicas() == 1:
            return penalties.weight_clip(variables, clip_value)

        def clip(strategy):  # replicated variables are updated in cross-replica context
            for v in variables:
                strategy.extended.update(
                    getattr(v, "value", v),
                    lambda var: var.assign(tf.clip_by_value(var, -clip_value, clip_value)),
                    group=False)
        tf.distribute.get_replica_context().merge_call(clip)

    # ---- the two phases -------------------------------------------------------
    def unpack(self, data):
        if isinstance(data, (tuple, list)):
            images, labels = (data[0], data[1]) if len(data) > 1 else (data[0], None)
        else:
            images, labels = data, None
        if self.conditional and labels is None:
            raise ValueError("A conditional GAN needs (images, labels) batches; "
                             "set config.data.labels=True.")
        return images, (labels if self.conditional else None)

    def d_step(self, real, labels):
        n = tf.shape(real)[0]
        z = self.sample_latent(n)
        fake = self.frozen(self.generator, self._inputs(z, labels))
        logs = {}
        with tf.GradientTape() as tape:
            real_logits = self.discriminate(real, labels, training=True)
            fake_logits = self.discriminate(fake, labels, training=True)
            d_loss = self.d_loss_fn(real_logits, fake_logits)
            if self.value_fn is not None:
                logs["value"] = self.value_fn(real_logits, fake_logits)
            if self.loss_name == "wasserstein":
                logs["w_distance"] = -d_loss
            total = d_loss + self.regularisers(real, fake, labels, real_logits, logs)
            scaled = self.scaled(self.d_optimizer, total)
        self.apply_gradients(self.d_optimizer, tape, scaled, self.discriminator.trainable_variables)
        if self.clip_value:
            self.clip_weights(self.discriminator.trainable_variables, self.clip_value)
        logs["d_loss"] = total
        return logs

    def regularisers(self, real, fake, labels, real_logits, logs):
        critic = lambda x: self.discriminate(x, labels, training=True)  # noqa: E731
        total = 0.0
        if self.gp_weight:
            eps_shape = tf.concat([tf.shape(real)[:1], tf.ones([tf.rank(real) - 1], tf.int32)], 0)
            eps = self.replica_slice(lambda m: keras.random.uniform(
                tf.concat([[m], eps_shape[1:]], 0), seed=self.seed_generator), eps_shape[0])
            logs["gp"] = penalties.gradient_penalty(critic, real, fake, eps)
            total += self.gp_weight * logs["gp"]
        if self.r1_weight:
            logs["r1"] = penalties.r1(critic, real)
            total += self.r1_weight * logs["r1"]
        if self.drift_weight:
            total += self.drift_weight * penalties.drift(real_logits)
        return total

    def g_step(self, n, labels):
        if self.conditional and labels is None:
            labels = self.sample_labels(n)
        z = self.sample_latent(n)
        with tf.GradientTape() as tape:
            fake = self.generate(z, labels, training=True)
            fake_logits = self.frozen(self.discriminator, self._inputs(fake, labels))
            g_loss = self.g_loss_fn(fake_logits)
            scaled = self.scaled(self.g_optimizer, g_loss)
        self.apply_gradients(self.g_optimizer, tape, scaled, self.generator.trainable_variables)
        return {"g_loss": g_loss}

    def train_step(self, data):
        real, labels = self.unpack(data)
        k = self.n_critic
        size = real.shape[0]
        if size is not None and size % k:
            raise ValueError(f"Batch of {size} does not split into n_critic={k} minibatches; "
                             f"feed batches of n_critic * batch_size.")
        n = (size or tf.shape(real)[0]) // k
        for i in range(k):  # unrolled: n_critic is small and static
            chunk = slice(i * n, (i + 1) * n)
            part_labels = None if labels is None else labels[chunk]
            logs = self.d_step(real[chunk], part_labels)
        logs.update(self.g_step(n, part_labels))
        if self.generator_average is not None:
            self.generator_average.update(self.generator.trainable_variables)
        logs["loss"] = logs["d_loss"] + logs["g_loss"]
        for name, tracker in self.trackers.items():
            tracker.update_state(logs[name])
        return {name: t.result() for name, t in self.trackers.items()}
