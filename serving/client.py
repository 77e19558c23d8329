""":class:`NLIClient`: entailment predictions from a model server (ours or TF Serving), as the ``nli_predict`` binary
(``nli_app/bin/nli_predict.py``) asks for them.

gRPC goes through the standard ``PredictionServiceStub`` (``Predict`` on the ``serving_default`` signature of the
export contract), REST through ``POST /v1/models/NAME:predict``, so both work against ``tensorflow_model_server``.
"""
import dataclasses
import json
import urllib.error
import urllib.request

import grpc
import numpy as np
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import tensor_shape_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

LABELS = ("entailment", "neutral", "contradiction")


@dataclasses.dataclass
class Prediction:
    label: str
    probabilities: dict  # label -> probability


class ServerError(RuntimeError):
    """The server answered an error: ``code`` (gRPC code name, or HTTP status) and its message."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def string_tensor(values) -> tensor_pb2.TensorProto:
    """A 1-D DT_STRING TensorProto (built directly, no TensorFlow op needed)."""
    values = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values]
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING, string_val=values,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(values))]))


def _error_message(body: bytes, reason: str) -> str:
    """The ``error`` of a JSON error body; the text itself when it is not JSON (an HTTP parser's own 400)."""
    try:
        return json.loads(body).get("error", reason)
    except (ValueError, AttributeError):
        return body.decode("utf-8", "replace").strip() or reason


def _predictions(labels, probabilities):
    return [Prediction(label, dict(zip(LABELS, (float(p) for p in row)))) for label, row in zip(labels, probabilities)]


class NLIClient:
    """Batches of (premise, hypothesis) -> :class:`Prediction` over gRPC (default) or REST."""

    def __init__(self, server="localhost:8500", model_name="esim", rest=False, version=None,
                 signature_name="serving_default", timeout=30.0):
        self.server, self.model_name, self.rest = server, model_name, rest
        self.version, self.signature_name, self.timeout = version, signature_name, timeout
        self._channel = None if rest else grpc.insecure_channel(server)
        self._stub = None if rest else prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def predict(self, premises, hypotheses) -> list[Prediction]:
        if len(premises) != len(hypotheses):
            raise ValueError(f"{len(premises)} premises but {len(hypotheses)} hypotheses")
        return self._predict_rest(premises, hypotheses) if self.rest else self._predict_grpc(premises, hypotheses)

    def _predict_grpc(self, premises, hypotheses):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = self.signature_name
        if self.version is not None:
            request.model_spec.version.value = self.version
        request.inputs["premise"].CopyFrom(string_tensor(premises))
        request.inputs["hypothesis"].CopyFrom(string_tensor(hypotheses))
        request.output_filter.extend(["label", "probabilities"])
        try:
            response = self._stub.Predict(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise ServerError(error.code().name, error.details()) from None
        labels = [s.decode("utf-8") for s in response.outputs["label"].string_val]
        probabilities = response.outputs["probabilities"]
        probabilities = (np.frombuffer(probabilities.tensor_content, np.float32) if probabilities.tensor_content
                         else np.asarray(probabilities.float_val, np.float32)).reshape(-1, len(LABELS))
        return _predictions(labels, probabilities)

    def _predict_rest(self, premises, hypotheses):
        version = f"/versions/{self.version}" if self.version is not None else ""
        url = f"http://{self.server}/v1/models/{self.model_name}{version}:predict"
        body = json.dumps({"signature_name": self.signature_name,
                           "instances": [{"premise": p, "hypothesis": h} for p, h in zip(premises, hypotheses)]})
        request = urllib.request.Request(url, body.encode("utf-8"), {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                rows = json.load(response)["predictions"]
        except urllib.error.HTTPError as error:
            raise ServerError(error.code, _error_message(error.read(), error.reason)) from None
        return _predictions([r["label"] for r in rows], [r["probabilities"] for r in rows])

    def close(self):
        if self._channel is not None:
            self._channel.close()


def read_pairs(path: str):
    """(premise, hypothesis, gold label or None) from SNLI-format lines: jsonl (sentence1/sentence2/gold_label)
    or the SNLI .txt TSV with a header."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        header = None
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            if line.lstrip().startswith("{"):
                try:
                    record = json.loads(line)
                    pairs.append((record["sentence1"], record["sentence2"], record.get("gold_label")))
                except (ValueError, KeyError) as error:
                    raise ValueError(f"{path}:{number}: not an SNLI json line ({error})") from None
                continue
            fields = line.rstrip("\n").split("\t")
            if header is None:
                header = fields
                if "sentence1" not in header or "sentence2" not in header:
                    raise ValueError(f"{path}:{number}: expected a TSV header with sentence1 and sentence2")
                continue
            if len(fields) != len(header):
                raise ValueError(f"{path}:{number}: {len(fields)} fields, the header has {len(header)}")
            row = dict(zip(header, fields))
            pairs.append((row["sentence1"], row["sentence2"], row.get("gold_label")))
    return pairs
