"""CycleGAN (Zhu et al. 2017): least-squares GAN loss, cycle lambda 10, identity 0.5 lambda,
50-image history pools, Adam 2e-4 beta1 0.5 with linear decay to zero over the second half,
instance norm, ResNet generators (9 blocks at 256, 6 at 128), 70x70 PatchGANs.

- ``horse2zebra``: the paper's setting: 256x256 (load 286, random crop, flips), 9 blocks,
  batch 1, 200 epochs of max(|trainA|, |trainB|) = 1,334 images = 266,800 steps (100 at the
  full rate, 100 decaying).
- ``face2genshin``: the paper's losses, pools, optimizers and LR schedule at a size the
  project's 2-core CPU trains in about 40 minutes while sharing it with another job (measured:
  0.9 s/step, 4.4 images/s with mixed_bfloat16): 64x64 (load 71, random crop, flips),
  ngf = ndf = 32, 6 blocks, batch 4, 2,500 steps (about 13 epochs of 777). For the paper's
  128x128 networks: ``--config.model.resolution=128 --config.data.resolution=128
  --config.model.ngf=64 --config.model.ndf=64 --config.train.batch_size=1
  --config.train.steps=155400`` (200 epochs).
"""
from ganzoo.config import base_config, optimizer

EPOCH_STEPS = {"horse2zebra": 1334, "face2genshin": 777}  # max(|trainA|, |trainB|)


def get_config(dataset="horse2zebra"):
    config = base_config("cyclegan", dataset, ngf=64, ndf=64, n_blocks=9, cycle_weight=10.0,
                         identity_weight=0.5, pool_size=50)
    del config.model.latent_dim  # no noise input
    config.data.random_flip = True
    config.data.load_size = 0  # 0: 286/256 of the resolution (286 for 256)
    t = config.train
    t.batch_size = 1
    t.steps = 200 * EPOCH_STEPS.get(dataset, 1000)
    t.d_optimizer = optimizer("adam", 2e-4, beta_1=0.5, decay="linear_second_half")
    t.g_optimizer = optimizer("adam", 2e-4, beta_1=0.5, decay="linear_second_half")
    t.num_samples = 8  # columns of the 6-row preview grid (A, A->B, A->B->A, B, B->A, B->A->B)
    t.log_every, t.sample_every, t.checkpoint_every = 100, 1000, 1000

    if dataset == "face2genshin":  # CPU-sized, see the docstring
        for part in (config.model, config.data):
            part.resolution = 64
        config.model.update(ngf=32, ndf=32, n_blocks=6)
        t.batch_size = 4
        t.steps = 2500
        t.sample_every, t.checkpoint_every = 250, 250
    elif config.model.resolution < 256:
        config.model.n_blocks = 6
    return config
