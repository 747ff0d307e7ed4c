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

def _entry(variant, dataset, sha256, version=1, url=None):
    return dict(variant=variant, dataset=dataset, sha256=sha256, version=version, url=url)


MODELS = {
    "gan_mnist": _entry("gan", "mnist",
        "827b846421fefc0f8065df641b74bde2b32ac126295ba3915c32db1153cb0253"),
    "cgan_mnist": _entry("cgan", "mnist",
        "10d5b552f993bd7da72079a8aaf022afcb18c20c8269f18373d57352c86d4240"),
    "dcgan_mnist": _entry("dcgan", "mnist",
        "105c0f424e53458b9f825cfde93bb5dc21719eb1245ae98fca0b1c2a3db13eb9"),
    "dcgan_cifar10": _entry("dcgan", "cifar10",
        "fbd44c6ae2dc56d8dc9b005642771fba25887131b891c9aaeb27bdd2bdc76eb4"),
    "wgan_mnist": _entry("wgan", "mnist",
        "8b2ea36fed1a2b13f70b3af55d8a85a4ee862f602bea79c26dcb7c20b40ff395", version=2),
    "wgan_gp_cifar10": _entry("wgan_gp", "cifar10",
        "c830eaae41c27e07b4afd3905d408166fba4fc845803a6f8cf09eae4e96b6283"),
    "cyclegan_face2genshin": _entry("cyclegan", "face2genshin",
        "589fab53ff7f5f0da3d489a40237b657b85dd205c57ef012e46e0b05429ba095", version=2),
    "progan_celeba": _entry("progan", "celeba",
        "6a0e1d758a17f3c8c2a890005f54890bf21ad3763bf577a710e72dd7496a119b", version=2),
}


def list_models():
    return sorted(MODELS)


def get(name):
    return lookup(MODELS, name, "pretrained model")
