"""TF Serving's REST API over the plain functions of predict.py (stdlib ``ThreadingHTTPServer``).

Routes (https://www.tensorflow.org/tfx/serving/api_rest):
``POST /v1/models/NAME[/versions/N|/labels/L]:predict`` (row ``instances`` or columnar ``inputs``; ``{"b64": ..}``
for bytes), ``:classify`` (``examples`` + optional ``context``), ``:regress`` (UNIMPLEMENTED),
``GET /v1/models/NAME[/versions/N|/labels/L]`` (status) and ``.../metadata``. Errors answer ``{"error": message}``
with TF Serving's HTTP status for the code. Bodies larger than ``max_body_bytes`` -> RESOURCE_EXHAUSTED (429).
The JSON codec (:func:`decode_predict_body`, :func:`encode_predict_outputs`, :func:`examples_from_json`) is plain
functions, testable without a server.
"""
import base64
import http.server
import json
import re
import threading
import time

import grpc
import numpy as np
import tensorflow as tf
from absl import logging
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2

from serving import errors
from serving import predict
from serving.errors import ServingError

_INVALID = grpc.StatusCode.INVALID_ARGUMENT
_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                   r"(?P<verb>:predict|:classify|:regress|/metadata)?$")


def _json_text(value):
    return json.dumps(value, separators=(",", ":"))[:200]


def _json_type(value):
    return {bool: "Bool", int: "Number", float: "Number", str: "String", list: "Array", dict: "Object",
            type(None): "Null"}[type(value)]


def _is_b64(value):
    return isinstance(value, dict) and list(value) == ["b64"]


def _leaf(value, dtype):
    """One JSON scalar (or b64 object) as a value of ``dtype`` (a DataType enum)."""
    if dtype == types_pb2.DT_STRING:
        if isinstance(value, str):
            return value.encode("utf-8")
        if _is_b64(value) and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except ValueError:
                raise ServingError(_INVALID, f"Unable to base64 decode: {value['b64'][:50]}") from None
    elif dtype == types_pb2.DT_BOOL:
        if isinstance(value, bool):
            return value
    elif tf.dtypes.as_dtype(dtype).is_integer:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tf.dtypes.as_dtype(dtype).is_floating:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    raise ServingError(_INVALID, f"JSON Value: {_json_text(value)} Type: {_json_type(value)} is not of expected "
                                 f"type: {predict.dtype_name(dtype)}")


def _dense_shape(value):
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def json_to_array(value, dtype) -> np.ndarray:
    """A (nested list) JSON value as a dense array of ``dtype``; ragged lists are rejected as TF Serving does."""
    shape = _dense_shape(value)
    flat = []

    def fill(v, level):
        if not isinstance(v, list):
            if level != len(shape):
                raise ServingError(_INVALID, f"Encountered scalar {_json_text(v)} at level: {level} expected a "
                                             f"list of rank {len(shape) - level}")
            flat.append(_leaf(v, dtype))
            return
        if level >= len(shape):
            raise ServingError(_INVALID, f"Encountered list at unexpected level: {level} expected < {len(shape)}")
        if len(v) != shape[level]:
            raise ServingError(_INVALID, f"Encountered list at unexpected size: {len(v)} at level: {level} "
                                         f"expected size: {shape[level]}")
        for item in v:
            fill(item, level + 1)

    fill(value, 0)
    array = np.empty(len(flat), dtype=predict.numpy_dtype(dtype))
    array[:] = flat
    return array.reshape(shape)


def _parse_json(body: bytes):
    if not body:
        raise ServingError(_INVALID, "JSON Parse error: The document is empty")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ServingError(_INVALID, f"JSON Parse error: {error}") from None
    if not isinstance(doc, dict):
        raise ServingError(_INVALID, f"JSON Value: {_json_text(doc)} Is not object")
    signature_name = doc.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise ServingError(_INVALID, f"'signature_name' key must be a string value. JSON Value: {_json_text(doc)}")
    return doc, signature_name


def decode_predict_body(body: bytes, signature_for) -> tuple:
    """A ``:predict`` body -> (signature key, signature, input arrays, "row" | "columnar").

    ``signature_for(signature_name) -> (key, SignatureDef)`` resolves the signature (FAILED_PRECONDITION if unknown).
    """
    doc, signature_name = _parse_json(body)
    key, signature = signature_for(signature_name)
    infos = signature.inputs
    names = sorted(infos)
    if "instances" in doc and "inputs" in doc:
        raise ServingError(_INVALID, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys "
                                     "to exist")
    if "instances" in doc:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise ServingError(_INVALID, "Excepting 'instances' to be an list/array")
        if not instances:
            raise ServingError(_INVALID, "No values in 'instances' array")
        by_object = isinstance(instances[0], dict) and not _is_b64(instances[0])
        if not by_object:
            if len(infos) > 1:
                raise ServingError(_INVALID, "instances is a plain list, but expecting list of objects as multiple "
                                             "input tensors required as per tensorinfo_map")
            return key, signature, {names[0]: json_to_array(instances, infos[names[0]].dtype)}, "row"
        columns = {name: [] for name in names}
        for index, item in enumerate(instances):
            if not isinstance(item, dict) or _is_b64(item):
                raise ServingError(_INVALID, f"Expecting object but got list at item {index} of input list")
            if set(item) != set(names):
                raise ServingError(_INVALID, f"Failed to process element: {index} of 'instances' list. JSON object: "
                                             f"{_json_text(item)} must only have keys: {','.join(names)}")
            for name in names:
                columns[name].append(item[name])
        inputs = {}
        for name in names:
            try:
                inputs[name] = json_to_array(columns[name], infos[name].dtype)
            except ServingError as error:
                raise ServingError(_INVALID, f"Failed to process 'instances' key: {name}. Error: "
                                             f"{error.message}") from None
        return key, signature, inputs, "row"
    if "inputs" in doc:
        value = doc["inputs"]
        if not isinstance(value, dict) or _is_b64(value):
            if len(infos) > 1:
                raise ServingError(_INVALID, "inputs is a plain value/list, but expecting an object as multiple "
                                             "input tensors required as per tensorinfo_map")
            return key, signature, {names[0]: json_to_array(value, infos[names[0]].dtype)}, "columnar"
        inputs = {}
        for name in names:
            if name not in value:
                raise ServingError(_INVALID, f"Missing named input: {name} in 'inputs' object.")
            inputs[name] = json_to_array(value[name], infos[name].dtype)
        return key, signature, inputs, "columnar"
    raise ServingError(_INVALID, "Missing 'inputs' or 'instances' key")


def _jsonable(alias, value: np.ndarray):
    if value.dtype == object:
        if alias.endswith("_bytes"):
            convert = lambda b: {"b64": base64.b64encode(b).decode("ascii")}  # noqa: E731
        else:
            convert = lambda b: b.decode("utf-8", "replace")  # noqa: E731
        return np.vectorize(convert, otypes=[object])(value).tolist() if value.size else value.tolist()
    return value.tolist()


def encode_predict_outputs(outputs: dict, fmt: str) -> dict:
    """Row format: ``{"predictions": [...]}``; columnar: ``{"outputs": ...}`` (a bare value for one output)."""
    values = {alias: _jsonable(alias, v) for alias, v in outputs.items()}
    if fmt == "columnar":
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    sizes = {len(v) if isinstance(v, list) else None for v in values.values()}
    if len(sizes) != 1 or None in sizes:
        raise ServingError(_INVALID, "Tensor name: all outputs must have the same 0th dimension for the row format; "
                                     "use the columnar 'inputs' format")
    size = sizes.pop()
    return {"predictions": [{alias: v[i] for alias, v in values.items()} for i in range(size)]}


def _feature(name, value, feature):
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str) or _is_b64(item):
            if feature.HasField("float_list") or feature.HasField("int64_list"):
                raise ServingError(_INVALID, f"Unexpected element type in feature: {name} expecting type: "
                                             f"{'float' if feature.HasField('float_list') else 'int64'}")
            feature.bytes_list.value.append(_leaf(item, types_pb2.DT_STRING))
        elif isinstance(item, (bool, int)):
            if feature.HasField("bytes_list") or feature.HasField("float_list"):
                raise ServingError(_INVALID, f"Unexpected element type in feature: {name} expecting type: "
                                             f"{'bytes' if feature.HasField('bytes_list') else 'float'}")
            feature.int64_list.value.append(int(item))
        elif isinstance(item, float):
            if feature.HasField("bytes_list") or feature.HasField("int64_list"):
                raise ServingError(_INVALID, f"Unexpected element type in feature: {name} expecting type: "
                                             f"{'bytes' if feature.HasField('bytes_list') else 'int64'}")
            feature.float_list.value.append(item)
        else:
            raise ServingError(_INVALID, f"Feature: {name} has element with unexpected JSON type: "
                                         f"{_json_type(item)}")


def example_from_json(obj) -> tf.train.Example:
    if not isinstance(obj, dict):
        raise ServingError(_INVALID, f"Example must be JSON object but got JSON {_json_type(obj)}")
    example = tf.train.Example()
    for name, value in obj.items():
        _feature(name, value, example.features.feature[name])
    return example


def examples_from_json(body: bytes):
    """A ``:classify`` body -> ``ClassificationRequest`` (model spec to be filled by the caller)."""
    doc, signature_name = _parse_json(body)
    request = classification_pb2.ClassificationRequest()
    request.model_spec.signature_name = signature_name
    examples = doc.get("examples")
    if not isinstance(examples, list):
        raise ServingError(_INVALID, "'examples' key not found or not a list in the JSON request")
    if "context" in doc:
        target = request.input.example_list_with_context
        target.context.CopyFrom(example_from_json(doc["context"]))
    else:
        target = request.input.example_list
    for example in examples:
        target.examples.add().CopyFrom(example_from_json(example))
    return request


def _status_json(response):
    return json_format.MessageToDict(response, always_print_fields_with_no_presence=True,
                                     preserving_proto_field_name=True)


class RestApi:
    """Dispatches one REST request to predict.py; returns (HTTP status, JSON-able body)."""

    def __init__(self, manager, batcher=None, max_body_bytes=2**31 - 1):
        self.manager = manager
        self.batcher = batcher
        self.max_body_bytes = max_body_bytes

    def handle(self, method: str, path: str, body: bytes) -> tuple:
        try:
            return 200, self._dispatch(method, path, body)
        except Exception as error:  # noqa: BLE001 - every failure becomes {"error": ...}, never a dead worker
            failure = errors.from_exception(error)
            if failure.code == grpc.StatusCode.INTERNAL:
                logging.exception("REST %s %s failed", method, path)
            return failure.http_status, {"error": failure.message}

    def _model_spec(self, spec, match):
        spec.name = match["name"]
        if match["version"]:
            spec.version.value = int(match["version"])
        elif match["label"]:
            spec.version_label = match["label"]
        return spec

    def _dispatch(self, method, path, body):
        match = _PATH.match(path.split("?", 1)[0])
        verb = match["verb"] if match else None
        if match is None or (method == "GET") != (verb in (None, "/metadata")) or method not in ("GET", "POST"):
            raise ServingError(_INVALID, f"Malformed request: {method} {path}")
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
            request = examples_from_json(body)
            self._model_spec(request.model_spec, match)
            response = predict.classify(self.manager, request, self.batcher)
            return {"results": [[[c.label, c.score] for c in item.classes]
                                for item in response.result.classifications]}
        spec = self._model_spec(get_model_status_pb2.GetModelStatusRequest().model_spec, match)
        servable = predict.servable_for(self.manager, spec)
        key, signature, inputs, fmt = decode_predict_body(body, lambda name: predict.signature_def(servable, name))
        predict.check_input_arrays(signature, inputs)
        outputs = predict.run_signature(servable, key, inputs, sorted(signature.outputs), self.batcher)
        return encode_predict_outputs(outputs, fmt)


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "nli_model_server"

    def _serve(self, method):
        start = time.perf_counter()
        api = self.server.api
        length = int(self.headers.get("Content-Length") or 0)
        if length > api.max_body_bytes:
            status, payload = 429, {"error": f"Request body of {length} bytes exceeds the limit of "
                                             f"{api.max_body_bytes} bytes"}
            self.close_connection = True
        else:
            status, payload = api.handle(method, self.path, self.rfile.read(length) if length else b"")
        data = json.dumps(payload, allow_nan=True).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        logging.info("rest %s %s status=%d latency_ms=%.2f", method, self.path, status,
                     (time.perf_counter() - start) * 1e3)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def log_message(self, format, *args):  # noqa: A002 - requests are logged with latencies in _serve
        pass


class RestServer(http.server.ThreadingHTTPServer):
    """The REST endpoint; ``shutdown()`` then ``server_close()`` waits for in-flight requests."""
    daemon_threads = False
    block_on_close = True
    request_queue_size = 128  # the listen backlog: stdlib's 5 refuses connections under concurrent load

    def __init__(self, address, api: RestApi):
        super().__init__(address, _Handler)
        self.api = api
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self.serve_forever, name="rest", daemon=True)
        self._thread.start()

    def stop(self):
        self.shutdown()
        self.server_close()
