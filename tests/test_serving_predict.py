"""predict.py on a real (toy) SavedModel with the export contract's signatures: values vs the numpy reference,
TF Serving's error codes and texts, Classify, GetModelMetadata and GetModelStatus."""
import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from nli_app.testing import serving_requests
from nli_app.testing import toy_model
from serving import predict
from serving.batching import Batcher
from serving.client import string_tensor
from serving.config import BatchingParameters
from serving.errors import ServingError
from serving.model_manager import ModelManager

PREMISES = ["A man is playing a guitar on stage .", "Two dogs run", "x"]
HYPOTHESES = ["A man is not playing .", "Animals are outside", "y y not"]
INVALID, NOT_FOUND, FAILED = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                              grpc.StatusCode.FAILED_PRECONDITION)


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / "toy"
    toy_model.write_toy_model(str(base / "1"), seed=1)
    toy_model.write_toy_model(str(base / "2"), seed=2)
    config = text_format.Parse(f'model_config_list {{ config {{ name: "toy" base_path: "{base}" '
                               'model_version_policy { all {} } version_labels { key: "stable" value: 1 } } }',
                               model_server_config_pb2.ModelServerConfig())
    return ModelManager(config, poll_wait_seconds=0)


def predict_request(premises=PREMISES, hypotheses=HYPOTHESES, name="toy", **model_spec):
    return serving_requests.predict_request(premises, hypotheses, name, **model_spec)


def outputs(response):
    return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


@pytest.mark.parametrize("spec, seed", [({}, 2), ({"version": 1}, 1), ({"version_label": "stable"}, 1)])
def test_predict_matches_numpy_reference(manager, spec, seed):
    response = predict.predict(manager, predict_request(**spec))
    out = outputs(response)
    reference = toy_model.reference_probabilities(PREMISES, HYPOTHESES, seed)
    np.testing.assert_allclose(out["probabilities"], reference, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["label_id"], reference.argmax(1))
    assert [s.decode() for s in out["label"]] == [toy_model.LABELS[i] for i in reference.argmax(1)]
    assert response.model_spec.version.value == seed and response.model_spec.signature_name == "serving_default"
    # TF Serving writes typed value fields (AsProtoField), which clients such as nli_predict read directly.
    probabilities = response.outputs["probabilities"]
    assert len(probabilities.float_val) == 9 and not probabilities.tensor_content


def test_output_filter(manager):
    request = predict_request()
    request.output_filter.append("label")
    assert set(predict.predict(manager, request).outputs) == {"label"}


def test_batched_predict_equals_unbatched(manager):
    batcher = Batcher(BatchingParameters(max_batch_size=8, allowed_batch_sizes=(4, 8), num_batch_threads=1))
    batched = outputs(predict.predict(manager, predict_request(), batcher))
    batcher.stop()
    plain = outputs(predict.predict(manager, predict_request()))
    np.testing.assert_allclose(batched["probabilities"], plain["probabilities"], rtol=1e-6)


def _wrong_dtype():
    request = predict_request()
    request.inputs["premise"].CopyFrom(tf.make_tensor_proto(np.array([1.0, 2.0, 3.0], np.float32)))
    return request


def _filter(*aliases):
    request = predict_request()
    request.output_filter.extend(aliases)
    return request


def _malformed():
    request = predict_request()
    request.inputs["premise"].tensor_shape.dim[0].size = 2  # 3 values for 2 elements
    return request


def _extra():
    request = predict_request()
    request.inputs["extra"].CopyFrom(string_tensor(["a", "b", "c"]))
    return request


def _renamed():
    request = predict_request(hypotheses=None)
    request.inputs["hypothesys"].CopyFrom(string_tensor(HYPOTHESES))
    return request


BAD_REQUESTS = [
    (lambda: predict_request(name="nope"), NOT_FOUND, "Servable not found for request: Latest(nope)"),
    (lambda: predict_request(version=7), NOT_FOUND, "Servable not found for request: Specific(toy, 7)"),
    (lambda: predict_request(version_label="beta"), INVALID, "Unrecognized servable version label: beta"),
    (lambda: predict_request(signature_name="nope"), FAILED, 'Serving signature key "nope" not found.'),
    (lambda: predict_request(name=""), INVALID, "Missing ModelSpec"),
    (lambda: predict_request(hypotheses=None), INVALID,
     "input size does not match signature: 1!=2 len({premise}) != len({hypothesis,premise}). Sent extra: {}. "
     "Missing but required: {hypothesis}."),
    (_extra, INVALID, "input size does not match signature: 3!=2 len({extra,hypothesis,premise}) != "
                      "len({hypothesis,premise}). Sent extra: {extra}. Missing but required: {}."),
    (_renamed, INVALID, "input tensor alias not found in signature: hypothesys. Inputs expected to be in the set "
                        "{hypothesis,premise}."),
    (_wrong_dtype, INVALID, "Expects arg[1] to be string but float is provided"),
    (lambda: predict_request(premises=["a", "b"]), INVALID,
     "Batching session Run() input tensors must have equal 0th-dimension size"),
    (lambda: predict_request(premises=[], hypotheses=[]), INVALID,
     "Input hypothesis is an empty batch: dimension 0 has size 0"),
    (lambda: _filter("nope"), INVALID,
     "output tensor alias not found in signature: nope Outputs expected to be in the set "
     "{label,label_id,probabilities}."),
    (lambda: _filter("label", "label"), INVALID, "duplicate output tensor alias: label"),
    (_malformed, INVALID, "tensor parsing error: premise"),
]


@pytest.mark.parametrize("make_request, code, message", BAD_REQUESTS)
def test_bad_predict_requests(manager, make_request, code, message):
    with pytest.raises(ServingError) as info:
        predict.predict(manager, make_request())
    assert (info.value.code, info.value.message) == (code, message)


def test_misshaped_input(manager):
    request = predict_request()
    request.inputs["premise"].CopyFrom(tf.make_tensor_proto(np.array([[b"a"], [b"b"], [b"c"]], dtype=object)))
    with pytest.raises(ServingError) as info:
        predict.predict(manager, request)
    assert info.value.code == INVALID
    assert info.value.message == ("Cannot feed value of shape (3, 1) for Tensor 'serving_default_premise:0' "
                                  "(input premise), which has shape '(?,)'")


def classify_request(pairs, signature_name="classify", context=None):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "toy"
    request.model_spec.signature_name = signature_name
    target = request.input.example_list
    if context is not None:
        target = request.input.example_list_with_context
        target.context.features.feature["premise"].bytes_list.value.append(context.encode())
    for premise, hypothesis in pairs:
        example = target.examples.add()
        if premise is not None:
            example.features.feature["premise"].bytes_list.value.append(premise.encode())
        example.features.feature["hypothesis"].bytes_list.value.append(hypothesis.encode())
    return request


def test_classify_matches_reference(manager):
    response = predict.classify(manager, classify_request(zip(PREMISES, HYPOTHESES)))
    reference = toy_model.reference_probabilities(PREMISES, HYPOTHESES, 2)
    got = np.array([[c.score for c in item.classes] for item in response.result.classifications])
    np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-6)
    assert [c.label for c in response.result.classifications[0].classes] == list(toy_model.LABELS)
    with_context = predict.classify(manager, classify_request([(None, h) for h in HYPOTHESES], context="a b c"))
    got = np.array([[c.score for c in item.classes] for item in with_context.result.classifications])
    np.testing.assert_allclose(got, toy_model.reference_probabilities(["a b c"] * 3, HYPOTHESES, 2), rtol=1e-5)


@pytest.mark.parametrize("request_, code, message", [
    (classify_request([("a", "b")], "serving_default"), INVALID,
     "Expected classification signature method_name to be tensorflow/serving/classify. "
     "Was: tensorflow/serving/predict"),
    (classify_request([("a", "b")], "nope"), INVALID, "No signature was found with the name: nope"),
    (classify_request([]), INVALID, "Input is empty."),
])
def test_bad_classify_requests(manager, request_, code, message):
    with pytest.raises(ServingError) as info:
        predict.classify(manager, request_)
    assert (info.value.code, info.value.message) == (code, message)


def test_classify_with_missing_feature_is_the_models_invalid_argument(manager):
    with pytest.raises(ServingError) as info:
        predict.classify(manager, classify_request([(None, "b")]))
    assert info.value.code == INVALID and "premise" in info.value.message


def test_model_metadata(manager):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "toy"
    response = predict.get_model_metadata(manager, request)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    default = signatures.signature_def["serving_default"]
    assert sorted(default.inputs) == ["hypothesis", "premise"]
    assert default.inputs["premise"].dtype == types_pb2.DT_STRING
    assert {k: v.dtype for k, v in default.outputs.items()} == {
        "probabilities": types_pb2.DT_FLOAT, "label_id": types_pb2.DT_INT64, "label": types_pb2.DT_STRING}
    assert [d.size for d in default.outputs["probabilities"].tensor_shape.dim] == [-1, 3]
    assert signatures.signature_def["classify"].method_name == "tensorflow/serving/classify"
    assert "__saved_model_init_op" not in signatures.signature_def
    assert response.model_spec.version.value == 2
    request.metadata_field[:] = ["nope"]
    with pytest.raises(ServingError, match="Metadata field nope is not supported"):
        predict.get_model_metadata(manager, request)


def test_model_status(manager):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "toy"
    response = predict.get_model_status(manager, request)
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert [(s.version, s.state, s.status.error_code) for s in response.model_version_status] == [
        (2, available, 0), (1, available, 0)]
    request.model_spec.version_label = "stable"
    assert [s.version for s in predict.get_model_status(manager, request).model_version_status] == [1]
