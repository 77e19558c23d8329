"""End to end: ``nli_model_server`` in a child process on free loopback ports serving a SavedModel with the export
contract's signatures (nli_app/testing/toy_model.py; the real exported ESIM is test_serving_export.py), queried over
gRPC and REST and compared with the same SavedModel called in this process; version 2 published while a client loop
runs, a corrupt version 3, the bad-input suite over both protocols, ``nli_predict``, and a SIGTERM that exits 0 (the
server fixture's teardown). Draining in-flight requests on shutdown is test_serving_http.py's, in-process.
This is the one module that needs a server in its own process."""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     prediction_service_pb2_grpc, model_service_pb2_grpc)

from nli_app.nli.data import snli
from nli_app.testing import serving_requests
from nli_app.testing import toy_model
from nli_app.testing.server_process import ServerProcess
from serving.client import NLIClient, read_pairs, string_tensor

SNLI_DEV = snli.sample_path("dev")
LABELS = toy_model.LABELS
MAX_MESSAGE = 65536
SEEDS = {1: 11, 2: 22}
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    base = tmp_path_factory.mktemp("exports")
    toy_model.write_toy_model(str(base / "esim" / "1"), seed=SEEDS[1])
    examples = snli.read_snli(SNLI_DEV, limit=8).examples
    pairs = [(e.premise, e.hypothesis) for e in examples] + [("Zebras fly!", "A cat is not outside .")]
    return {"base": base, "pairs": pairs, "loaded": tf.saved_model.load(str(base / "esim" / "1"))}


def in_process(models, version, pairs):
    """The served SavedModel called in this process (checked against the numpy transcription of the model)."""
    premises, hypotheses = [p for p, _ in pairs], [h for _, h in pairs]
    reference = toy_model.reference_probabilities(premises, hypotheses, SEEDS[version])
    if version == 1:
        out = models["loaded"].signatures["serving_default"](premise=tf.constant(premises),
                                                             hypothesis=tf.constant(hypotheses))
        np.testing.assert_allclose(out["probabilities"].numpy(), reference, rtol=1e-5, atol=1e-6)
    return reference


def publish(models, version, seed):
    """Writes a version the way an exporter must: into a hidden directory, then one atomic rename."""
    staging = models["base"] / "esim" / f".staging-{version}"
    toy_model.write_toy_model(str(staging), seed=seed)
    os.rename(staging, models["base"] / "esim" / str(version))


@pytest.fixture(scope="module")
def server(models):
    process = ServerProcess(["--model_name=esim", f"--model_base_path={models['base'] / 'esim'}",
                             "--file_system_poll_wait_seconds=0.2", f"--grpc_max_message_size={MAX_MESSAGE}",
                             "--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=2"])
    with process:
        yield process
        assert process.stop() == 0, process.log()[-3000:]
        assert "latency_ms=" in process.log()


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(server.grpc_address)
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel), channel)
    channel.close()


def rest(server, method, path, payload=None):
    data = payload if isinstance(payload, bytes) or payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(f"http://{server.rest_address}{path}", data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def predict_request(pairs, name="esim", **model_spec):
    return serving_requests.predict_request([p for p, _ in pairs], [h for _, h in pairs], name, **model_spec)


def test_tensorflow_threads_as_flagged(server):
    """The server process set TensorFlow's thread pools from its flags before any op (TF Serving's flags)."""
    assert "TensorFlow threads: intra-op 1, inter-op 2 " in server.log()


def test_health_and_status(server, stubs):
    health = health_pb2_grpc.HealthStub(stubs[2])
    for service in ("", "tensorflow.serving.PredictionService"):
        assert health.Check(health_pb2.HealthCheckRequest(service=service)).status == \
            health_pb2.HealthCheckResponse.SERVING
    assert rest(server, "GET", "/v1/models/esim") == (200, {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})


def test_grpc_and_rest_match_in_process(models, server):
    pairs = models["pairs"]
    expected = in_process(models, 1, pairs)
    for client in (NLIClient(server.grpc_address, "esim"), NLIClient(server.rest_address, "esim", rest=True)):
        predictions = client.predict([p for p, _ in pairs], [h for _, h in pairs])
        client.close()
        got = np.array([[p.probabilities[label] for label in LABELS] for p in predictions])
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
        assert [p.label for p in predictions] == [LABELS[i] for i in expected.argmax(1)]


def test_classify_and_metadata_over_both_protocols(models, server, stubs):
    pairs = models["pairs"][:3]
    expected = in_process(models, 1, pairs)
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "esim", "classify"
    for premise, hypothesis in pairs:
        feature = request.input.example_list.examples.add().features.feature
        feature["premise"].bytes_list.value.append(premise.encode())
        feature["hypothesis"].bytes_list.value.append(hypothesis.encode())
    response = stubs[0].Classify(request, timeout=60)
    got = [[c.score for c in r.classes] for r in response.result.classifications]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    status, body = rest(server, "POST", "/v1/models/esim/versions/1:classify", {
        "signature_name": "classify", "examples": [{"premise": p, "hypothesis": h} for p, h in pairs]})
    assert status == 200
    np.testing.assert_allclose([[s for _, s in row] for row in body["results"]], expected, rtol=1e-4, atol=1e-5)
    metadata = stubs[0].GetModelMetadata(get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec={"name": "esim"}, metadata_field=["signature_def"]), timeout=60)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signatures)
    assert {"serving_default", "classify"} <= set(signatures.signature_def)
    status, body = rest(server, "GET", "/v1/models/esim/metadata")
    assert status == 200 and set(body["metadata"]["signature_def"]["signature_def"]) == set(signatures.signature_def)


def _grpc_with(pairs=(("a", "b"),), premise=None, filter_=None, **spec):
    request = predict_request(list(pairs), **spec)
    if premise is not None:
        request.inputs["premise"].CopyFrom(premise)
    if filter_:
        request.output_filter.extend(filter_)
    return request


def _float_tensor():
    import tensorflow as tf
    return tf.make_tensor_proto(np.array([1.5], np.float32))


def _matrix_tensor():
    import tensorflow as tf
    return tf.make_tensor_proto(np.array([[b"a"]], dtype=object))


ROW = [{"premise": "a", "hypothesis": "b"}]
# name, gRPC request (or None), REST (path, body) (or None), gRPC code, HTTP status, gRPC message, REST message
BAD_INPUTS = [
    ("unknown model", lambda: _grpc_with(name="nope"), ("/v1/models/nope:predict", {"instances": ROW}),
     "NOT_FOUND", 404, "Servable not found for request: Latest(nope)", None),
    ("unknown version", lambda: _grpc_with(version=9), ("/v1/models/esim/versions/9:predict", {"instances": ROW}),
     "NOT_FOUND", 404, "Servable not found for request: Specific(esim, 9)", None),
    ("unknown label", lambda: _grpc_with(version_label="beta"),
     ("/v1/models/esim/labels/beta:predict", {"instances": ROW}),
     "INVALID_ARGUMENT", 400, "Unrecognized servable version label: beta", None),
    ("unknown signature", lambda: _grpc_with(signature_name="nope"),
     ("/v1/models/esim:predict", {"signature_name": "nope", "instances": ROW}),
     "FAILED_PRECONDITION", 400, 'Serving signature key "nope" not found.', None),
    ("missing input", lambda: _missing_hypothesis(), ("/v1/models/esim:predict", {"instances": [{"premise": "a"}]}),
     "INVALID_ARGUMENT", 400,
     "input size does not match signature: 1!=2 len({premise}) != len({hypothesis,premise}). Sent extra: {}. "
     "Missing but required: {hypothesis}.",
     'Failed to process element: 0 of \'instances\' list. JSON object: {"premise":"a"} must only have keys: '
     "hypothesis,premise"),
    ("extra input", lambda: _extra_input(), ("/v1/models/esim:predict", {"instances": [
        {"premise": "a", "hypothesis": "b", "x": "c"}]}),
     "INVALID_ARGUMENT", 400,
     "input size does not match signature: 3!=2 len({hypothesis,premise,x}) != len({hypothesis,premise}). "
     "Sent extra: {x}. Missing but required: {}.",
     'Failed to process element: 0 of \'instances\' list. JSON object: {"premise":"a","hypothesis":"b","x":"c"} '
     "must only have keys: hypothesis,premise"),
    ("mistyped input", lambda: _grpc_with(premise=_float_tensor()),
     ("/v1/models/esim:predict", {"instances": [{"premise": 1.5, "hypothesis": "b"}]}),
     "INVALID_ARGUMENT", 400, "Expects arg[1] to be string but float is provided",
     "Failed to process 'instances' key: premise. Error: JSON Value: 1.5 Type: Number is not of expected type: "
     "string"),
    ("misshaped input", lambda: _grpc_with(premise=_matrix_tensor()),
     ("/v1/models/esim:predict", {"inputs": {"premise": [["a"]], "hypothesis": ["b"]}}),
     "INVALID_ARGUMENT", 400, "Cannot feed value of shape (1, 1) for Tensor 'serving_default_premise:0' (input "
                              "premise), which has shape '(?,)'", None),
    ("empty batch", lambda: _grpc_with(pairs=()), ("/v1/models/esim:predict", {"instances": []}),
     "INVALID_ARGUMENT", 400, "Input hypothesis is an empty batch: dimension 0 has size 0",
     "No values in 'instances' array"),
    ("unequal batch sizes", lambda: _grpc_with(pairs=[("a", "b")], premise=string_tensor(["a", "b"])),
     ("/v1/models/esim:predict", {"inputs": {"premise": ["a", "b"], "hypothesis": ["c"]}}),
     "INVALID_ARGUMENT", 400, "Batching session Run() input tensors must have equal 0th-dimension size", None),
    ("unknown output", lambda: _grpc_with(filter_=["nope"]), None, "INVALID_ARGUMENT", 400,
     "output tensor alias not found in signature: nope Outputs expected to be in the set "
     "{label,label_id,probabilities}.", None),
    ("broken JSON", None, ("/v1/models/esim:predict", b'{"instances": ['), "INVALID_ARGUMENT", 400, None,
     "JSON Parse error: "),
    ("no instances", None, ("/v1/models/esim:predict", {"examples": ROW}), "INVALID_ARGUMENT", 400, None,
     "Missing 'inputs' or 'instances' key"),
]


def _missing_hypothesis():
    request = _grpc_with()
    del request.inputs["hypothesis"]
    return request


def _extra_input():
    request = _grpc_with()
    request.inputs["x"].CopyFrom(string_tensor(["c"]))
    return request


@pytest.mark.parametrize("name, grpc_request, rest_call, code, http, grpc_message, rest_message", BAD_INPUTS,
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_inputs_over_both_protocols(models, server, stubs, name, grpc_request, rest_call, code, http,
                                        grpc_message, rest_message):
    if grpc_request is not None:
        with pytest.raises(grpc.RpcError) as info:
            stubs[0].Predict(grpc_request(), timeout=60)
        assert (info.value.code().name, info.value.details()) == (code, grpc_message)
    if rest_call is not None:
        status, body = rest(server, "POST", *rest_call)
        expected = rest_message or grpc_message
        assert status == http
        assert body["error"].startswith(expected) if expected.endswith(": ") else body["error"] == expected
    # the server still answers, over both protocols
    assert stubs[0].Predict(predict_request(models["pairs"][:1]), timeout=60).model_spec.version.value == 1
    assert rest(server, "POST", "/v1/models/esim:predict", {"instances": ROW})[0] == 200


def test_oversized_requests_are_resource_exhausted(models, server, stubs):
    big = [("word " * (MAX_MESSAGE // 5 + 10), "b")]
    with pytest.raises(grpc.RpcError) as info:
        stubs[0].Predict(predict_request(big), timeout=60)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in info.value.details()
    status, body = rest(server, "POST", "/v1/models/esim:predict", {"instances": [
        {"premise": big[0][0], "hypothesis": "b"}]})
    assert status == 429 and "exceeds the limit of 65536 bytes" in body["error"]
    assert stubs[0].Predict(predict_request(models["pairs"][:1]), timeout=60).outputs["label"].string_val


@pytest.mark.slow  # a client process importing TensorFlow
def test_nli_predict_binary(models, server, tmp_path):
    """The console binary over REST on a file (gRPC and single pairs go through the same NLIClient, tested above)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(SNLI_DEV) as source, open(tmp_path / "pairs.jsonl", "w") as target:
        target.writelines(next(source) for _ in range(2))
    result = subprocess.run([sys.executable, "-m", "nli_app.bin.nli_predict", "--rest",
                             f"--server={server.rest_address}", "--model_name=esim", f"--input_file={tmp_path / 'pairs.jsonl'}"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    file_pairs = [(p, h) for p, h, _ in read_pairs(str(tmp_path / "pairs.jsonl"))]
    assert [(r["premise"], r["hypothesis"]) for r in rows] == file_pairs
    expected = in_process(models, 1, file_pairs)
    assert [r["label"] for r in rows] == [LABELS[i] for i in expected.argmax(1)]
    np.testing.assert_allclose([[r["probabilities"][k] for k in LABELS] for r in rows], expected, rtol=1e-4,
                               atol=1e-5)
    assert '"accuracy"' in result.stderr


def test_reload_config_and_unimplemented_rpcs(models, server, stubs):
    from tensorflow_serving.apis import model_management_pb2, regression_pb2
    request = model_management_pb2.ReloadConfigRequest()
    model = request.config.model_config_list.config.add(name="esim", base_path=str(models["base"] / "esim"))
    model.version_labels["stable"] = 1
    assert stubs[1].HandleReloadConfigRequest(request, timeout=60).status.error_code == 0
    labelled = stubs[0].Predict(predict_request(models["pairs"][:1], version_label="stable"), timeout=60)
    assert labelled.model_spec.version.value == 1
    bad = model_management_pb2.ReloadConfigRequest()
    bad.config.model_config_list.config.add(name="esim")
    status = stubs[1].HandleReloadConfigRequest(bad, timeout=60).status
    assert status.error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "missing base_path" in status.error_message
    with pytest.raises(grpc.RpcError) as info:
        stubs[0].Regress(regression_pb2.RegressionRequest(), timeout=60)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def _status(stubs, name="esim"):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    return {s.version: s for s in stubs[1].GetModelStatus(request, timeout=60).model_version_status}


def test_publish_version_2_while_serving_then_corrupt_version_3(models, server, stubs):
    pairs = models["pairs"][:2]
    seen, failures, stop = [], [], threading.Event()

    def client_loop():
        while not stop.is_set():
            try:
                response = stubs[0].Predict(predict_request(pairs), timeout=60)
                seen.append((response.model_spec.version.value, list(response.outputs["probabilities"].float_val)))
            except grpc.RpcError as error:
                failures.append(error)
    thread = threading.Thread(target=client_loop)
    thread.start()
    try:
        time.sleep(0.5)
        publish(models, 2, SEEDS[2])
        deadline = time.monotonic() + 180
        while not any(v == 2 for v, _ in seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        stop.set()
        thread.join()
    versions = [v for v, _ in seen]
    assert failures == []
    assert versions[0] == 1 and versions[-1] == 2, versions
    assert versions == sorted(versions)  # one switch, never back
    expected = {1: in_process(models, 1, pairs), 2: in_process(models, 2, pairs)}
    for version, probabilities in (seen[0], seen[-1]):
        np.testing.assert_allclose(np.reshape(probabilities, (-1, 3)), expected[version], rtol=1e-4, atol=1e-5)
    statuses = _status(stubs)
    assert statuses[2].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert statuses[1].state == get_model_status_pb2.ModelVersionStatus.END

    corrupt = models["base"] / "esim" / "3"
    corrupt.mkdir()
    (corrupt / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    deadline = time.monotonic() + 60
    while 3 not in _status(stubs) or _status(stubs)[3].state != get_model_status_pb2.ModelVersionStatus.END:
        assert time.monotonic() < deadline, "version 3's failed load never reported"
        time.sleep(0.2)
    broken = _status(stubs)[3]
    assert broken.status.error_code != 0 and broken.status.error_message
    assert stubs[0].Predict(predict_request(pairs), timeout=60).model_spec.version.value == 2
    status, body = rest(server, "GET", "/v1/models/esim")
    by_version = {s["version"]: s for s in body["model_version_status"]}
    assert status == 200 and by_version["2"]["state"] == "AVAILABLE"
    assert by_version["3"]["state"] == "END" and by_version["3"]["status"]["error_code"] != "OK"
