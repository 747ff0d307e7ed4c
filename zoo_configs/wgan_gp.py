"""WGAN-GP (Gulrajani et al. 2017): gradient penalty 10, Adam 1e-4 betas (0, 0.9), 5 critic steps."""
from ganzoo.config import base_config, optimizer


def get_config(dataset="cifar10"):
    config = base_config("wgan_gp", dataset, width=64, n_critic=5, gp_weight=10.0)
    config.train.batch_size = 64
    config.train.d_optimizer = optimizer("adam", 1e-4, beta_1=0.0, beta_2=0.9)
    config.train.g_optimizer = optimizer("adam", 1e-4, beta_1=0.0, beta_2=0.9)
    return config
