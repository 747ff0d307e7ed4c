"""A generator for TensorFlow Serving: ``BASE/<name>/<version>/`` and ``BASE/models.config``.

The source is a registry name (the pinned, hash-checked SavedModel), a training run directory
(its ``export/``) or a SavedModel directory. The source is not retrained or rebuilt: its
signatures are re-saved inside a serving module that validates every request first, so a bad
request fails with a clear message instead of crashing the server or returning garbage:

- noise models: ``serving_default(z[, labels])`` and ``sample(num_samples, seed[, labels])``,
  both -> ``{"images": uint8 [N, H, W, C]}``, at most ``MAX_SAMPLES`` images a request
  (``sample`` fails outside [1, MAX_SAMPLES] rather than clamping); ``z`` must have the model's
  width and be finite; labels must lie in [0, num_classes), one per image.
- CycleGAN: ``translate_a2b(images)``, ``translate_b2a(images)`` and ``serving_default`` = a2b,
  uint8 in and out, at most ``MAX_PIXELS`` pixels a request.
- every signature checks the generator's float output for NaN/Inf before the uint8 conversion.

The version directory is written under a temporary name beside it and renamed into place, so
TF Serving, which polls ``BASE/<name>/`` for numeric directories, never loads a half-written one.
``assets.extra/tf_serving_warmup_requests`` holds one small request per signature.
"""
import json
import os
import re
import shutil
import tempfile

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow.python.framework.function_def_to_graph import function_def_to_graph_def

from ganzoo import export, hub, registry, serving

MAX_SAMPLES = export.MAX_SAMPLES
MAX_PIXELS = MAX_SAMPLES * 128 * 128
WARMUP = os.path.join("assets.extra", "tf_serving_warmup_requests")
CONFIG = "models.config"


def resolve(source):
    """(name, SavedModel path, sha256) of a registry name, run directory or SavedModel dir."""
    if os.path.isdir(source):
        path = os.path.join(source, "export")
        path = path if os.path.isdir(path) else source
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"{source} holds no SavedModel (neither saved_model.pb nor "
                                    "export/saved_model.pb)")
        name = os.path.basename(os.path.abspath(source))
        if name.isdigit():  # NAME/VERSION
            name = os.path.basename(os.path.dirname(os.path.abspath(source)))
        return re.sub(r"[^A-Za-z0-9_.-]", "_", name), path, hub.tree_sha256(path)
    if os.sep in source:
        raise FileNotFoundError(f"{source} is not a directory")
    entry = registry.get(source)
    return source, hub.locate(source, entry), entry["sha256"]


def checked(fn):
    """The loaded signature ``fn`` as a graph-building callable of its named inputs, with
    CheckNumerics on the generator's float output right before ``export.to_uint8``, so NaN
    or Inf fails the request instead of becoming pixels. Only the shipped uint8 output is in
    the signature, so this edits a copy of its function body: add -> mul -> round -> clip ->
    cast(uint8) is what ``to_uint8`` compiles to."""
    graph = fn.graph.as_graph_def()
    call, = [n for n in graph.node if n.op in ("StatefulPartitionedCall", "PartitionedCall")]
    called = call.attr["f"].func.name
    body = next(f for f in graph.library.function if f.signature.name == called)
    nodes = {n.name: n for n in body.node_def}
    casts = [n for n in body.node_def
             if n.op == "Cast" and n.attr["DstT"].type == types_pb2.DT_UINT8]
    add = casts[0] if len(casts) == 1 else None
    for op in ("Maximum", "Minimum", "Round", "Mul", "AddV2"):
        add = add and nodes.get(add.input[0].split(":")[0])
        if add is None or add.op != op:
            raise ValueError(f"cannot find the uint8 conversion in {fn.name}; was it written by "
                             "ganzoo.export?")
    check = body.node_def.add(name="check_images", op="CheckNumerics", input=[add.input[0]])
    check.attr["T"].CopyFrom(add.attr["T"])
    check.attr["message"].s = b"the generator produced NaN or Inf"
    add.input[0] = "check_images:output:0"
    flat, names = function_def_to_graph_def(body)
    # functions it may call; not the edited body, whose name the original keeps
    flat.library.function.extend(f for f in graph.library.function
                                 if f.signature.name != called)
    args = [a.name + ":0" for a in body.signature.input_arg]
    outputs = [names[body.ret[a.name]] for a in body.signature.output_arg]
    specs = tf.nest.flatten(fn.structured_input_signature)
    placeholders = {t.op.name: s.name for t, s in zip(fn.inputs, specs)}
    captures = {inner.op.name: outer for outer, inner in fn.graph.captures}

    def run(**inputs):
        feed = {k: inputs[v] for k, v in placeholders.items()}
        feed.update({k: tf.identity(v) for k, v in captures.items()})
        imap = {arg: feed[c.split(":")[0]] for arg, c in zip(args, call.input)}
        images, = tf.graph_util.import_graph_def(flat, input_map=imap, return_elements=outputs,
                                                 name="generator")
        return {"images": images}
    return run


def graph_fn(fn, *specs):
    return tf.function(fn, input_signature=list(specs), autograph=False)


def after(checks, inputs):
    """``inputs`` (None values dropped) gated on ``checks``: nothing runs on a bad request.
    (Only the inputs: import_graph_def fails inside a control_dependencies block.)"""
    with tf.control_dependencies(checks):
        return {k: tf.identity(v) for k, v in inputs.items() if v is not None}


def _noise_signatures(source, latent, classes):
    serve = checked(source.signatures["serving_default"])
    sample = checked(source.signatures["sample"])
    z_spec = tf.TensorSpec([None, latent], tf.float32, name="z")
    num = tf.TensorSpec([], tf.int32, name="num_samples")
    seed = tf.TensorSpec([], tf.int64, name="seed")
    label_spec = tf.TensorSpec([None], tf.int32, name="labels")
    check = tf.debugging

    def label_checks(labels, n):
        bounds = f"labels must lie in [0, {classes})"
        return [check.assert_equal(tf.size(labels), n, message="labels needs one entry per image"),
                check.assert_greater_equal(labels, 0, message=bounds),
                check.assert_less(labels, classes, message=bounds)]

    def serve_checked(z, labels=None):
        shape = tf.shape(z)
        checks = [check.assert_equal(shape[-1], latent, message=f"z must have shape [N, {latent}]"),
                  check.assert_less_equal(shape[0], MAX_SAMPLES,
                                          message=f"at most {MAX_SAMPLES} images a request")]
        if classes:
            checks += label_checks(labels, shape[0])
        z = check.check_numerics(z, "z contains NaN or Inf")
        return serve(**after(checks, dict(z=z, labels=labels)))

    def sample_checked(num_samples, seed, labels=None):
        checks = [check.assert_greater_equal(num_samples, 1,
                                             message="num_samples must be at least 1"),
                  check.assert_less_equal(num_samples, MAX_SAMPLES,
                                          message=f"num_samples must be at most {MAX_SAMPLES}")]
        if classes:
            checks += label_checks(labels, num_samples)
        return sample(**after(checks, dict(num_samples=num_samples, seed=seed, labels=labels)))

    if classes:
        return {"serving_default": graph_fn(serve_checked, z_spec, label_spec),
                "sample": graph_fn(sample_checked, num, seed, label_spec)}
    return {"serving_default": graph_fn(lambda z: serve_checked(z), z_spec),
            "sample": graph_fn(lambda num_samples, seed: sample_checked(num_samples, seed),
                               num, seed)}


def _translation_signatures(source, channels):
    spec = tf.TensorSpec([None, None, None, channels], tf.uint8, name="images")

    def translator(fn):
        run = checked(fn)

        def translate(images):
            shape = tf.shape(images)
            pixels = tf.reduce_prod(tf.cast(shape[:-1], tf.int64))
            checks = [tf.debugging.assert_equal(shape[-1], channels,
                                                message=f"images must have {channels} channels"),
                      tf.debugging.assert_less_equal(
                          pixels, tf.constant(MAX_PIXELS, tf.int64),
                          message=f"at most {MAX_PIXELS} pixels (N*H*W) a request")]
            return run(**after(checks, dict(images=images)))
        return graph_fn(translate, spec)

    a2b = translator(source.signatures["translate_a2b"])
    return {"serving_default": a2b, "translate_a2b": a2b,
            "translate_b2a": translator(source.signatures["translate_b2a"])}


def serving_module(path, extra_info=None):
    """(module, signatures, info) wrapping the SavedModel at ``path``."""
    source = tf.saved_model.load(path)
    info = dict(json.loads(source.info.numpy().decode()), **(extra_info or {}))
    module = tf.Module()
    module.source = source  # tracks the variables the signatures capture
    if info.get("kind") == "translation":
        info["max_pixels"] = MAX_PIXELS
        signatures = _translation_signatures(source, info["channels"])
    else:
        info["max_samples"] = MAX_SAMPLES
        signatures = _noise_signatures(source, info["latent_dim"], info.get("num_classes", 0))
    module.info = export.info_variable(info)
    return module, signatures, info


def warmup_inputs(info):
    """{signature: {input: small array}}: one image each."""
    if info.get("kind") == "translation":
        image = np.zeros([1, info["resolution"], info["resolution"], info["channels"]], np.uint8)
        return {s: {"images": image} for s in ("serving_default", "translate_a2b", "translate_b2a")}
    labels = {"labels": np.zeros([1], np.int32)} if info.get("num_classes") else {}
    return {"serving_default": dict(z=np.zeros([1, info["latent_dim"]], np.float32), **labels),
            "sample": dict(num_samples=np.int32(1), seed=np.int64(0), **labels)}


def write_warmup(path, name, info):
    apis = serving.serving_apis()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature, inputs in warmup_inputs(info).items():
            request = apis.predict_pb2.PredictRequest()
            request.model_spec.name, request.model_spec.signature_name = name, signature
            for key, value in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            log = apis.prediction_log_pb2.PredictionLog(
                predict_log=apis.prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def versions(model_dir):
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(v) for v in os.listdir(model_dir)
                  if v.isdigit() and os.path.exists(os.path.join(model_dir, v, "saved_model.pb")))


def export_for_serving(source, base, version=None, name=None, serving_root=None):
    """Write ``base/<name>/<version>/`` (default version: one past the highest there) and
    regenerate ``base/models.config``; returns the version directory."""
    serving.serving_apis()  # fail before the work when tensorflow-serving-api is missing
    default_name, path, sha256 = resolve(source)
    name = name or default_name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(f"model name {name!r}: use letters, digits, '_', '.' and '-' (it is a "
                         "directory and part of the request URL)")
    model_dir = os.path.join(os.path.abspath(base), name)
    existing = versions(model_dir)
    version = int(version) if version is not None else (existing[-1] + 1 if existing else 1)
    if version < 1:
        raise ValueError("the version must be a positive integer")
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} exists; TF Serving does not reload a changed version, "
                              "so export a new one (omit --version for the next number)")
    origin = os.path.abspath(path) if os.path.isdir(source) else source
    module, signatures, info = serving_module(path, dict(source=origin, source_sha256=sha256))
    os.makedirs(model_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=model_dir)  # not numeric: Serving skips it
    try:
        tf.saved_model.save(module, tmp, signatures=signatures)
        write_warmup(os.path.join(tmp, WARMUP), name, info)
        os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; the server may run as another user
        try:
            os.rename(tmp, final)
        except OSError:
            raise FileExistsError(f"{final} appeared while exporting (another export?)") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if not os.listdir(model_dir):
            os.rmdir(model_dir)
        raise
    write_config(base, serving_root)
    return final


def write_config(base, serving_root=None):
    """``base/models.config`` listing every model directory under ``base`` that has a version,
    each serving its latest version. Entries already there keep their settings (and base_path
    unless ``serving_root`` is given); new ones get ``serving_root/<name>``, where
    ``serving_root`` defaults to the root of the existing entries, else ``base`` itself (pass
    the path the server sees, e.g. ``/models`` inside Docker)."""
    config_pb2 = serving.serving_apis().model_server_config_pb2
    base = os.path.abspath(base)
    path = os.path.join(base, CONFIG)
    old = {}
    if os.path.exists(path):
        with open(path) as f:
            parsed = text_format.Parse(f.read(), config_pb2.ModelServerConfig())
        old = {c.name: c for c in parsed.model_config_list.config}
    root = serving_root or next((os.path.dirname(c.base_path) for c in old.values()), base)
    config = config_pb2.ModelServerConfig()
    for name in sorted(os.listdir(base)):
        if name.startswith(".") or not versions(os.path.join(base, name)):
            continue
        entry = config.model_config_list.config.add()
        if name in old:
            entry.CopyFrom(old[name])
        else:
            entry.name, entry.model_platform = name, "tensorflow"
            entry.model_version_policy.latest.num_versions = 1
        if serving_root or name not in old:
            entry.base_path = f"{root.rstrip('/')}/{name}"
    fd, tmp = tempfile.mkstemp(prefix=".models.config-", dir=base)
    with os.fdopen(fd, "w") as f:
        f.write(text_format.MessageToString(config))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path
