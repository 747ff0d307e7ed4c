"""ganzoo-eval NAME|SAVEDMODEL|gmm:DATASET|real:DATASET|all[:NAME,...]|table --metric=fid,kid,pr --num=N

Scores the exported SavedModel (not a training object) against its dataset's reference images
through a feature extractor (see ``ganzoo.evaluate``). ``gmm:DATASET`` scores the Gaussian
mixture floor, ``real:DATASET`` held-out real images (the ceiling). ``all`` scores every
pretrained model (``all:A,B`` the named ones) beside its floor and ceiling; with
``--update_cards`` it writes the metrics into the model cards and ``saved_models/baselines.json``
and prints the README table. ``table`` prints that table from the cards without evaluating.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from ganzoo.cli import flags_parser, user_errors  # noqa: E402

_TRUST = flags.DEFINE_bool("trust", False, "Allow a SavedModel folder instead of a registry name. "
                           "A SavedModel is a program: only for folders whose author you trust.")

_METRIC = flags.DEFINE_list("metric", ["fid", "kid", "pr", "is", "accuracy"],
                            "Metrics: fid, kid, pr (precision/recall), is, accuracy.")
_EXTRACTOR = flags.DEFINE_string("extractor", None, "Feature extractor (default: the dataset's).")
_NUM = flags.DEFINE_integer("num", None, "Generated images (default: the protocol's).")
_SEED = flags.DEFINE_integer("seed", 0, "First sampling seed.")
_DATASET = flags.DEFINE_string("dataset", None, "Dataset protocol (default: the model card's).")
_UPDATE = flags.DEFINE_bool("update_cards", False, "With 'all': write metrics into the cards.")
_JSON = flags.DEFINE_string("json", None, "Also write the result as JSON here.")


def evaluate(target):
    import ganzoo
    from ganzoo import evaluate
    wanted = set(_METRIC.value)
    unknown = wanted - set(evaluate.ALL_METRICS)
    if unknown:
        raise ValueError(f"unknown metric(s) {sorted(unknown)}; choose from {evaluate.ALL_METRICS}")
    from ganzoo.hub import REPO_MODELS
    baselines = os.path.join(REPO_MODELS, "baselines.json")
    if target == "table":
        results = evaluate.results_from_cards(baselines)
        print(evaluate.markdown_table(results))
        return results
    if target == "all" or target.startswith("all:"):
        names = target[4:].split(",") if target.startswith("all:") else None
        results = evaluate.evaluate_all(names, metrics_wanted=wanted, update_cards=_UPDATE.value,
                                        baselines=baselines)
        print(evaluate.markdown_table(results))
        return results
    kind, _, dataset = target.partition(":")
    if kind in ("gmm", "real") and dataset:
        ev = evaluate.Evaluator(dataset, _EXTRACTOR.value, _NUM.value, _SEED.value, wanted)
        return ev.floor() if kind == "gmm" else ev.ceiling()
    model = ganzoo.load(target, trust=_TRUST.value)
    dataset = _DATASET.value or (model.card.get("dataset") or {}).get("name")
    if not dataset:
        raise ValueError(f"{target} has no model card naming its dataset; pass --dataset")
    ev = evaluate.Evaluator(dataset, _EXTRACTOR.value, _NUM.value, _SEED.value, wanted)
    return ev.model(model)


def main(argv):
    if len(argv) != 2:
        raise app.UsageError("usage: ganzoo-eval NAME|SAVEDMODEL|gmm:DATASET|real:DATASET|all|table "
                             "[--metric=fid,kid,pr --num=N]")
    with user_errors("ganzoo-eval"):
        result = evaluate(argv[1])
    text = json.dumps(result, indent=2, sort_keys=True)
    if argv[1] != "table" and not argv[1].startswith("all"):
        print(text)
    if _JSON.value:
        with open(_JSON.value, "w") as f:
            f.write(text + "\n")


def run():
    app.run(main, flags_parser=flags_parser("ganzoo-eval"))


if __name__ == "__main__":
    run()
