"""Issue 20, production operations, on in-process ``ModelServer``s over real loopback sockets serving the toy model:
Prometheus metrics scraped and parsed with prometheus_client's own parser before and after known requests,
warm-up requests (replayed before AVAILABLE; a failing one keeps the version from serving), readiness and
liveness over REST and gRPC health during a load, after the base path disappears and while draining, and the
MonitoringConfig file. Every wait is bounded by an event or a count, never by a timing window."""
import dataclasses
import http.client
import json
import shutil
import threading
import time

import grpc
import pytest
from google.protobuf import text_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import prediction_log_pb2, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from nli_app.testing import serving_requests
from nli_app.testing import toy_model
from nli_app.testing.server_process import free_port
from serving import config as config_lib
from serving import health
from serving import warmup
from serving.limits import TokenLimits
from serving.metrics import Metrics
from serving.model_manager import ModelManager, ModelOverview, VersionStatus
from serving.servable import load_servable
from serving.server import ModelServer, servable_loader

HOST = "127.0.0.1"
SEED = 5
ROW = {"premise": "A man plays .", "hypothesis": "A man is not playing ."}
PATH = "/monitoring/prometheus/metrics"
pytestmark = pytest.mark.timeout(300)


def model_config(base):
    return text_format.Parse(f'model_config_list {{ config {{ name: "toy" base_path: "{base}" }} }}',
                             model_server_config_pb2.ModelServerConfig())


def options(base, **kwargs):
    defaults = dict(port=0, rest_api_port=free_port(), host=HOST, file_system_poll_wait_seconds=0,
                    batching=config_lib.BatchingParameters(max_batch_size=16, num_batch_threads=1),
                    limits=TokenLimits(max_sentence_tokens=16, max_request_tokens=256), shutdown_grace_seconds=5,
                    prometheus_path=PATH)
    return config_lib.ServerOptions(model_config=model_config(base), **{**defaults, **kwargs})


def warmup_log(premises, hypotheses, **model_spec):
    log = prediction_log_pb2.PredictionLog()
    log.predict_log.request.CopyFrom(serving_requests.predict_request(premises, hypotheses, "ignored", **model_spec))
    return log


def toy_version(base, version, logs=()):
    path = toy_model.write_toy_model(str(base / str(version)), seed=SEED)
    if logs:
        warmup.write_logs(path, logs)
    return path


def http_get(server, path, method="GET"):
    connection = http.client.HTTPConnection(HOST, server.rest_port, timeout=30)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def readyz(server):
    status, _, body = http_get(server, "/readyz")
    return status, json.loads(body)


def grpc_health(server):
    with grpc.insecure_channel(f"{HOST}:{server.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return {name: stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status
                for name in ("", "tensorflow.serving.PredictionService")}


SERVING = {"": health_pb2.HealthCheckResponse.SERVING,
           "tensorflow.serving.PredictionService": health_pb2.HealthCheckResponse.SERVING}
NOT_SERVING = {k: health_pb2.HealthCheckResponse.NOT_SERVING for k in SERVING}


def scrape(server) -> dict:
    """{(sample name, frozenset of labels): value} of one scrape, parsed by prometheus_client's parser."""
    status, headers, body = http_get(server, PATH)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / "toy"
    toy_version(base, 1, [warmup_log(["a b"], ["c"]), warmup_log(["a b c d e f g h"] * 3, ["x not"] * 3)])
    model_server = ModelServer(options(base))
    model_server.start()
    yield model_server
    model_server.stop()


# ---- Prometheus metrics ---------------------------------------------------------------------------------------------
def test_scrape_counts_requests_by_model_status_api_and_entrypoint(server):
    before = scrape(server)
    with grpc.insecure_channel(f"{HOST}:{server.port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for i in range(3):
            stub.Predict(serving_requests.predict_request([f"p {i}"], ["h"], "toy"), timeout=30)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Predict(serving_requests.predict_request(["w " * 40], ["h"], "toy"), timeout=30)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        for i in range(3):  # unknown model names: one series (model_name ""), not one per name
            with pytest.raises(grpc.RpcError) as unknown:
                stub.Predict(serving_requests.predict_request(["a"], ["b"], f"nope{i}"), timeout=30)
            assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    body = json.dumps({"instances": [ROW]})
    for _ in range(2):
        connection = http.client.HTTPConnection(HOST, server.rest_port, timeout=30)
        connection.request("POST", "/v1/models/toy:predict", body)
        assert connection.getresponse().status == 200
        connection.close()
    connection = http.client.HTTPConnection(HOST, server.rest_port, timeout=30)
    connection.request("POST", "/v1/models/toy:predict", json.dumps({"instances": [{"premise": "x"}]}))
    assert connection.getresponse().status == 400
    connection.close()
    after = scrape(server)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    count = ":tensorflow:serving:request_count_total"
    assert delta(count, model_name="toy", status="OK") == 5
    assert delta(count, model_name="toy", status="INVALID_ARGUMENT") == 2
    assert delta(count, model_name="", status="NOT_FOUND") == 3
    assert not any("nope" in dict(labels).get("model_name", "") for _, labels in after)
    latency = ":tensorflow:serving:request_latency_count"
    assert delta(latency, model_name="toy", API="Predict", entrypoint="GRPC") == 4
    assert delta(latency, model_name="toy", API="Predict", entrypoint="REST") == 3
    # One model call per accepted request (sequential requests: one batch each); refused ones never reach it.
    assert delta(":tensorflow:serving:runtime_latency_count", model_name="toy", API="Predict", runtime="TF2") == 5
    assert delta(":nli_app:serving:refused_requests_total", reason="over_token_limit") == 1
    # Histogram buckets are cumulative and end in +Inf = count.
    assert value(after, ":tensorflow:serving:request_latency_bucket", model_name="toy", API="Predict",
                 entrypoint="GRPC", le="+Inf") == value(after, latency, model_name="toy", API="Predict",
                                                        entrypoint="GRPC")


def test_scrape_reports_load_warmup_availability_and_queue(server):
    samples = scrape(server)
    path = server.manager.servable("toy").path
    assert value(samples, ":tensorflow:cc:saved_model:load_attempt_count_total", model_path=path,
                 status="success") == 1
    assert value(samples, ":tensorflow:cc:saved_model:load_latency_total", model_path=path) > 0
    assert value(samples, ":tensorflow:serving:model_warmup_latency_count", model_path=path, status="OK") == 1
    assert value(samples, ":nli_app:serving:model_version_state", model_name="toy", version="1",
                 state="AVAILABLE") == 1
    assert value(samples, ":nli_app:serving:ready") == 1
    assert (":nli_app:serving:batching_queued_batches", frozenset()) in samples
    assert value(samples, ":nli_app:serving:batching_queued_tasks") == 0


def test_operations_routes_refuse_other_methods(server):
    for path in ("/livez", "/readyz", PATH):
        status, headers, body = http_get(server, path, method="POST")
        assert status == 405 and headers["Allow"] == "GET, HEAD" and "not allowed" in json.loads(body)["error"]


def test_monitoring_config_file(tmp_path):
    parse = config_lib.parse_monitoring_config
    assert parse('prometheus_config { enable: true path: "/metrics" }') == "/metrics"
    assert parse("prometheus_config { enable: true }") == config_lib.DEFAULT_PROMETHEUS_PATH
    assert parse('prometheus_config { path: "/metrics" }') is None and parse("") is None
    with pytest.raises(ValueError, match=r"m.config:1: invalid MonitoringConfig"):
        parse("prometheus_config { enabled: true }", "m.config")
    for bad in ("metrics", "/readyz", "/v1/models/x"):
        with pytest.raises(ValueError, match="prometheus_config.path must be"):
            parse(f'prometheus_config {{ enable: true path: "{bad}" }}')
    config = tmp_path / "monitoring.config"
    config.write_text("prometheus_config { enable: true }\n")
    with pytest.raises(ValueError, match="served on the REST port: set --rest_api_port"):
        config_lib.options_from_flags(model_base_path=str(tmp_path), rest_api_port=0,
                                      monitoring_config_file=str(config))
    assert config_lib.options_from_flags(model_base_path=str(tmp_path), monitoring_config_file=str(config)
                                         ).prometheus_path == config_lib.DEFAULT_PROMETHEUS_PATH


# ---- warm-up --------------------------------------------------------------------------------------------------------
def test_warmup_replays_before_available_and_a_failing_one_keeps_the_version_out(tmp_path):
    base = tmp_path / "toy"
    good = [warmup_log(["a"], ["b"]), warmup_log(["a b c"] * 4, ["d"] * 4)]
    toy_version(base, 1, good)
    seen = []  # (the manager's state of the version, batch size) at each warm-up call

    def load(name, version, path):
        servable = load_servable(name, version, path)
        function = servable.functions["serving_default"]

        def spy(**inputs):
            seen.append((manager.status("toy", version)[0].state, len(inputs["premise"])))
            return function(**inputs)
        return dataclasses.replace(servable, functions={**servable.functions, "serving_default": spy})

    metrics = Metrics()
    manager = ModelManager(model_config(base), poll_wait_seconds=0, loader=servable_loader(metrics, True, load),
                           initial_load=False)
    manager.poll_once()
    assert seen == [("LOADING", 1), ("LOADING", 4)]
    assert manager.status("toy")[0].state == "AVAILABLE"
    # Version 2's second record names an input the signature lacks: version 2 never serves, version 1 does.
    toy_version(base, 2, [good[0], warmup_log(["a"], None, signature_name="serving_default")])
    (base / "2" / "assets.extra" / "extra").write_text("not read")
    manager.poll_once()
    status = manager.status("toy", 2)[0]
    assert status.state == "END" and status.error_code == grpc.StatusCode.INVALID_ARGUMENT
    assert status.error_message.startswith(f"warm-up record 1 of {warmup.warmup_path(str(base / '2'))} failed: "
                                           "input size does not match signature")
    assert manager.servable("toy").version == 1
    samples = {(s.name, frozenset(s.labels.items())): s.value
               for family in text_string_to_metric_families(metrics.exposition().decode()) for s in family.samples}
    assert value(samples, ":tensorflow:serving:model_warmup_latency_count", model_path=str(base / "2"),
                 status="INVALID_ARGUMENT") == 1


def test_warmup_refuses_what_it_cannot_replay(tmp_path):
    path = toy_version(tmp_path / "toy", 1)
    servable = load_servable("toy", 1, path)
    regress = prediction_log_pb2.PredictionLog()
    regress.regress_log.request.model_spec.name = "toy"
    warmup.write_logs(path, [regress])
    with pytest.raises(warmup.ServingError, match="record 0 .* regress_log is not served") as error:
        warmup.warm_up(servable)
    assert error.value.code == grpc.StatusCode.UNIMPLEMENTED
    with open(warmup.warmup_path(path), "wb") as f:
        f.write(b"definitely not a TFRecord")
    with pytest.raises(warmup.ServingError, match="not a TFRecord file of PredictionLog protos"):
        warmup.read_logs(path)
    warmup.write_logs(path, [warmup_log(["a"], ["b"])] * (warmup.MAX_RECORDS + 1))
    with pytest.raises(warmup.ServingError, match="more than 1000 warm-up records"):
        warmup.read_logs(path)


# ---- readiness and liveness -----------------------------------------------------------------------------------------
def test_readiness_reasons_plain_function():
    def overview(available=(), statuses=(), base_missing=False):
        return ModelOverview("m", "/models/m", base_missing, tuple(available), tuple(statuses))

    assert health.readiness_reasons([overview([1], [VersionStatus(1, "AVAILABLE")])]) == []
    assert health.readiness_reasons([overview()]) == ["model m: no version loaded yet"]
    assert health.readiness_reasons([overview(statuses=[VersionStatus(2, "LOADING")])]) == [
        "model m: version 2 loading"]
    failed = VersionStatus(2, "END", grpc.StatusCode.UNKNOWN, "corrupt")
    assert health.readiness_reasons([overview(statuses=[failed])]) == ["model m: version 2 failed to load: corrupt"]
    assert health.readiness_reasons([overview([1], [VersionStatus(1, "AVAILABLE")], base_missing=True)]) == [
        "model m: base path /models/m does not exist (still serving version 1 from memory)"]
    assert health.readiness_reasons([overview([1], [VersionStatus(1, "AVAILABLE")])], draining=True) == [
        health.DRAINING]


def test_ready_once_loaded_and_live_throughout(server):
    assert http_get(server, "/livez")[0] == 200
    assert readyz(server) == (200, {"status": "ready"})
    assert grpc_health(server) == SERVING


def test_not_ready_while_loading(tmp_path):
    toy_version(tmp_path / "toy", 1)
    release, loading = threading.Event(), threading.Event()

    def slow_load(name, version, path):
        loading.set()
        assert release.wait(60)
        return load_servable(name, version, path)

    model_server = ModelServer(options(tmp_path / "toy"), load=slow_load)
    starter = threading.Thread(target=model_server.start)
    starter.start()
    try:
        assert loading.wait(60)
        assert http_get(model_server, "/livez")[0] == 200
        status, body = readyz(model_server)
        assert status == 503 and body["reasons"] == ["model toy: version 1 loading"]
        assert grpc_health(model_server) == NOT_SERVING
    finally:
        release.set()
        starter.join(60)
    try:
        assert readyz(model_server)[0] == 200 and grpc_health(model_server) == SERVING
    finally:
        model_server.stop()


def test_not_ready_while_the_base_path_is_gone(tmp_path):
    toy_version(tmp_path / "toy", 1)
    model_server = ModelServer(options(tmp_path / "toy"))
    model_server.start()
    try:
        shutil.move(tmp_path / "toy", tmp_path / "moved")
        model_server.manager.poll_once()
        status, body = readyz(model_server)
        assert status == 503 and body["reasons"] == [
            f"model toy: base path {tmp_path / 'toy'} does not exist (still serving version 1 from memory)"]
        assert grpc_health(model_server) == NOT_SERVING
        assert value(scrape(model_server), ":nli_app:serving:ready") == 0
        shutil.move(tmp_path / "moved", tmp_path / "toy")
        model_server.manager.poll_once()
        assert readyz(model_server)[0] == 200 and grpc_health(model_server) == SERVING
    finally:
        model_server.stop()


def test_not_ready_but_serving_while_draining(tmp_path):
    """What SIGTERM does with --readiness_drain_seconds: /readyz 503 and gRPC NOT_SERVING at once, while requests
    are still answered, then (a second signal) the graceful stop."""
    toy_version(tmp_path / "toy", 1)
    model_server = ModelServer(options(tmp_path / "toy", readiness_drain_seconds=300))
    model_server.start()
    stopper = threading.Thread(target=model_server.stop)
    stopper.start()
    try:
        for _ in range(200):
            if model_server.draining:
                break
            time.sleep(0.05)
        status, body = readyz(model_server)
        assert status == 503 and body["reasons"] == [health.DRAINING]
        assert grpc_health(model_server) == NOT_SERVING
        with grpc.insecure_channel(f"{HOST}:{model_server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response = stub.Predict(serving_requests.predict_request(["a b"], ["c"], "toy"), timeout=30)
        assert len(response.outputs["probabilities"].float_val) == 3
    finally:
        model_server.end_drain()  # a second SIGTERM: the 300 s drain ends now
        stopper.join(60)
    assert not stopper.is_alive()
