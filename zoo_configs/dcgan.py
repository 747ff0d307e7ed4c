"""DCGAN (Radford et al. 2016): Adam 2e-4, beta1 0.5, batch 128, non-saturating loss."""
from ganzoo.config import base_config


def get_config(dataset="mnist"):
    config = base_config("dcgan", dataset, width=64, loss="non_saturating")
    config.train.batch_size = 128
    return config
