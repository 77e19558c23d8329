"""TF Serving's REST API: the JSON codec (json_codec.py) and RestApi's routing/error mapping, in-process (no sockets;
the HTTP transport is test_serving_http.py)."""
import base64
import json

import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow_serving.config import model_server_config_pb2

from nli_app.testing import toy_model
from serving import json_codec, rest
from serving.errors import ServingError
from serving.model_manager import ModelManager

PREMISES = ["A man is playing a guitar .", "Two dogs run"]
HYPOTHESES = ["A man is not playing .", "Animals are outside"]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / "toy"
    toy_model.write_toy_model(str(base / "3"), seed=3)
    config = text_format.Parse(f'model_config_list {{ config {{ name: "toy" base_path: "{base}" '
                               'version_labels { key: "stable" value: 3 } } }',
                               model_server_config_pb2.ModelServerConfig())
    return rest.RestApi(ModelManager(config, poll_wait_seconds=0), max_body_bytes=10_000)


def call(api, method, path, payload=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode() if payload is not None else b""
    status, response, _ = api.handle(method, path, body)
    return status, response


def reference():
    return toy_model.reference_probabilities(PREMISES, HYPOTHESES, 3)


@pytest.mark.parametrize("path", ["/v1/models/toy:predict", "/v1/models/toy/versions/3:predict",
                                  "/v1/models/toy/labels/stable:predict"])
def test_row_format(api, path):
    status, body = call(api, "POST", path, {"instances": [{"premise": p, "hypothesis": h}
                                                          for p, h in zip(PREMISES, HYPOTHESES)]})
    assert status == 200
    got = np.array([row["probabilities"] for row in body["predictions"]])
    np.testing.assert_allclose(got, reference(), rtol=1e-5, atol=1e-6)
    assert [row["label"] for row in body["predictions"]] == [toy_model.LABELS[i] for i in reference().argmax(1)]
    assert [row["label_id"] for row in body["predictions"]] == reference().argmax(1).tolist()


def test_columnar_format_with_b64(api):
    b64 = [{"b64": base64.b64encode(p.encode()).decode()} for p in PREMISES]
    status, body = call(api, "POST", "/v1/models/toy:predict", {"inputs": {"premise": b64, "hypothesis": HYPOTHESES}})
    assert status == 200
    np.testing.assert_allclose(body["outputs"]["probabilities"], reference(), rtol=1e-5, atol=1e-6)


def test_classify(api):
    examples = [{"premise": p, "hypothesis": h} for p, h in zip(PREMISES, HYPOTHESES)]
    status, body = call(api, "POST", "/v1/models/toy:classify", {"signature_name": "classify", "examples": examples})
    assert status == 200
    assert [[label for label, _ in row] for row in body["results"]] == [list(toy_model.LABELS)] * 2
    np.testing.assert_allclose([[score for _, score in row] for row in body["results"]], reference(), rtol=1e-5)


def test_status_and_metadata(api):
    assert call(api, "GET", "/v1/models/toy") == (200, {"model_version_status": [
        {"version": "3", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
    status, body = call(api, "GET", "/v1/models/toy/versions/3/metadata")
    assert status == 200 and body["model_spec"]["version"] == "3"
    default = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert default["inputs"]["premise"]["dtype"] == "DT_STRING"
    assert default["method_name"] == "tensorflow/serving/predict"


ROWS = [{"premise": "a", "hypothesis": "b"}]
BAD = [
    ("POST", "/v1/models/nope:predict", {"instances": ROWS}, 404, "Servable not found for request: Latest(nope)"),
    ("POST", "/v1/models/toy/versions/9:predict", {"instances": ROWS}, 404,
     "Servable not found for request: Specific(toy, 9)"),
    ("POST", "/v1/models/toy/labels/beta:predict", {"instances": ROWS}, 400,
     "Unrecognized servable version label: beta"),
    ("POST", "/v1/models/toy:predict", {"signature_name": "nope", "instances": ROWS}, 400,
     'Serving signature key "nope" not found.'),
    ("POST", "/v1/models/toy:predict", b"", 400, "JSON Parse error: The document is empty"),
    ("POST", "/v1/models/toy:predict", b"{nope", 400, "JSON Parse error: "),
    ("POST", "/v1/models/toy:predict", [1], 400, "JSON Value: [1] Is not object"),
    ("POST", "/v1/models/toy:predict", {}, 400, "Missing 'inputs' or 'instances' key"),
    ("POST", "/v1/models/toy:predict", {"instances": [], "inputs": {}}, 400,
     "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"),
    ("POST", "/v1/models/toy:predict", {"instances": []}, 400, "No values in 'instances' array"),
    ("POST", "/v1/models/toy:predict", {"instances": {"premise": "a"}}, 400,
     "Excepting 'instances' to be an list/array"),
    ("POST", "/v1/models/toy:predict", {"instances": ["a", "b"]}, 400,
     "instances is a plain list, but expecting list of objects as multiple input tensors required as per "
     "tensorinfo_map"),
    ("POST", "/v1/models/toy:predict", {"instances": [{"premise": "a"}]}, 400,
     'Failed to process element: 0 of \'instances\' list. JSON object: {"premise":"a"} must only have keys: '
     "hypothesis,premise"),
    ("POST", "/v1/models/toy:predict", {"instances": [{"premise": 3, "hypothesis": "b"}]}, 400,
     "Failed to process 'instances' key: premise. Error: JSON Value: 3 Type: Number is not of expected type: "
     "string"),
    ("POST", "/v1/models/toy:predict", {"inputs": {"premise": ["a", "b"], "hypothesis": ["c"]}}, 400,
     "Batching session Run() input tensors must have equal 0th-dimension size"),
    ("POST", "/v1/models/toy:predict", {"inputs": {"premise": [["a"], ["b", "c"]], "hypothesis": ["c", "d"]}}, 400,
     "Encountered list at unexpected size: 2 at level: 1 expected size: 1"),
    ("POST", "/v1/models/toy:predict", {"inputs": {"premise": []}}, 400,
     "Missing named input: hypothesis in 'inputs' object."),
    ("POST", "/v1/models/toy:predict", {"inputs": {"premise": [], "hypothesis": []}}, 400,
     "Input hypothesis is an empty batch: dimension 0 has size 0"),
    ("POST", "/v1/models/toy:predict", {"inputs": {"premise": [{"b64": "%%%"}], "hypothesis": ["x"]}}, 400,
     "Unable to base64 decode: %%%"),
    ("POST", "/v1/models/toy:classify", {"examples": [{"premise": "a", "hypothesis": "b"}]}, 400,
     "Expected classification signature method_name to be tensorflow/serving/classify. "
     "Was: tensorflow/serving/predict"),
    ("POST", "/v1/models/toy:classify", {"signature_name": "classify", "examples": [{"premise": ["a", 1]}]}, 400,
     "Unexpected element type in feature: premise expecting type: bytes"),
    ("POST", "/v1/models/toy:regress", {"examples": []}, 501, "Regress is not implemented by nli_model_server"),
    ("GET", "/v1/models/toy:predict", None, 405, "Method GET is not allowed for /v1/models/toy:predict; allowed: POST"),
    ("PUT", "/v1/models/toy", None, 405, "Method PUT is not allowed for /v1/models/toy; allowed: GET, HEAD"),
    ("OPTIONS", "/v1/models/toy", None, 400, "Origin header is missing in CORS preflight"),
    ("POST", "/v1/models/toy/versions/99999999999999999999:predict", {"instances": ROWS}, 400,
     "Failed to convert version: 99999999999999999999 to numeric."),
    ("GET", "/v1/models/toy/versions/99999999999999999999", None, 400,
     "Failed to convert version: 99999999999999999999 to numeric."),
    ("POST", "/v1/models/toy:predict", b'{"instances": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", 400,
     "JSON Parse error: The document nests deeper than 64 levels"),
    ("POST", "/v1/models/toy:predict", b'{"instances": [{"premise": "\\ud800", "hypothesis": "b"}]}', 400,
     "Failed to process 'instances' key: premise. Error: JSON Value: \"\\ud800\" is not valid UTF-8"),
    ("POST", "/v1/models/toy:classify", {"signature_name": "classify", "examples": [{"premise": 2**70}]}, 400,
     "JSON Value: 1180591620717411303424 Type: Number is not of expected type: int64"),
    ("POST", "/v1/models/toy:predict", {"instances": [{"premise": "word " * 300, "hypothesis": "b"}]}, 400,
     "Input premise[0] has more than 256 tokens, the limit per sentence (--max_sentence_tokens)"),
    ("POST", "/v1/models/toy:classify", {"signature_name": "classify",
                                         "examples": [{"premise": "a " * 300, "hypothesis": "b"}]}, 400,
     "Input premise[0] has more than 256 tokens, the limit per sentence (--max_sentence_tokens)"),
    ("POST", "/v2/whatever", {}, 400, "Malformed request: POST /v2/whatever"),
]


@pytest.mark.parametrize("method, path, payload, status, message", BAD)
def test_bad_requests_map_to_tf_serving_codes_and_texts(api, method, path, payload, status, message):
    got_status, body = call(api, method, path, payload)
    assert got_status == status
    assert body["error"].startswith(message) if message.endswith(": ") else body["error"] == message


def test_json_to_array_shapes_and_types():
    np.testing.assert_array_equal(json_codec.json_to_array([[1, 2], [3, 4]], types_pb2.DT_INT64), [[1, 2], [3, 4]])
    assert json_codec.json_to_array([1.5, 2], types_pb2.DT_FLOAT).dtype == np.float32
    assert json_codec.json_to_array(["a", {"b64": "Yg=="}], types_pb2.DT_STRING).tolist() == [b"a", b"b"]
    with pytest.raises(ServingError, match="Encountered scalar 1 at level: 1"):
        json_codec.json_to_array([[1], 1], types_pb2.DT_INT64)
    with pytest.raises(ServingError, match="JSON Value: 1.5 Type: Number is not of expected type: int64"):
        json_codec.json_to_array([1.5], types_pb2.DT_INT64)


def test_encode_outputs_row_and_columnar():
    outputs = {"p": np.array([[0.5, 0.5]], np.float32), "label": np.array([b"neutral"], dtype=object),
               "raw_bytes": np.array([b"\xff"], dtype=object)}
    assert json_codec.encode_predict_outputs(outputs, "row") == {"predictions": [
        {"p": [0.5, 0.5], "label": "neutral", "raw_bytes": {"b64": "/w=="}}]}
    assert json_codec.encode_predict_outputs({"p": outputs["p"]}, "columnar") == {"outputs": [[0.5, 0.5]]}
