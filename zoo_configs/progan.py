"""Progressive GAN (Karras et al. 2018): grows 4x4 -> model.max_resolution.

WGAN-GP (lambda 10) + drift 0.001, n_critic 1, Adam 1e-3 betas (0, 0.99), pixel norm,
minibatch stddev, equalized learning rate, fade-in over ``images_per_phase`` images; samples
and export from the moving average of G's weights (``model.ema_decay`` 0.999, 0 = off). The
paper's 0.999 spans ~1,000 steps, longer than a phase here (625 steps at 64x64): in the first
~1,000 steps at a new resolution the average still holds the new blocks' initial weights
(measured at step 3,500: FID 224.6 averaged vs 97.7 raw); by the end it wins (step 4,750:
67.7 vs 79.1, celeba protocol of ganzoo/evaluate.py).

Schedule (see ganzoo/models/progan.py): stabilise 4x4, then fade + stabilise per doubling, each
phase ``model.images_per_phase`` images at that resolution's batch size. ``model.batch_sizes``
is a tuple aligned with the resolutions 4, 8, 16, 32, 64, 128, ... (the last entry repeats);
``train.batch_size`` is not used. ``train.steps`` counts steps of those batch sizes; the phase
table (first step of every phase) is logged when the model is built, and the whole schedule
ends after sum_phases ceil(images_per_phase / batch) steps; later steps keep training at
max_resolution.

The defaults are sized for a 2-core CPU (narrow nets, short phases). The paper's CelebA-HQ
setting: --config.model.max_resolution=1024 --config.model.latent_dim=512
--config.model.fmap_base=8192 --config.model.fmap_max=512 --config.model.images_per_phase=800000
--config.model.batch_sizes=(16,16,16,16,16,16,14,6,3).
"""
from ganzoo.config import base_config, optimizer


def get_config(dataset="celeba"):
    config = base_config(
        "progan", dataset, max_resolution=64, fmap_base=1024, fmap_max=128,
        fmap_decay=1.0, images_per_phase=10000, batch_sizes=(32, 32, 32, 16, 16),
        mbstd_group_size=4, loss="wasserstein", n_critic=1, gp_weight=10.0, drift_weight=0.001,
        ema_decay=0.999)
    config.model.latent_dim = 128
    del config.model["resolution"]  # grows to max_resolution; data.resolution is set per stage
    config.train.batch_size = 16    # unused: model.batch_sizes sets it per resolution
    config.train.d_optimizer = optimizer("adam", 1e-3, beta_1=0.0, beta_2=0.99, epsilon=1e-8)
    config.train.g_optimizer = optimizer("adam", 1e-3, beta_1=0.0, beta_2=0.99, epsilon=1e-8)
    config.data.random_flip = True  # mirror augmentation, as the paper does for CelebA-HQ
    config.train.steps = 4065       # the schedule's end at these defaults (4 -> 64)
    config.train.sample_every = 250
    config.train.checkpoint_every = 250
    return config
