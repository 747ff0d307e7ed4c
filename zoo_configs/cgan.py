"""Conditional GAN (Mirza & Osindero 2014): class labels into G and D, MLP nets."""
from ganzoo.config import base_config, dataset_preset


def get_config(dataset="mnist"):
    config = base_config("cgan", dataset, num_classes=dataset_preset(dataset)["num_classes"],
                         g_hidden=(256, 512, 1024), d_hidden=(512, 256), loss="non_saturating")
    config.train.batch_size = 64
    return config
