"""Turn a finished training run into a pretrained model of the zoo (a maintainer's tool):

    python -m ganzoo.publish --workdir=runs/dcgan_mnist --name=dcgan_mnist --dataset=mnist

copies ``WORKDIR/export`` to ``saved_models/NAME/VERSION/``, writes ``model_card.json`` and
``samples.png`` beside it, and prints the registry entry (with the sha256) to paste into
``ganzoo/registry.py``.
"""
import argparse
import datetime
import os
import shutil

from ganzoo import hub, images, registry


def _size(path):
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(path) for n in names)


def publish(workdir, name, dataset, version=1, out=hub.REPO_MODELS, sample_seed=0):
    src = os.path.join(workdir, "export")
    dest = os.path.join(out, name, str(version))
    if os.path.exists(dest):
        raise FileExistsError(f"{dest} exists; publish a new version instead of overwriting")
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    try:
        card = _document(tmp, workdir, name, dataset, version, sample_seed)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.rename(tmp, dest)
    return card


def _document(tmp, workdir, name, dataset, version, sample_seed):
    """Write samples.png and model_card.json into the copied SavedModel folder."""
    from ganzoo.pretrained import Pretrained
    model = Pretrained(tmp, card={})
    if model.kind == "noise":
        picture = images.grid(model.sample(64 if model.resolution <= 32 else 16, seed=sample_seed),
                              cols=model.num_classes if 0 < model.num_classes <= 16 else None)
    else:  # translation models: the run's last preview grid (inputs, translations, cycles)
        grids = sorted(os.listdir(os.path.join(workdir, "samples")))
        from PIL import Image
        import numpy as np
        picture = np.asarray(Image.open(os.path.join(workdir, "samples", grids[-1])))
    images.save_png(os.path.join(tmp, "samples.png"), picture)
    info = model.info
    runtime = info.get("runtime", {})
    sha = hub.tree_sha256(tmp)
    card = dict(
        name=name, version=version, variant=info["config"]["model"]["variant"],
        kind=model.kind, resolution=model.resolution, channels=model.channels,
        latent_dim=model.latent_dim, num_classes=model.num_classes,
        dataset=dict(name=dataset, source=info["config"]["data"]["source"],
                     split=info["config"]["data"].get("split", "train"),
                     licence=registry.LICENCES.get(dataset, "unknown"),
                     restriction="The model carries the dataset's licence restrictions."),
        training=dict(steps=info.get("step"), images_seen=info.get("images_seen"),
                      critic_images_seen=(info.get("images_seen") or 0)
                      * info["config"]["model"].get("n_critic", 1),
                      wall_time_s=info.get("train_seconds"),
                      precision=runtime.get("precision"), jit_compile=runtime.get("jit_compile"),
                      hardware=dict(device=runtime.get("device"), cpus=runtime.get("cpu_count"),
                                    machine=runtime.get("machine")),
                      tensorflow=runtime.get("tensorflow"), keras=runtime.get("keras"),
                      command="ganzoo-train with the config below"),
        config=info["config"], sha256=sha, size_bytes=_size(tmp),
        published=datetime.date.today().isoformat(),
        samples=f"samples.png (seed {sample_seed})",
    )
    hub.write_json(os.path.join(tmp, "model_card.json"), card)
    return card


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--dataset", required=True, choices=sorted(registry.LICENCES))
    p.add_argument("--version", type=int, default=1)
    args = p.parse_args()
    card = publish(args.workdir, args.name, args.dataset, args.version)
    print(f'    "{args.name}": _entry("{card["variant"]}", "{args.dataset}",\n'
          f'        "{card["sha256"]}", version={args.version}),')


if __name__ == "__main__":
    main()
