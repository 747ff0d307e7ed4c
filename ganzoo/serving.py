"""Clients for a ganzoo generator behind TensorFlow Serving (exported by ``ganzoo-export``).

    from ganzoo import serving
    client = serving.RestClient("gan_mnist", "http://localhost:8501")   # numpy + urllib only
    images = client.sample(16, seed=0)             # uint8 [16, 28, 28, 1]
    client = serving.GrpcClient("gan_mnist", "localhost:8500")          # tensorflow-serving-api

Both have ``predict(inputs, signature)`` and the shortcuts ``generate(z[, labels])``,
``sample(num_samples, seed[, labels])`` and ``translate(images, direction)``. A request the
server rejects raises ``ServingError`` with the server's message.
"""
import json
import types
import urllib.error
import urllib.request

import numpy as np

# The ganzoo serving signatures' inputs; values are converted to these, refusing lossy casts.
DTYPES = {"z": np.float32, "labels": np.int32, "num_samples": np.int32, "seed": np.int64,
          "images": np.uint8}
INSTALL = ("pip install --no-deps tensorflow-serving-api==2.21.0  (--no-deps: the package "
           "requires full `tensorflow`, which would install a second TensorFlow over "
           "tensorflow-cpu; the protos it needs come with tensorflow-cpu, and grpcio with it)")


class ServingError(RuntimeError):
    """The server refused or failed the request."""


def serving_apis():
    """The tensorflow_serving protos and gRPC stubs, or an ImportError saying how to install."""
    try:
        from tensorflow_serving.apis import (predict_pb2, prediction_log_pb2,
                                             prediction_service_pb2_grpc)
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError as e:
        raise ImportError(f"this needs tensorflow-serving-api: {INSTALL}") from e
    return types.SimpleNamespace(predict_pb2=predict_pb2, prediction_log_pb2=prediction_log_pb2,
                                 prediction_service_pb2_grpc=prediction_service_pb2_grpc,
                                 model_server_config_pb2=model_server_config_pb2)


def as_input(name, value):
    """``value`` as the array the signature input ``name`` takes; a ValueError for a value
    that would change in the conversion (labels 1.5, pixels 300)."""
    array = np.asarray(value)
    want = DTYPES.get(name)
    if want is None or array.dtype == want:
        return array
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numbers, got {array.dtype}")
    cast = array.astype(want)
    if np.dtype(want).kind != "f" and not np.array_equal(cast, array):
        raise ValueError(f"{name} must be {np.dtype(want).name} values")
    return cast


class _Client:
    def predict(self, inputs, signature="serving_default"):
        raise NotImplementedError

    def _images(self, inputs, signature):
        out = self.predict({k: v for k, v in inputs.items() if v is not None}, signature)
        return np.asarray(out["images"] if isinstance(out, dict) else out, np.uint8)

    def generate(self, z, labels=None):
        """uint8 images for the latent vectors ``z`` [N, latent_dim] (labels: conditional)."""
        return self._images(dict(z=z, labels=labels), "serving_default")

    def sample(self, num_samples, seed=0, labels=None):
        """``num_samples`` images from ``seed`` (same seed, same images)."""
        return self._images(dict(num_samples=num_samples, seed=seed, labels=labels), "sample")

    def translate(self, images, direction="a2b"):
        """CycleGAN: uint8 images [N, H, W, C] of one domain -> the other."""
        if direction not in ("a2b", "b2a"):
            raise ValueError("direction must be 'a2b' or 'b2a'")
        return self._images(dict(images=images), f"translate_{direction}")


class RestClient(_Client):
    """TF Serving's REST API (``POST /v1/models/NAME[/versions/N]:predict``); numpy only."""

    def __init__(self, model, url="http://localhost:8501", version=None, timeout=60.0):
        self.model, self.url, self.version, self.timeout = model, url.rstrip("/"), version, timeout

    @property
    def endpoint(self):
        version = f"/versions/{self.version}" if self.version is not None else ""
        return f"{self.url}/v1/models/{self.model}{version}:predict"

    def predict(self, inputs, signature="serving_default", rows=False):
        """The signature's outputs: a dict of arrays, or one array when the server returns a
        single unnamed output (as TF Serving does for one-output signatures). ``rows`` sends
        the row format (``instances``: one object per image; every input needs the batch
        dimension, so not for ``sample``) instead of the columnar one (``inputs``)."""
        arrays = {k: as_input(k, v) for k, v in inputs.items()}
        if rows:
            n = {len(a) if a.ndim else -1 for a in arrays.values()}
            if len(n) != 1 or -1 in n:
                raise ValueError("the row format needs inputs with one common batch size")
            rows = [{k: a[i].tolist() for k, a in arrays.items()} for i in range(n.pop())]
            body = {"signature_name": signature, "instances": rows}
        else:
            body = {"signature_name": signature,
                    "inputs": {k: a.tolist() for k, a in arrays.items()}}
        request = urllib.request.Request(self.endpoint, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                result = json.load(response)
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                text = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                pass
            raise ServingError(f"HTTP {e.code} from {self.endpoint}: {text}") from None
        out = result["predictions"] if rows else result["outputs"]
        if rows and out and isinstance(out[0], dict):
            return {k: np.asarray([row[k] for row in out]) for k in out[0]}
        if isinstance(out, dict):
            return {k: np.asarray(v) for k, v in out.items()}
        return np.asarray(out)


class GrpcClient(_Client):
    """TF Serving's gRPC ``PredictionService`` (needs tensorflow-serving-api, and imports
    tensorflow for the tensor protos)."""

    def __init__(self, model, target="localhost:8500", version=None, timeout=60.0):
        import grpc
        self.apis = serving_apis()
        self.model, self.version, self.timeout = model, version, timeout
        self.channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", 256 << 20)])
        self.stub = self.apis.prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def predict(self, inputs, signature="serving_default"):
        """The signature's outputs as a dict of arrays."""
        import grpc
        import tensorflow as tf
        request = self.apis.predict_pb2.PredictRequest()
        request.model_spec.name, request.model_spec.signature_name = self.model, signature
        if self.version is not None:
            request.model_spec.version.value = int(self.version)
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(as_input(key, value)))
        try:
            response = self.stub.Predict(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise ServingError(f"{e.code().name}: {e.details()}") from None
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
