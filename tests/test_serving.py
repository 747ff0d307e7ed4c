"""TF Serving export (ganzoo-export) and the ganzoo.serving clients, tested up to the server
binary: the in-test servers run the export the way tensorflow_model_server does (a TF1 Session
fed the signature's tensors by name), and the real binary is used when it is installed."""
import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent import futures

import numpy as np
import pytest
import tensorflow as tf

import ganzoo
from ganzoo import export, hub, registry, serving, training
from helpers import ROOT, tiny_config

pytest.importorskip("tensorflow_serving", reason=f"needs tensorflow-serving-api: {serving.INSTALL}")
import grpc  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from tensorflow.core.protobuf import config_pb2  # noqa: E402
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2  # noqa: E402
from tensorflow_serving.apis import prediction_service_pb2_grpc as service_grpc  # noqa: E402
from tensorflow_serving.config import model_server_config_pb2  # noqa: E402

from ganzoo import serving_export  # noqa: E402

load = functools.lru_cache(ganzoo.load)
SERVED = ("gan_mnist", "cgan_mnist", "cyclegan_face2genshin")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


# ---- the export ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return str(tmp_path_factory.mktemp("serving"))


@pytest.fixture(scope="module")
def exported(base):
    """name -> version directory, exporting on first use (one export per model per module)."""
    paths = {}

    def get(name):
        if name not in paths:
            paths[name] = serving_export.export_for_serving(name, base)
        return paths[name]
    for name in SERVED:
        get(name)
    return get


class SessionModel:
    """A SavedModel run the way TF Serving runs it: a TF1 Session fed the signature's tensors by
    name. Dtypes are checked by the runtime; shapes only by the graph itself (no Python checks)."""

    def __init__(self, path):
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            meta = tf.compat.v1.saved_model.load(self.session, ["serve"], path)
        self.signatures = meta.signature_def

    def run(self, signature, inputs):
        if signature not in self.signatures:
            raise KeyError(f'Serving signature name: "{signature}" not found in signature def')
        sig = self.signatures[signature]
        if set(inputs) != set(sig.inputs):
            raise ValueError(f"signature {signature} takes inputs {sorted(sig.inputs)}, "
                             f"got {sorted(inputs)}")
        keys, outs = sorted(inputs), sorted(sig.outputs)
        options = config_pb2.CallableOptions(feed=[sig.inputs[k].name for k in keys],
                                             fetch=[sig.outputs[k].name for k in outs])
        run = self.session._make_callable_from_options(options)
        return dict(zip(outs, run(*[np.asarray(inputs[k]) for k in keys])))

    def input_dtype(self, signature, name):
        return tf.dtypes.as_dtype(self.signatures[signature].inputs[name].dtype).as_numpy_dtype


def error_text(e):
    if isinstance(e, tf.errors.OpError):
        return e.message.splitlines()[0]
    return e.args[0] if isinstance(e, KeyError) and e.args else str(e)


def test_layout_matches_tf_serving(exported, base):
    for name in SERVED:
        path = exported(name)
        assert path == os.path.join(base, name, "1")
        assert os.listdir(os.path.join(base, name)) == ["1"]  # no temporary leftovers
        assert {"saved_model.pb", "variables", "assets.extra"} <= set(os.listdir(path))
        assert os.listdir(os.path.join(path, "assets.extra")) == ["tf_serving_warmup_requests"]
        assert {"variables.index", "variables.data-00000-of-00001"} <= set(
            os.listdir(os.path.join(path, "variables")))
        assert os.stat(path).st_mode & 0o555 == 0o555  # a server may run as another user
        info = json.loads(tf.train.load_variable(os.path.join(path, "variables", "variables"),
                                                 "info/.ATTRIBUTES/VARIABLE_VALUE"))
        assert info["source"] == name
        assert info["source_sha256"] == registry.MODELS[name]["sha256"]


def parse_config(base):
    with open(os.path.join(base, "models.config")) as f:
        return text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())


def test_models_config_parses_and_lists_every_model(exported, base):
    config = parse_config(base).model_config_list.config
    names = sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d)))
    assert [c.name for c in config] == names and set(SERVED) <= set(names)
    for c in config:
        assert c.base_path == os.path.join(base, c.name) and c.model_platform == "tensorflow"
        assert c.model_version_policy.latest.num_versions == 1


def test_versions_config_merge_and_serving_root(tmp_path):
    base, export_ = str(tmp_path), serving_export.export_for_serving
    assert export_("gan_mnist", base, serving_root="/models").endswith("gan_mnist/1")
    assert export_("gan_mnist", base).endswith("gan_mnist/2")  # the next version
    with pytest.raises(FileExistsError, match="new one"):
        export_("gan_mnist", base, version=2)
    config = parse_config(base)
    (entry,) = config.model_config_list.config
    assert entry.base_path == "/models/gan_mnist"  # kept without --serving_root
    entry.model_version_policy.Clear()
    entry.model_version_policy.specific.versions.append(1)  # a hand edit survives regeneration
    with open(os.path.join(base, "models.config"), "w") as f:
        f.write(text_format.MessageToString(config))
    os.makedirs(os.path.join(base, "half_written", ".export-x"))  # no version: not listed
    serving_export.write_config(base)
    (entry,) = parse_config(base).model_config_list.config
    assert list(entry.model_version_policy.specific.versions) == [1]
    with pytest.raises(KeyError, match="gan_mnist"):
        export_("gan_mnst", base)
    with pytest.raises(ValueError, match="model name"):
        export_("gan_mnist", base, name="../elsewhere")
    shipped = os.path.join(hub.REPO_MODELS, "gan_mnist", "1")
    assert serving_export.resolve(shipped) == ("gan_mnist", shipped,
                                               registry.MODELS["gan_mnist"]["sha256"])


def test_saved_model_cli_shows_and_runs(exported, tmp_path):
    cgan = exported("cgan_mnist")
    cli = shutil.which("saved_model_cli", path=os.path.dirname(sys.executable)) or "saved_model_cli"
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    show = subprocess.Popen([cli, "show", "--all", "--dir", cgan], **pipes)
    run = subprocess.Popen([cli, "run", "--dir", cgan, "--tag_set", "serve",
                            "--signature_def", "sample",
                            "--input_exprs", "num_samples=3;seed=7;labels=[1,2,3]",
                            "--outdir", str(tmp_path), "--overwrite"], **pipes)
    out, err = show.communicate(timeout=300)
    assert show.returncode == 0, err[-2000:]
    sigs = dict(re.findall(r"signature_def\['(\w+)'\]:(.*?)Method name", out, re.S))
    assert set(sigs) >= {"serving_default", "sample"} and "args_0" not in out

    def spec(sig, key):
        m = re.search(rf"\['{key}'\] tensor_info:\s+dtype: (\w+)\s+shape: (\([^)]*\))", sigs[sig])
        return m.groups()
    assert spec("serving_default", "z") == ("DT_FLOAT", "(-1, 100)")
    assert spec("serving_default", "labels") == ("DT_INT32", "(-1)")
    assert spec("serving_default", "images") == ("DT_UINT8", "(-1, 28, 28, 1)")
    assert spec("sample", "num_samples") == ("DT_INT32", "()")
    assert spec("sample", "seed") == ("DT_INT64", "()")
    assert spec("sample", "images") == ("DT_UINT8", "(-1, 28, 28, 1)")
    _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "images.npy"),
                                  load("cgan_mnist").sample(3, seed=7, labels=[1, 2, 3]))


def test_translation_signatures(exported):
    sigs = SessionModel(exported("cyclegan_face2genshin")).signatures
    assert {"serving_default", "translate_a2b", "translate_b2a"} <= set(sigs)
    for name in ("serving_default", "translate_a2b", "translate_b2a"):
        (key, spec), = sigs[name].inputs.items()
        assert key == "images" and spec.dtype == tf.uint8.as_datatype_enum
        assert [d.size for d in spec.tensor_shape.dim] == [-1, -1, -1, 3]


@pytest.mark.parametrize("name", registry.list_models())
def test_parity_with_the_in_process_generator(exported, name):
    model, served = load(name), tf.saved_model.load(exported(name)).signatures
    rng = np.random.default_rng(0)

    def run(signature, **inputs):
        return served[signature](**{k: tf.constant(v) for k, v in inputs.items()})["images"].numpy()
    if model.kind == "translation":
        x = rng.integers(0, 256, (2, 32, 32, model.channels), np.uint8)
        for direction in ("a2b", "b2a"):
            np.testing.assert_array_equal(run(f"translate_{direction}", images=x),
                                          model.translate(x, direction))
        np.testing.assert_array_equal(run("serving_default", images=x), model.translate(x, "a2b"))
        return
    z = rng.standard_normal((3, model.latent_dim)).astype(np.float32)
    labels = [0, 1, 2] if model.num_classes else None
    extra = {"labels": np.int32(labels)} if labels else {}
    out = run("serving_default", z=z, **extra)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, model.generate(z, labels))
    np.testing.assert_array_equal(run("sample", num_samples=np.int32(3), seed=np.int64(5), **extra),
                                  model.sample(3, seed=5, labels=labels))


def test_warmup_requests_parse_and_run(exported):
    for name in SERVED:
        path = exported(name)
        model = SessionModel(path)
        seen = []
        for record in tf.data.TFRecordDataset(os.path.join(path, serving_export.WARMUP)):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            request = log.predict_log.request
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            images = model.run(request.model_spec.signature_name, inputs)["images"]
            assert images.dtype == np.uint8 and images.shape[0] == 1
            seen.append(request.model_spec.signature_name)
        assert sorted(seen) == sorted(k for k in model.signatures if not k.startswith("__"))


def test_nan_output_is_an_error_not_an_image(tmp_path):
    """A generator that produces NaN: the source signature turns it into pixels silently, the
    serving export refuses. Also: a run directory as the source."""
    model, _, _ = training.build(tiny_config("dcgan"))
    for v in model.generator.trainable_variables:
        v.assign(tf.fill(v.shape, np.nan))
    export.save_generator(model, str(tmp_path / "my run" / "export"))
    source = tf.saved_model.load(str(tmp_path / "my run" / "export"))
    z = tf.zeros([2, 4])
    assert source.signatures["serving_default"](z=z)["images"].dtype == tf.uint8  # no error there
    path = serving_export.export_for_serving(str(tmp_path / "my run"), str(tmp_path / "serving"))
    assert path == str(tmp_path / "serving" / "my_run" / "1")
    served = tf.saved_model.load(path)
    with pytest.raises(tf.errors.InvalidArgumentError, match="the generator produced NaN or Inf"):
        served.signatures["serving_default"](z=z)
    with pytest.raises(tf.errors.InvalidArgumentError, match="the generator produced NaN or Inf"):
        SessionModel(path).run("sample", dict(num_samples=np.int32(2), seed=np.int64(0)))


# ---- in-test servers ---------------------------------------------------------------------------

def pick(models, name, version):
    if name not in models:
        raise LookupError(f"Servable not found for request: Latest({name})")
    versions = models[name]
    version = max(versions) if version is None else version
    if version not in versions:
        raise LookupError(f"Servable not found for request: Specific({name}, {version})")
    return version, versions[version]


class PredictionService(service_grpc.PredictionServiceServicer):
    def __init__(self, models):
        self.models = models

    def Predict(self, request, context):
        spec = request.model_spec
        try:
            version = spec.version.value if spec.HasField("version") else None
            version, model = pick(self.models, spec.name, version)
        except LookupError as e:
            context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        signature = spec.signature_name or "serving_default"
        try:
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            outputs = model.run(signature, inputs)
        except (tf.errors.OpError, ValueError, KeyError) as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, error_text(e))
        response = predict_pb2.PredictResponse()
        response.model_spec.name, response.model_spec.signature_name = spec.name, signature
        response.model_spec.version.value = version
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response


def from_json(value, dtype):
    """A JSON value as ``dtype``, refusing what TF Serving's REST API refuses."""
    array, want = np.asarray(value), np.dtype(dtype)
    wrong_kind = array.dtype.kind not in "biuf" or (want.kind in "iu" and array.dtype.kind == "f")
    if array.size and wrong_kind:
        raise ValueError(f"JSON value {value!r:.60} is not of expected type {want.name}")
    cast = array.astype(want)
    if want.kind in "iu" and not np.array_equal(cast, array):
        raise ValueError(f"JSON value {value!r:.60} does not fit {want.name}")
    return cast


class RestHandler(http.server.BaseHTTPRequestHandler):
    """POST /v1/models/NAME[/versions/N]:predict in the row (``instances``) and the columnar
    (``inputs``) format, answering like TF Serving: one output is returned bare, not by name."""
    models = {}

    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        m = re.fullmatch(r"/v1/models/([^/:]+)(?:/versions/(\d+))?:predict", self.path)
        if not m:
            return self.reply(404, {"error": f"Malformed request: POST {self.path}"})
        try:
            version, model = pick(self.models, m.group(1), m.group(2) and int(m.group(2)))
        except LookupError as e:
            return self.reply(404, {"error": str(e)})
        try:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            signature = body.get("signature_name", "serving_default")
            if signature not in model.signatures:
                raise KeyError(f'Serving signature name: "{signature}" not found in signature def')
            names = sorted(model.signatures[signature].inputs)
            rows = "instances" in body
            if rows == ("inputs" in body):
                raise ValueError("the request needs exactly one of 'instances' and 'inputs'")
            if rows:
                instances = body["instances"]
                if instances and not isinstance(instances[0], dict) and len(names) == 1:
                    instances = [{names[0]: x} for x in instances]
                raw = {k: [inst[k] for inst in instances] for k in names}
            else:
                raw = body["inputs"]
                if not isinstance(raw, dict) and len(names) == 1:
                    raw = {names[0]: raw}
            inputs = {k: from_json(v, model.input_dtype(signature, k)) for k, v in raw.items()}
            outputs = {k: v.tolist() for k, v in model.run(signature, inputs).items()}
        except (tf.errors.OpError, ValueError, KeyError, TypeError) as e:
            return self.reply(400, {"error": error_text(e)})
        single = next(iter(outputs.values())) if len(outputs) == 1 else None
        if not rows:
            return self.reply(200, {"outputs": outputs if single is None else single})
        if single is None:
            n = len(next(iter(outputs.values())))
            single = [{k: v[i] for k, v in outputs.items()} for i in range(n)]
        return self.reply(200, {"predictions": single})


@pytest.fixture(scope="module")
def servers(exported, base):
    models = {name: {1: SessionModel(exported(name))} for name in SERVED}
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    service_grpc.add_PredictionServiceServicer_to_server(PredictionService(models), grpc_server)
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    handler = type("Handler", (RestHandler,), {"models": models})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield dict(grpc=f"127.0.0.1:{grpc_port}", rest=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.shutdown()
    httpd.server_close()
    grpc_server.stop(None)


def client(kind, servers, name, version=None):
    if kind == "rest":
        return serving.RestClient(name, servers["rest"], version=version)
    return serving.GrpcClient(name, servers["grpc"], version=version)


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_client_matches_the_in_process_generator(servers, kind):
    rng = np.random.default_rng(1)
    gan, cgan, cycle = load("gan_mnist"), load("cgan_mnist"), load("cyclegan_face2genshin")
    z = rng.standard_normal((2, 100)).astype(np.float32)
    np.testing.assert_array_equal(client(kind, servers, "gan_mnist").generate(z), gan.generate(z))
    np.testing.assert_array_equal(client(kind, servers, "gan_mnist", version=1).sample(3, seed=4),
                                  gan.sample(3, seed=4))
    c = client(kind, servers, "cgan_mnist")
    np.testing.assert_array_equal(c.generate(z, labels=[3, 7]), cgan.generate(z, [3, 7]))
    np.testing.assert_array_equal(c.sample(2, seed=1, labels=[5, 5]),
                                  cgan.sample(2, seed=1, labels=[5, 5]))
    x = rng.integers(0, 256, (1, 32, 32, 3), np.uint8)
    for direction in ("a2b", "b2a"):
        out = client(kind, servers, "cyclegan_face2genshin").translate(x, direction)
        assert out.dtype == np.uint8 and out.shape == x.shape
        np.testing.assert_array_equal(out, cycle.translate(x, direction))
    if kind == "rest":
        rows = c.predict(dict(z=z, labels=[3, 7]), rows=True)
        np.testing.assert_array_equal(rows, cgan.generate(z, [3, 7]))


def post(servers, path, body):
    request = urllib.request.Request(servers["rest"] + path, data=json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_rest_wire_format(servers):
    """Bare instances for a one-input signature, the columnar ``sample``, TF Serving's shapes."""
    z = np.zeros((2, 100)).tolist()
    code, body = post(servers, "/v1/models/gan_mnist:predict", {"instances": z})
    assert code == 200 and np.asarray(body["predictions"]).shape == (2, 28, 28, 1)
    code, body = post(servers, "/v1/models/gan_mnist/versions/1:predict",
                      {"signature_name": "sample", "inputs": {"num_samples": 2, "seed": 0}})
    assert code == 200 and np.asarray(body["outputs"]).shape == (2, 28, 28, 1)
    code, body = post(servers, "/v1/models/gan_mnist/versions/9:predict", {"instances": z})
    assert code == 404 and "Servable not found" in body["error"]


def zeros(*shape, dtype=np.float32):
    return np.zeros(shape, dtype)


LABELS = r"labels must lie in \[0, 10\)"
BAD = [  # (model, signature, inputs, error)
    ("gan_mnist", "serving_default", dict(z=zeros(1, 50)), r"z must have shape \[N, 100\]"),
    ("gan_mnist", "serving_default", dict(z=np.full((1, 100), np.nan)), "z contains NaN or Inf"),
    ("gan_mnist", "serving_default", dict(z=zeros(257, 100)), "at most 256 images"),
    ("gan_mnist", "sample", dict(num_samples=257, seed=0), "num_samples must be at most 256"),
    ("gan_mnist", "sample", dict(num_samples=0, seed=0), "num_samples must be at least 1"),
    ("cgan_mnist", "sample", dict(num_samples=2, seed=0, labels=[1, 10]), LABELS),
    ("cgan_mnist", "serving_default", dict(z=zeros(2, 100), labels=[-1, 0]), LABELS),
    ("cgan_mnist", "serving_default", dict(z=zeros(2, 100), labels=[1]), "one entry per image"),
    ("cgan_mnist", "serving_default", dict(z=zeros(2, 100)), "inputs"),
    ("cyclegan_face2genshin", "translate_a2b", dict(images=zeros(1, 8, 8, 1, dtype=np.uint8)),
     "3 channels"),
    ("gan_mnist", "translate", dict(z=zeros(1, 100)), "not found"),
]


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_bad_requests_get_a_clear_error(servers, kind):
    for name, signature, inputs, error in BAD:
        with pytest.raises(serving.ServingError, match=error):
            client(kind, servers, name).predict(inputs, signature)
    with pytest.raises(serving.ServingError, match="NOT_FOUND|HTTP 404"):
        client(kind, servers, "no_such_model").sample(1)
    with pytest.raises(ValueError, match="labels must be int32"):  # refused before sending
        client(kind, servers, "cgan_mnist").sample(2, labels=[0.5, 1])
    assert client(kind, servers, "gan_mnist").sample(1).shape == (1, 28, 28, 1)  # still serving


def test_wrong_dtypes_on_the_wire(servers):
    stub = service_grpc.PredictionServiceStub(grpc.insecure_channel(servers["grpc"]))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "gan_mnist"
    request.inputs["z"].CopyFrom(tf.make_tensor_proto(zeros(1, 100, dtype=np.float64)))
    with pytest.raises(grpc.RpcError) as e:
        stub.Predict(request, timeout=60)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "double" in e.value.details()
    code, body = post(servers, "/v1/models/gan_mnist:predict", {"inputs": {"z": [["a"] * 100]}})
    assert code == 400 and "float32" in body["error"]
    code, body = post(servers, "/v1/models/cgan_mnist:predict",
                      {"inputs": {"z": zeros(1, 100).tolist(), "labels": [0.5]}})
    assert code == 400 and "int32" in body["error"]


def test_rest_client_needs_neither_tensorflow_nor_serving_api(servers):
    code = ("import sys; from ganzoo import serving; "
            f"x = serving.RestClient('gan_mnist', {servers['rest']!r}).sample(2, seed=3); "
            "assert x.shape == (2, 28, 28, 1) and x.dtype == 'uint8', x.shape; "
            "bad = [m for m in ('tensorflow', 'tensorflow_serving', 'grpc') if m in sys.modules]; "
            "assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]


def test_grpc_client_import_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_serving.apis", None)
    with pytest.raises(ImportError, match="pip install --no-deps tensorflow-serving-api"):
        serving.GrpcClient("gan_mnist")


# ---- the command line ---------------------------------------------------------------------------

def cli(*args):
    return subprocess.run([sys.executable, "-m", "ganzoo.cli.export", *args], capture_output=True,
                          text=True, timeout=300, env=ENV, cwd=ROOT)


def test_cli(tmp_path):
    out = cli("gan_mnist", f"--base={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == str(tmp_path / "gan_mnist" / "1")
    assert [c.name for c in parse_config(str(tmp_path)).model_config_list.config] == ["gan_mnist"]
    bad = cli("gan_mnst", f"--base={tmp_path}")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert ("ganzoo-export: error: Unknown pretrained model 'gan_mnst'. "
            "Did you mean 'gan_mnist'") in bad.stderr


# ---- the real server, where it is installed ----------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_available(rest, names, server, log, timeout=120):
    deadline = time.time() + timeout
    for name in names:
        while True:
            try:
                with urllib.request.urlopen(f"{rest}/v1/models/{name}", timeout=5) as r:
                    states = [s["state"] for s in json.load(r)["model_version_status"]]
                if states and all(s == "AVAILABLE" for s in states):
                    break
            except (urllib.error.URLError, ConnectionError, KeyError):
                pass
            assert server.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            time.sleep(1)


@pytest.mark.skipif(shutil.which("tensorflow_model_server") is None,
                    reason="tensorflow_model_server is not installed (it cannot be here)")
def test_real_tensorflow_model_server(exported, base, tmp_path):
    grpc_port, rest_port = free_port(), free_port()
    servers = dict(rest=f"http://127.0.0.1:{rest_port}", grpc=f"127.0.0.1:{grpc_port}")
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen([shutil.which("tensorflow_model_server"), f"--port={grpc_port}",
                                   f"--rest_api_port={rest_port}",
                                   f"--model_config_file={base}/models.config",
                                   "--enable_model_warmup=true"],
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_available(servers["rest"], SERVED, server, log)
        z = np.random.default_rng(2).standard_normal((2, 100)).astype(np.float32)
        x = np.zeros((1, 32, 32, 3), np.uint8)
        for kind in ("rest", "grpc"):
            np.testing.assert_array_equal(client(kind, servers, "gan_mnist").generate(z),
                                          load("gan_mnist").generate(z))
            np.testing.assert_array_equal(client(kind, servers, "cgan_mnist").sample(2, 1, [3, 4]),
                                          load("cgan_mnist").sample(2, 1, [3, 4]))
            cycle = client(kind, servers, "cyclegan_face2genshin")
            np.testing.assert_array_equal(cycle.translate(x, "b2a"),
                                          load("cyclegan_face2genshin").translate(x, "b2a"))
            for name, signature, inputs, _ in BAD:
                with pytest.raises(serving.ServingError):
                    client(kind, servers, name).predict(inputs, signature)
            assert client(kind, servers, "gan_mnist").sample(1).shape == (1, 28, 28, 1)
    finally:
        server.terminate()
        server.wait(timeout=30)
