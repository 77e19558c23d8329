"""Bounded loopback load test: 4,000 gRPC requests at concurrency 32 (one in five invalid) against a batching
``nli_model_server``; every answer is checked (values vs the numpy reference, or the expected error code), none
may be lost, and the server's resident memory must stay flat."""
import concurrent.futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from nli_app.testing import toy_model
from nli_app.testing.server_process import ServerProcess
from serving.client import string_tensor

SEED = 5
REQUESTS = 4_000
CONCURRENCY = 32


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def make_request(i):
    """Request i and what it must get: an array of probabilities, or a gRPC status code."""
    n = i % 3 + 1
    premises = [f"w{i} " * (i % 7 + 1) + f"x{j}" for j in range(n)]
    hypotheses = [("not " * ((i + j) % 3)) + f"y{i}" for j in range(n)]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["premise"].CopyFrom(string_tensor(premises))
    request.inputs["hypothesis"].CopyFrom(string_tensor(hypotheses))
    kind = i % 10
    if kind == 3:
        request.model_spec.name = "missing"
        return request, grpc.StatusCode.NOT_FOUND
    if kind == 5:
        del request.inputs["hypothesis"]
        return request, grpc.StatusCode.INVALID_ARGUMENT
    if kind == 7:
        request.inputs["premise"].CopyFrom(tf.make_tensor_proto(np.zeros(n, np.float32)))
        return request, grpc.StatusCode.INVALID_ARGUMENT
    return request, toy_model.reference_probabilities(premises, hypotheses, SEED)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_thousands_of_mixed_requests_at_concurrency_32(tmp_path):
    toy_model.write_toy_model(str(tmp_path / "toy" / "1"), seed=SEED)
    (tmp_path / "batching.config").write_text("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 500 }\n"
                                              "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 1000 }\n")
    flags = ["--model_name=toy", f"--model_base_path={tmp_path / 'toy'}", "--enable_batching",
             f"--batching_parameters_file={tmp_path / 'batching.config'}"]
    with ServerProcess(flags, rest=False) as server, grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def run(i):
            request, expected = make_request(i)
            try:
                response = stub.Predict(request, timeout=120)
            except grpc.RpcError as error:
                return i, error.code() == expected, f"{error.code().name}: {error.details()}"
            if not isinstance(expected, np.ndarray):
                return i, False, f"expected {expected.name}, got an answer"
            got = np.reshape(response.outputs["probabilities"].float_val, (-1, 3))
            return i, got.shape == expected.shape and np.allclose(got, expected, rtol=1e-5, atol=1e-6), "values"

        results, rss = {}, []
        with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
            for start in range(0, REQUESTS, 1000):
                for i, ok, detail in pool.map(run, range(start, start + 1000)):
                    results[i] = (ok, detail)
                rss.append(rss_bytes(server.process.pid))
        assert server.stop() == 0
    wrong = {i: detail for i, (ok, detail) in results.items() if not ok}
    assert len(results) == REQUESTS and not wrong, list(wrong.items())[:10]
    growth = rss[-1] - rss[0]
    assert growth < 48 * 2**20, f"server RSS grew by {growth / 2**20:.1f} MiB after warm-up: {rss}"
