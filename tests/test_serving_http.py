"""The regression suite of issue 11 over real sockets on 127.0.0.1: one in-process ``ModelServer`` (gRPC + REST on
aiohttp, batching on) serving the toy model for the whole module. Raw HTTP framing (bad or lying
``Content-Length``, chunked bodies, keep-alive, every method), TF Serving's 4xx texts for what used to be 500s
(JSON nested 10,000 deep, versions beyond int64), token limits over both protocols (the 1 MB premise), a missing
base path, draining in-flight requests on stop, and a load test where 1 request in 20 is oversized. Every loop is
bounded in count and time."""
import concurrent.futures
import dataclasses
import http.client
import json
import socket
import threading
import time

import grpc
import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import classification_pb2, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from nli_app.testing import serving_requests
from nli_app.testing import toy_model
from nli_app.testing.server_process import free_port
from serving import config as config_lib
from serving import deadlines
from serving.limits import TokenLimits
from serving.server import ModelServer

SEED = 7
HOST = "127.0.0.1"
ROW = {"premise": "A man plays .", "hypothesis": "A man is not playing ."}
pytestmark = pytest.mark.timeout(300)


def options(base, **kwargs):
    config = text_format.Parse(f'model_config_list {{ config {{ name: "toy" base_path: "{base}" }} }}',
                               model_server_config_pb2.ModelServerConfig())
    return config_lib.ServerOptions(model_config=config, port=0, rest_api_port=free_port(), host=HOST,
                                    file_system_poll_wait_seconds=0, grpc_max_message_size=4 * 2**20,
                                    batching=config_lib.BatchingParameters(max_batch_size=64, num_batch_threads=2),
                                    limits=TokenLimits(max_sentence_tokens=64, max_request_tokens=2048),
                                    shutdown_grace_seconds=5, **kwargs)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / "toy"
    toy_model.write_toy_model(str(base / "1"), seed=SEED)
    model_server = ModelServer(options(base))
    model_server.rest_server.body_timeout_seconds = 1.0  # a Content-Length larger than the body: 408 after 1 s
    model_server.start()
    yield model_server
    model_server.stop()


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(f"{HOST}:{server.port}") as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


def raw(server, request: bytes, timeout=10.0) -> tuple:
    """Sends raw bytes, returns (status, headers text, body bytes) of the first response."""
    with socket.create_connection((HOST, server.rest_port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without a response: {data!r}"
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(head.split()[1]), head.decode("latin-1"), body


def http_request(server, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection(HOST, server.rest_port, timeout=30)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), json.loads(data) if data else None
    finally:
        connection.close()


def predict_body(rows):
    return json.dumps({"instances": rows}).encode()


def expected(rows):
    return toy_model.reference_probabilities([r["premise"] for r in rows], [r["hypothesis"] for r in rows], SEED)


# ---- HTTP framing --------------------------------------------------------------------------------------------------
def test_keep_alive_serves_several_requests_on_one_connection(server):
    connection = http.client.HTTPConnection(HOST, server.rest_port, timeout=30)
    try:
        for _ in range(3):
            connection.request("POST", "/v1/models/toy:predict", predict_body([ROW]))
            response = connection.getresponse()
            body = json.loads(response.read())
            assert response.status == 200 and response.getheader("Content-Type") == "application/json"
            np.testing.assert_allclose(body["predictions"][0]["probabilities"], expected([ROW])[0], rtol=1e-5)
        assert connection.sock is not None  # still the same open connection
    finally:
        connection.close()


def test_chunked_body_is_read_whole(server):
    body = predict_body([ROW, ROW])
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:]))
    status, _, data = raw(server, b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    assert status == 200
    np.testing.assert_allclose([p["probabilities"] for p in json.loads(data)["predictions"]], expected([ROW, ROW]),
                               rtol=1e-5)


@pytest.mark.parametrize("length", [b"abc", b"-1"])
def test_malformed_content_length_is_answered_400(server, length):
    status, _, _ = raw(server, b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\nContent-Length: " + length +
                       b"\r\n\r\n{}")
    assert status == 400


def test_content_length_larger_than_body_times_out_with_408(server):
    start = time.monotonic()
    status, head, body = raw(server, b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000"
                                     b"\r\n\r\n{\"instances\": []}")
    assert status == 408 and "Content-Length larger than the body" in json.loads(body)["error"]
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("chunked", [False, True])
def test_body_over_the_size_limit_is_429_json(server, chunked):
    big = b"x" * (4 * 2**20 + 1)
    if chunked:
        request = (b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                   b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big))
    else:
        request = b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(big)
    status, _, body = raw(server, request)
    assert status == 429 and "exceeds the limit of 4194304 bytes" in json.loads(body)["error"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_wrong_methods_are_405_json(server, method):
    for path, allow in (("/v1/models/toy:predict", "POST"), ("/v1/models/toy", "GET, HEAD")):
        status, headers, body = http_request(server, method, path, b"{}")
        assert status == 405 and headers["Allow"] == allow
        assert body == {"error": f"Method {method} is not allowed for {path}; allowed: {allow}"}


def test_head_options_and_get_on_predict(server):
    status, headers, body = http_request(server, "HEAD", "/v1/models/toy")
    assert (status, body) == (200, None) and headers["Content-Type"] == "application/json"
    assert http_request(server, "OPTIONS", "/v1/models/toy")[::2] == (
        400, {"error": "Origin header is missing in CORS preflight"})
    assert http_request(server, "OPTIONS", "/v1/models/toy", headers={"Origin": "http://a.example"})[0] == 200
    assert http_request(server, "GET", "/v1/models/toy:predict")[0] == 405


# ---- what used to be 500 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, path", [("POST", "/v1/models/toy/versions/99999999999999999999:predict"),
                                          ("GET", "/v1/models/toy/versions/99999999999999999999")])
def test_version_beyond_int64_is_400(server, method, path):
    status, _, body = http_request(server, method, path, predict_body([ROW]) if method == "POST" else None)
    assert (status, body) == (400, {"error": "Failed to convert version: 99999999999999999999 to numeric."})


def test_json_nested_10000_deep_is_400(server):
    for body in (b"[" * 10_000 + b"]" * 10_000, b'{"instances": ' + b'{"a": ' * 10_000 + b"1" + b"}" * 10_001):
        status, _, answer = http_request(server, "POST", "/v1/models/toy:predict", body)
        assert (status, answer) == (400, {"error": "JSON Parse error: The document nests deeper than 64 levels"})


# ---- bounded work --------------------------------------------------------------------------------------------------
def test_one_megabyte_premise_is_refused_before_model_work_over_both_protocols(server, stub):
    premise = "word " * 200_000  # 1 MB, 200,000 tokens
    refused = deadlines.COUNTERS.snapshot().get("over_token_limit", 0)
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(serving_requests.predict_request([premise], ["b"], "toy"), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == ("Input premise[0] has more than 64 tokens, the limit per sentence "
                                    "(--max_sentence_tokens)")
    status, _, body = http_request(server, "POST", "/v1/models/toy:predict",
                                   predict_body([{"premise": premise, "hypothesis": "b"}]))
    assert status == 400 and body["error"] == info.value.details()
    assert time.monotonic() - start < 3
    assert deadlines.COUNTERS.snapshot()["over_token_limit"] == refused + 2


def test_request_token_budget_over_both_protocols(server, stub):
    rows = [{"premise": "a b c d e f g h i j " * 5, "hypothesis": "x"}] * 41  # 41 * 51 = 2091 > 2048 tokens
    message = "Request has more than 2048 tokens in all, the limit per request (--max_request_tokens)"
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(serving_requests.predict_request([r["premise"] for r in rows], [r["hypothesis"] for r in rows],
                                                      "toy"), timeout=10)
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    assert http_request(server, "POST", "/v1/models/toy:predict", predict_body(rows))[::2] == (400, {"error": message})
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name, classify.model_spec.signature_name = "toy", "classify"
    for row in rows:
        feature = classify.input.example_list.examples.add().features.feature
        for name in ("premise", "hypothesis"):
            feature[name].bytes_list.value.append(row[name].encode())
    with pytest.raises(grpc.RpcError) as info:
        stub.Classify(classify, timeout=10)
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    # 40 of those rows are 2040 tokens (4040 bytes): within the budget, which counts tokens, not bytes
    within = serving_requests.predict_request([r["premise"] for r in rows[:40]], ["x"] * 40, "toy")
    assert len(stub.Predict(within, timeout=10).outputs["label"].string_val) == 40


def test_missing_base_path_warns_and_reports_not_found(tmp_path, caplog):
    with caplog.at_level("ERROR"):
        model_server = ModelServer(options(tmp_path / "absent"))
    model_server.start()
    try:
        status, _, body = http_request(model_server, "GET", "/v1/models/toy")
    finally:
        model_server.stop()
    assert f"base path {tmp_path / 'absent'} does not exist" in caplog.text
    assert status == 404 and body["error"].startswith("Could not find any versions of model toy: its base path")


def test_oversized_requests_do_not_slow_valid_ones(server, stub):
    """1 request in 20 is a 1 MB premise: valid requests' p99 stays under 2x its value without them, none lost.
    Short rounds alternate (clean, mixed) so both conditions see the same machine load, and each condition's p99 is
    the median over its rounds of the round's p99, so one stall of the shared CI machine cannot decide it."""
    big = serving_requests.predict_request(["word " * 200_000], ["b"], "toy")  # built once: the client's cost

    def call(i, oversized):
        premise = f"w{i} " * (i % 9 + 1)
        request = big if oversized else serving_requests.predict_request([premise], [f"h{i} not"], "toy")
        start = time.perf_counter()
        try:
            response = stub.Predict(request, timeout=30)
        except grpc.RpcError as error:
            return oversized, time.perf_counter() - start, oversized and error.code() == grpc.StatusCode.INVALID_ARGUMENT
        got = np.reshape(response.outputs["probabilities"].float_val, (1, 3))
        ok = not oversized and np.allclose(got, toy_model.reference_probabilities([premise], [f"h{i} not"], SEED),
                                           rtol=1e-5, atol=1e-6)
        return oversized, time.perf_counter() - start, ok

    round_p99 = {False: [], True: []}
    deadline = time.monotonic() + 90
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: call(i, False), range(40)))  # warm-up
        for round_ in range(20):
            mixed = round_ % 2 == 1
            results = list(pool.map(lambda i: call(i, mixed and i % 20 == 0), range(40)))
            assert len(results) == 40 and all(ok for _, _, ok in results), "a request was lost or wrong"
            round_p99[mixed].append(np.percentile([t for oversized, t, _ in results if not oversized], 99))
            assert time.monotonic() < deadline
    clean, mixed = float(np.median(round_p99[False])), float(np.median(round_p99[True]))
    print(f"valid p99 (median of 10 rounds): {clean * 1e3:.1f} ms without oversized requests, {mixed * 1e3:.1f} ms "
          f"with 1 in 20")
    assert mixed < 2 * clean, (clean, mixed)


def test_stop_finishes_in_flight_requests(tmp_path):
    """What SIGTERM does (server.main: signal -> ModelServer.stop): requests waiting in a 1.5 s batch window when
    stop() begins are all answered, over gRPC and REST, before the server goes."""
    toy_model.write_toy_model(str(tmp_path / "toy" / "1"), seed=4)
    slow_batches = config_lib.BatchingParameters(max_batch_size=64, batch_timeout_micros=1_500_000,
                                                 num_batch_threads=1)
    model_server = ModelServer(dataclasses.replace(options(tmp_path / "toy"), batching=slow_batches))
    model_server.start()
    results = {}

    def grpc_call(i):
        with grpc.insecure_channel(f"{HOST}:{model_server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response = stub.Predict(serving_requests.predict_request([f"p {i}"], ["h"], "toy"), timeout=30)
            results[i] = list(response.outputs["probabilities"].float_val)

    def rest_call(i):
        status, _, body = http_request(model_server, "POST", "/v1/models/toy:predict",
                                       predict_body([{"premise": f"p {i}", "hypothesis": "h"}]))
        results[i] = body["predictions"][0]["probabilities"] if status == 200 else (status, body)

    threads = [threading.Thread(target=grpc_call if i % 2 else rest_call, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.7)  # the requests now wait in the batch window
    model_server.stop()
    for thread in threads:
        thread.join(timeout=30)
    reference = toy_model.reference_probabilities([f"p {i}" for i in range(4)], ["h"] * 4, seed=4)
    for i in range(4):
        np.testing.assert_allclose(results[i], reference[i], rtol=1e-5)
