"""WGAN (Arjovsky et al. 2017) and WGAN-GP (Gulrajani et al. 2017) on DCGAN networks.

WGAN: Wasserstein loss, critic weights clipped to [-0.01, 0.01], 5 critic steps per
G step (RMSprop 5e-5 in its config). WGAN-GP: gradient penalty lambda=10 instead of
clipping, and no batch norm in the critic (the penalty is per sample).
"""
from ganzoo.models.dcgan import DCGAN


class WGAN(DCGAN):
    def __init__(self, loss="wasserstein", n_critic=5, clip_value=0.01, **kwargs):
        super().__init__(loss=loss, n_critic=n_critic, clip_value=clip_value, **kwargs)


class WGANGP(DCGAN):
    def __init__(self, loss="wasserstein", n_critic=5, gp_weight=10.0, d_norm="layer", **kwargs):
        super().__init__(loss=loss, n_critic=n_critic, gp_weight=gp_weight, d_norm=d_norm, **kwargs)
