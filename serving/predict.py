"""The PredictionService / ModelService operations as plain functions over protos (no server needed).

``predict``, ``classify``, ``get_model_metadata`` and ``get_model_status`` take a :class:`ModelManager` and the
request proto and return the response proto, raising :class:`ServingError` with TF Serving's status codes and
message texts (``predict_util.cc``, ``classifier.cc``, ``get_model_metadata_impl.cc``,
``get_model_status_impl.cc``).

gRPC and REST share one predict path, :func:`predict_arrays` (input names and shapes against the signature, the
token limits of limits.py, the deadline of deadlines.py, then the model through the batcher), so their checks cannot
drift: gRPC decodes ``TensorProto``s into arrays, REST decodes JSON (json_codec.py), and both call it.
"""
import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import any_pb2
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import predict_pb2

from serving import deadlines
from serving import errors
from serving import limits as limits_lib
from serving.errors import ServingError
from serving.servable import CLASSIFY_METHOD_NAME

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD_NAME = "tensorflow/serving/predict"
REGRESS_METHOD_NAME = "tensorflow/serving/regress"
_INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _join(names):
    return ",".join(sorted(names))


def dtype_name(enum: int) -> str:
    """TensorFlow's C++ name of a DataType ("float", "int64", "string"), as its error messages print it."""
    return types_pb2.DataType.Name(enum)[3:].lower()


def numpy_dtype(enum: int):
    return object if enum == types_pb2.DT_STRING else tf.dtypes.as_dtype(enum).as_numpy_dtype


def shape_of(tensor_info) -> tuple | None:
    """A TensorInfo's shape as a tuple with None for unknown dimensions (None for unknown rank)."""
    if tensor_info.tensor_shape.unknown_rank:
        return None
    return tuple(None if d.size < 0 else d.size for d in tensor_info.tensor_shape.dim)


def _shape_text(shape):
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# ---- model spec -----------------------------------------------------------------------------------------------------
def servable_for(manager, model_spec):
    """The servable a ``ModelSpec`` asks for (version, version label, or latest)."""
    if not model_spec.name:
        raise ServingError(_INVALID, "Missing ModelSpec")
    choice = model_spec.WhichOneof("version_choice")
    if choice == "version":
        return manager.servable(model_spec.name, version=model_spec.version.value)
    if choice == "version_label":
        return manager.servable(model_spec.name, label=model_spec.version_label)
    return manager.servable(model_spec.name)


def signature_def(servable, signature_name: str):
    key = signature_name or DEFAULT_SIGNATURE
    if key not in servable.signature_defs:
        raise ServingError(grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{key}" not found.')
    return key, servable.signature_defs[key]


def prediction_signature(servable, signature_name: str):
    """The signature a Predict call runs: it must exist and have a predict, classify or regress method name."""
    key, signature = signature_def(servable, signature_name)
    if signature.method_name not in (PREDICT_METHOD_NAME, CLASSIFY_METHOD_NAME, REGRESS_METHOD_NAME):
        raise ServingError(grpc.StatusCode.INTERNAL, (
            f"Expected prediction signature method_name to be one of {{{PREDICT_METHOD_NAME}, "
            f"{CLASSIFY_METHOD_NAME}, {REGRESS_METHOD_NAME}}}. Was: {signature.method_name}"))
    return key, signature


def _fill_model_spec(spec, servable, signature_key):
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = signature_key


# ---- validation and execution ---------------------------------------------------------------------------------------
def check_input_names(signature, names):
    """TF Serving's ``VerifyRequestInputsSize`` and unknown-alias checks."""
    expected = set(signature.inputs)
    names = set(names)
    if len(names) != len(expected):
        raise ServingError(_INVALID, (
            f"input size does not match signature: {len(names)}!={len(expected)} len({{{_join(names)}}}) != "
            f"len({{{_join(expected)}}}). Sent extra: {{{_join(names - expected)}}}. "
            f"Missing but required: {{{_join(expected - names)}}}."))
    unknown = sorted(names - expected)
    if unknown:
        raise ServingError(_INVALID, f"input tensor alias not found in signature: {unknown[0]}. Inputs expected to "
                                     f"be in the set {{{_join(expected)}}}.")


def check_output_filter(signature, output_filter) -> list:
    """The output aliases to return: ``output_filter`` validated, or all of the signature's outputs."""
    seen = []
    for alias in output_filter:
        if alias not in signature.outputs:
            raise ServingError(_INVALID, f"output tensor alias not found in signature: {alias} Outputs expected to "
                                         f"be in the set {{{_join(signature.outputs)}}}.")
        if alias in seen:
            raise ServingError(_INVALID, f"duplicate output tensor alias: {alias}")
        seen.append(alias)
    return seen or sorted(signature.outputs)


def check_input_arrays(signature, inputs: dict):
    """Shapes against the signature, a non-empty batch, and one batch size shared by all inputs."""
    batch_sizes = set()
    for name in sorted(inputs):
        value, info = inputs[name], signature.inputs[name]
        shape = shape_of(info)
        if shape is None:
            continue
        if len(shape) != value.ndim or any(d is not None and d != v for d, v in zip(shape, value.shape)):
            raise ServingError(_INVALID, f"Cannot feed value of shape {_shape_text(value.shape)} for Tensor "
                                         f"'{info.name}' (input {name}), which has shape '{_shape_text(shape)}'")
        if shape and shape[0] is None:
            if value.shape[0] == 0:
                raise ServingError(_INVALID, f"Input {name} is an empty batch: dimension 0 has size 0")
            batch_sizes.add(value.shape[0])
    if len(batch_sizes) > 1:
        raise ServingError(_INVALID, "Batching session Run() input tensors must have equal 0th-dimension size")


_VALUE_FIELD = {
    types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val", types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT16: "int_val", types_pb2.DT_INT8: "int_val", types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_INT64: "int64_val", types_pb2.DT_BOOL: "bool_val", types_pb2.DT_STRING: "string_val",
}


def tensor_proto(value: np.ndarray):
    """An output array as TF Serving writes it (``Tensor::AsProtoField``: typed ``*_val`` fields)."""
    value = np.asarray(value)
    if value.dtype == object:
        dtype = types_pb2.DT_STRING
    else:
        dtype = tf.dtypes.as_dtype(value.dtype).as_datatype_enum
    field = _VALUE_FIELD.get(dtype)
    if field is None:
        return tf.make_tensor_proto(value)
    proto = tensor_pb2.TensorProto(dtype=dtype)
    for size in value.shape:
        proto.tensor_shape.dim.add(size=size)
    getattr(proto, field).extend(value.ravel().tolist())
    return proto


def _call(function, inputs: dict) -> dict:
    try:
        outputs = function(**{name: tf.constant(value) for name, value in inputs.items()})
        return {name: tensor.numpy() for name, tensor in outputs.items()}
    except tf.errors.OpError as error:
        raise errors.from_exception(error) from None


def run_signature(servable, signature_key, inputs: dict, output_aliases, batcher=None, deadline=None,
                  length=0) -> dict:
    """Runs one signature on validated arrays (through the batcher when batching is on; ``length``, the longest
    string's size, picks the batcher's length bucket)."""
    function = servable.functions[signature_key]
    if batcher is None:
        outputs = _call(function, inputs)
    else:
        outputs = batcher.submit((servable.name, servable.version, id(servable), signature_key),
                                 lambda merged: _call(function, merged), inputs, deadline=deadline, length=length)
    return {alias: outputs[alias] for alias in output_aliases}


def check_limits(cells, limits):
    """limits.check_strings, counting refusals; returns the longest string's byte length."""
    try:
        return limits_lib.check_strings(cells, limits)
    except ServingError:
        deadlines.COUNTERS.add("over_token_limit")
        raise


def predict_arrays(servable, key, signature, inputs: dict, output_aliases, batcher=None,
                   limits=limits_lib.TokenLimits(), deadline=None) -> dict:
    """THE predict path of both protocols, on decoded arrays: names, shapes, token limits, deadline, model."""
    check_input_names(signature, inputs)
    check_input_arrays(signature, inputs)
    length = check_limits(limits_lib.string_cells(inputs), limits)
    deadlines.check(deadline, "before it ran")
    return run_signature(servable, key, inputs, output_aliases, batcher, deadline, length)


def _ndarray(proto) -> np.ndarray:
    """``tf.make_ndarray``, with a fast path for the common case of a string tensor listed in full."""
    shape = [d.size for d in proto.tensor_shape.dim]
    if proto.dtype == types_pb2.DT_STRING and len(proto.string_val) == int(np.prod(shape)):
        array = np.empty(len(proto.string_val), dtype=object)
        array[:] = list(proto.string_val)
        return array.reshape(shape)
    return tf.make_ndarray(proto)


def arrays_from_tensor_protos(signature, tensors) -> dict:
    """Decodes request ``TensorProto``s after checking each dtype against the signature."""
    order = sorted(signature.inputs)
    inputs = {}
    for name, proto in tensors.items():
        expected = signature.inputs[name].dtype
        if proto.dtype != expected:
            raise ServingError(_INVALID, f"Expects arg[{order.index(name)}] to be {dtype_name(expected)} but "
                                         f"{dtype_name(proto.dtype) if proto.dtype else 'invalid'} is provided")
        try:
            inputs[name] = _ndarray(proto)
        except Exception:  # noqa: BLE001 - any malformed tensor is the client's error
            raise ServingError(_INVALID, f"tensor parsing error: {name}") from None
    return inputs


# ---- the RPCs --------------------------------------------------------------------------------------------------------
def predict(manager, request, batcher=None, limits=limits_lib.TokenLimits(), deadline=None):
    """``PredictionService.Predict``."""
    return predict_with(servable_for(manager, request.model_spec), request, batcher, limits, deadline)


def predict_with(servable, request, batcher=None, limits=limits_lib.TokenLimits(), deadline=None):
    """Predict on ``servable`` itself (the request's model name and version are not looked at: warm-up replays)."""
    key, signature = prediction_signature(servable, request.model_spec.signature_name)
    check_input_names(signature, request.inputs)
    aliases = check_output_filter(signature, request.output_filter)
    inputs = arrays_from_tensor_protos(signature, request.inputs)
    outputs = predict_arrays(servable, key, signature, inputs, aliases, batcher, limits, deadline)
    response = predict_pb2.PredictResponse()
    _fill_model_spec(response.model_spec, servable, key)
    for alias, value in outputs.items():
        response.outputs[alias].CopyFrom(tensor_proto(value))
    return response


def classification_signature(servable, signature_name):
    key = signature_name or DEFAULT_SIGNATURE
    if key not in servable.signature_defs:
        raise ServingError(_INVALID, f"No signature was found with the name: {key}")
    signature = servable.signature_defs[key]
    if signature.method_name != CLASSIFY_METHOD_NAME:
        raise ServingError(_INVALID, f"Expected classification signature method_name to be {CLASSIFY_METHOD_NAME}. "
                                     f"Was: {signature.method_name}")
    if len(signature.inputs) != 1:
        raise ServingError(_INVALID, "Expected one input Tensor.")
    return key, signature


def examples_of(input_proto) -> list:
    """``Input`` (``example_list`` or ``example_list_with_context``) -> ``tf.Example``s (context merged in)."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        examples = list(input_proto.example_list.examples)
    elif kind == "example_list_with_context":
        context = input_proto.example_list_with_context.context
        examples = []
        for example in input_proto.example_list_with_context.examples:
            merged = tf.train.Example()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            examples.append(merged)
    else:
        examples = []
    if not examples:
        raise ServingError(_INVALID, "Input is empty.")
    return examples


def classify(manager, request, batcher=None, limits=limits_lib.TokenLimits(), deadline=None):
    """``PredictionService.Classify`` over ``tf.Example``s (the same limits and deadline as Predict)."""
    return classify_with(servable_for(manager, request.model_spec), request, batcher, limits, deadline)


def classify_with(servable, request, batcher=None, limits=limits_lib.TokenLimits(), deadline=None):
    """Classify on ``servable`` itself (as :func:`predict_with`)."""
    key, signature = classification_signature(servable, request.model_spec.signature_name)
    examples = examples_of(request.input)
    input_name = next(iter(signature.inputs))
    aliases = [a for a in ("classes", "scores") if a in signature.outputs]
    if not aliases:
        raise ServingError(_INVALID, "Expected classification signature outputs to contain classes or scores")
    length = check_limits(limits_lib.example_cells(examples), limits)
    deadlines.check(deadline, "before it ran")
    serialized = [e.SerializeToString() for e in examples]
    outputs = run_signature(servable, key, {input_name: np.array(serialized, dtype=object)}, aliases, batcher,
                            deadline, length)
    response = classification_pb2.ClassificationResponse()
    _fill_model_spec(response.model_spec, servable, key)
    classes, scores = outputs.get("classes"), outputs.get("scores")
    for row in range(len(serialized)):
        classification = response.result.classifications.add()
        width = (classes if classes is not None else scores).shape[1]
        for column in range(width):
            cls = classification.classes.add()
            if classes is not None:
                cls.label = classes[row, column].decode("utf-8", "replace")
            if scores is not None:
                cls.score = float(scores[row, column])
    return response


def get_model_metadata(manager, request):
    """``PredictionService.GetModelMetadata`` (``signature_def`` is the only metadata field, as in TF Serving)."""
    if not request.metadata_field:
        raise ServingError(_INVALID, "GetModelMetadataRequest must specify at least one metadata_field")
    for field in request.metadata_field:
        if field != "signature_def":
            raise ServingError(_INVALID, f"Metadata field {field} is not supported")
    servable = servable_for(manager, request.model_spec)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in servable.signature_defs.items():
        signature_map.signature_def[key].CopyFrom(signature)
    packed = any_pb2.Any()
    packed.Pack(signature_map)
    response.metadata["signature_def"].CopyFrom(packed)
    return response


_STATE = get_model_status_pb2.ModelVersionStatus.State


def get_model_status(manager, request):
    """``ModelService.GetModelStatus``: per-version state and load error."""
    spec = request.model_spec
    if not spec.name:
        raise ServingError(_INVALID, "Missing ModelSpec")
    version = None
    if spec.WhichOneof("version_choice") == "version":
        version = spec.version.value
    elif spec.WhichOneof("version_choice") == "version_label":
        version = manager.resolve_label(spec.name, spec.version_label)
    response = get_model_status_pb2.GetModelStatusResponse()
    for status in manager.status(spec.name, version):
        entry = response.model_version_status.add(version=status.version, state=_STATE.Value(status.state))
        entry.status.error_code = status.error_code.value[0]
        entry.status.error_message = status.error_message
    return response
