"""TF Serving's REST API, routing only: (method, path, body, deadline) -> (HTTP status, JSON body, headers).

Routes (https://www.tensorflow.org/tfx/serving/api_rest):
``POST /v1/models/NAME[/versions/N|/labels/L]:predict`` (row ``instances`` or columnar ``inputs``; ``{"b64": ..}``
for bytes), ``:classify`` (``examples`` + optional ``context``), ``:regress`` (UNIMPLEMENTED),
``GET`` (and ``HEAD``) ``/v1/models/NAME[/versions/N|/labels/L]`` (status) and ``.../metadata``. Operations
(health.py, metrics.py): ``GET /livez`` (200 ``{"status": "alive"}``), ``GET /readyz`` (200 ``{"status": "ready"}``,
or 503 ``{"error": "not ready: ...", "reasons": [...]}``) and, with a Prometheus path configured, ``GET PATH`` (the
scrape, Prometheus text format). Every ``:predict`` / ``:classify`` is counted and timed in the metrics.

Every answer is JSON; an error is ``{"error": message}`` with TF Serving's HTTP status for its code and TF Serving's
text where it has one: a version beyond int64 -> 400 "Failed to convert version: N to numeric."; an unknown path ->
400 "Malformed request: METHOD PATH"; ``OPTIONS`` without ``Origin`` -> 400 "Origin header is missing in CORS
preflight". A known path with the wrong method -> 405 with an ``Allow`` header. The JSON codec is json_codec.py,
the transport http_transport.py; predict and classify go through predict.py's path shared with gRPC.
"""
import re
import time

import grpc
from absl import logging
from google.protobuf import json_format
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2

from serving import errors
from serving import json_codec
from serving import limits as limits_lib
from serving import metrics as metrics_lib
from serving import predict
from serving.errors import ServingError

_INVALID = grpc.StatusCode.INVALID_ARGUMENT
INT64_MAX = 2**63 - 1
_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                   r"(?P<verb>:predict|:classify|:regress|/metadata)?$")
_READ_METHODS = ("GET", "HEAD")


def _status_json(response):
    return json_format.MessageToDict(response, always_print_fields_with_no_presence=True,
                                     preserving_proto_field_name=True)


def allowed_methods(verb) -> tuple:
    """The methods a route answers: POST for ``:predict``/``:classify``/``:regress``, else GET and HEAD."""
    return ("POST",) if verb and verb.startswith(":") else _READ_METHODS


class MethodNotAllowed(ServingError):
    """405: the path exists, the method does not (``allow``: the methods it has)."""

    def __init__(self, method, path, allow):
        super().__init__(grpc.StatusCode.INVALID_ARGUMENT,
                         f"Method {method} is not allowed for {path}; allowed: {', '.join(allow)}")
        self.allow = allow


_API = {":predict": "Predict", ":classify": "Classify"}


class RestApi:
    """Dispatches one REST request to predict.py; ``handle`` never raises.

    ``readiness``: a callable returning the reasons the server is not ready (health.py; None: always ready);
    ``metrics``: a ``metrics.Metrics`` (requests are recorded in it), scraped at ``prometheus_path`` when given."""

    def __init__(self, manager, batcher=None, max_body_bytes=2**31 - 1, limits=limits_lib.TokenLimits(),
                 readiness=None, metrics=None, prometheus_path=None):
        self.manager = manager
        self.batcher = batcher
        self.max_body_bytes = max_body_bytes
        self.limits = limits
        self.readiness = readiness
        self.metrics = metrics
        self.prometheus_path = prometheus_path

    def handle(self, method: str, path: str, body: bytes, deadline=None, headers=None) -> tuple:
        """-> (HTTP status, body, extra response headers): the body is JSON-able, or bytes whose type the
        ``Content-Type`` header gives (the Prometheus scrape)."""
        route = path.split("?", 1)[0]
        if route in ("/livez", "/readyz") or (self.prometheus_path and route == self.prometheus_path):
            return self._operation(method, route)
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return 200, self._dispatch(method, path, body, deadline, headers or {}), {}
        except MethodNotAllowed as error:
            code = error.code
            return 405, {"error": error.message}, {"Allow": ", ".join(error.allow)}
        except Exception as error:  # noqa: BLE001 - every failure becomes {"error": ...}, never a dead worker
            failure = errors.from_exception(error)
            code = failure.code
            if failure.code == grpc.StatusCode.INTERNAL:
                logging.exception("REST %s %s failed", method, path)
            return failure.http_status, {"error": failure.message}, {}
        finally:
            match = _PATH.match(route)
            if self.metrics is not None and match and match["verb"] in _API:
                self.metrics.observe_request(match["name"], _API[match["verb"]], "REST", code.name,
                                             time.perf_counter() - start)

    def _operation(self, method, route):
        """``/livez``, ``/readyz`` and the Prometheus scrape (GET and HEAD only)."""
        if method not in _READ_METHODS:
            return 405, {"error": f"Method {method} is not allowed for {route}; allowed: GET, HEAD"}, {
                "Allow": ", ".join(_READ_METHODS)}
        if route == "/livez":
            return 200, {"status": "alive"}, {}
        if route == "/readyz":
            reasons = self.readiness() if self.readiness is not None else []
            if reasons:
                return 503, {"error": "not ready: " + "; ".join(reasons), "reasons": reasons}, {}
            return 200, {"status": "ready"}, {}
        return 200, self.metrics.exposition(), {"Content-Type": metrics_lib.CONTENT_TYPE}

    @staticmethod
    def _model_spec(spec, match):
        spec.name = match["name"]
        if match["version"]:
            version = int(match["version"])
            if version > INT64_MAX:
                raise ServingError(_INVALID, f"Failed to convert version: {match['version']} to numeric.")
            spec.version.value = version
        elif match["label"]:
            spec.version_label = match["label"]
        return spec

    def _dispatch(self, method, path, body, deadline, headers):
        route = path.split("?", 1)[0]
        match = _PATH.match(route)
        if match is None:
            raise ServingError(_INVALID, f"Malformed request: {method} {path}")
        verb = match["verb"]
        allow = allowed_methods(verb)
        if method == "OPTIONS":
            if not re.match(r"https?://", headers.get("Origin", "")):
                raise ServingError(grpc.StatusCode.FAILED_PRECONDITION, "Origin header is missing in CORS preflight")
            return {}
        if method not in allow:
            raise MethodNotAllowed(method, route, allow)
        if verb is None:
            request = get_model_status_pb2.GetModelStatusRequest()
            self._model_spec(request.model_spec, match)
            return _status_json(predict.get_model_status(self.manager, request))
        if verb == "/metadata":
            request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
            self._model_spec(request.model_spec, match)
            response = predict.get_model_metadata(self.manager, request)
            signature_map = get_model_metadata_pb2.SignatureDefMap()
            response.metadata["signature_def"].Unpack(signature_map)
            return {"model_spec": _status_json(response.model_spec),
                    "metadata": {"signature_def": _status_json(signature_map)}}
        if verb == ":regress":
            raise ServingError(grpc.StatusCode.UNIMPLEMENTED, "Regress is not implemented by nli_model_server")
        if verb == ":classify":
            request = classification_pb2.ClassificationRequest()
            self._model_spec(request.model_spec, match)
            json_codec.examples_from_json(body, request)
            response = predict.classify(self.manager, request, self.batcher, self.limits, deadline)
            return {"results": [[[c.label, c.score] for c in item.classes]
                                for item in response.result.classifications]}
        spec = self._model_spec(get_model_status_pb2.GetModelStatusRequest().model_spec, match)
        servable = predict.servable_for(self.manager, spec)
        key, signature, inputs, fmt = json_codec.decode_predict_body(
            body, lambda name: predict.prediction_signature(servable, name))
        outputs = predict.predict_arrays(servable, key, signature, inputs, sorted(signature.outputs), self.batcher,
                                         self.limits, deadline)
        return json_codec.encode_predict_outputs(outputs, fmt)
