"""Vanilla GAN (Goodfellow et al. 2014), MLP nets. ``--config.model.loss=minimax`` trains G on
the paper's E[log(1 - D(G(z)))]; the default is the non-saturating loss the paper recommends."""
from ganzoo.config import base_config


def get_config(dataset="mnist"):
    config = base_config("gan", dataset, g_hidden=(256, 512, 1024), d_hidden=(512, 256),
                         loss="non_saturating")
    config.train.batch_size = 64
    return config
