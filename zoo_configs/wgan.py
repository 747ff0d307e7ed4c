"""WGAN (Arjovsky et al. 2017): weight clipping 0.01, RMSprop 5e-5, 5 critic steps, batch 64."""
from ganzoo.config import base_config, optimizer


def get_config(dataset="mnist"):
    config = base_config("wgan", dataset, width=64, n_critic=5, clip_value=0.01)
    config.train.batch_size = 64
    config.train.d_optimizer = optimizer("rmsprop", 5e-5)
    config.train.g_optimizer = optimizer("rmsprop", 5e-5)
    return config
