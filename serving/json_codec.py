"""TF Serving's REST JSON codec (https://www.tensorflow.org/tfx/serving/api_rest), plain functions, no server.

Requests: ``:predict`` bodies in the row (``instances``) or columnar (``inputs``) format, ``{"b64": ...}`` for
bytes, -> input arrays (:func:`decode_predict_body`); ``:classify`` bodies (``examples`` + optional ``context``) ->
``ClassificationRequest`` (:func:`examples_from_json`). Responses: output arrays -> ``predictions`` / ``outputs``
(:func:`encode_predict_outputs`). Errors are INVALID_ARGUMENT with TF Serving's texts (``json_tensor.cc``).

TF Serving parses with rapidjson's iterative parser, so nesting depth costs it nothing; Python's recursive parser
would overflow, so documents nested deeper than :data:`MAX_JSON_DEPTH` are refused up front ("JSON Parse error:
...", as a parse error) by a linear scan that never recurses.
"""
import base64
import json
import re

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2

from serving import predict
from serving.errors import ServingError

_INVALID = grpc.StatusCode.INVALID_ARGUMENT
MAX_JSON_DEPTH = 64
# Strings (with escapes) and every byte that is not a bracket: what the depth scan skips.
_NOT_BRACKETS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[^"\[\]{}]+')


def json_depth(body: bytes) -> int:
    """The deepest nesting of ``[`` / ``{`` in a JSON text (brackets inside strings do not count)."""
    brackets = np.frombuffer(_NOT_BRACKETS.sub(b"", body), np.uint8)
    if brackets.size == 0:
        return 0
    steps = ((brackets == ord("[")) | (brackets == ord("{"))).astype(np.int64)
    steps -= (brackets == ord("]")) | (brackets == ord("}"))
    return int(np.cumsum(steps).max())


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
            try:
                return value.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate escape such as "\ud800"
                raise ServingError(_INVALID, f"JSON Value: {_json_text(value)} is not valid UTF-8") from None
        if _is_b64(value) and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except ValueError:
                raise ServingError(_INVALID, f"Unable to base64 decode: {value['b64'][:50]}") from None
    elif dtype == types_pb2.DT_BOOL:
        if isinstance(value, bool):
            return value
    elif tf.dtypes.as_dtype(dtype).is_integer:
        limits = np.iinfo(tf.dtypes.as_dtype(dtype).as_numpy_dtype)
        if isinstance(value, int) and not isinstance(value, bool) and limits.min <= value <= limits.max:
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
    if json_depth(body) > MAX_JSON_DEPTH:
        raise ServingError(_INVALID, f"JSON Parse error: The document nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
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
            feature.int64_list.value.append(_leaf(item, types_pb2.DT_INT64))
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


def examples_from_json(body: bytes, request=None):
    """A ``:classify`` body -> ``request`` (a ``ClassificationRequest``, new if None; the caller fills the model
    spec's name and version)."""
    doc, signature_name = _parse_json(body)
    if request is None:
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
