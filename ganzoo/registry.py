"""The pretrained models: plain dicts. ``sha256`` pins the SavedModel tree
(``ganzoo.hub.tree_sha256`` of ``saved_models/<name>/<version>/``); ``url`` (http, https or
file) is where a copy lives when the repository's folder is absent."""
from ganzoo.lookup import lookup

LICENCES = {
    "mnist": "MNIST (Y. LeCun, C. Cortes), via an MIT-licensed repackaging",
    "cifar10": "CIFAR-10 (A. Krizhevsky); re-encoded as JPEG here",
    "celeba": "CelebA: non-commercial research purposes only",
    "face2genshin": "face2genshin: collected from the internet by its publisher; research and "
                    "testing only",
}

MODELS = {
    "progan_celeba": dict(version=1, variant="progan", dataset="celeba",
                          sha256="8397285d3b0bcc109309237641542a7625e66c8494e83c265e8434b3a059b732",
                          url=None),
    "dcgan_cifar10": dict(version=1, variant="dcgan", dataset="cifar10",
                          sha256="fbd44c6ae2dc56d8dc9b005642771fba25887131b891c9aaeb27bdd2bdc76eb4",
                          url=None),
    "cyclegan_face2genshin": dict(
        version=1, variant="cyclegan", dataset="face2genshin",
        sha256="a16a03b25cf66c7ebd1e9911f78ffa2e0e1a418c9caf7d98287e986099450ba4", url=None),
    "wgan_mnist": dict(version=1, variant="wgan", dataset="mnist",
                       sha256="0fd8e7da0269753d7296d58bc831508bb86982acd754d1c278e924ac6d514f89",
                       url=None),
    "gan_mnist": dict(version=1, variant="gan", dataset="mnist",
                      sha256="827b846421fefc0f8065df641b74bde2b32ac126295ba3915c32db1153cb0253",
                      url=None),
    "cgan_mnist": dict(version=1, variant="cgan", dataset="mnist",
                       sha256="10d5b552f993bd7da72079a8aaf022afcb18c20c8269f18373d57352c86d4240",
                       url=None),
    "dcgan_mnist": dict(version=1, variant="dcgan", dataset="mnist",
                        sha256="105c0f424e53458b9f825cfde93bb5dc21719eb1245ae98fca0b1c2a3db13eb9",
                        url=None),
}


def list_models():
    return sorted(MODELS)


def get(name):
    return lookup(MODELS, name, "pretrained model")
