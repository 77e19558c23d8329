"""Serving overhead and batching gain: p50/p99 latency and requests/s of ``nli_model_server`` over gRPC at
concurrency 1, 8 and 32, with and without ``--enable_batching``, against the same SavedModel called in this
process (the floor). Prints a table and the ratios; targets (issue 3): p50 overhead over the in-process call
<= 2 ms at concurrency 1, batching >= 2x the requests/s of no batching at concurrency 32.

    python bench/serving_latency.py                                   # an ESIM (dim 64) exported by nli_app.nli.export
    python bench/serving_latency.py --model=toy                       # the tiny contract model: pure serving overhead
    python bench/serving_latency.py --model_base_path=/exports/esim   # a real export (its latest version)
    python bench/serving_latency.py --requests=5000 --output_json=serving_bench.json
    python bench/serving_latency.py --esim_dim=300 --concurrency=1 --server_arg=--tensorflow_intra_op_parallelism=1

Clients keep exactly ``concurrency`` requests in flight with gRPC futures (one client thread, so the client's
own CPU cost stays small). Everything runs on loopback.
"""
import json
import os
import sys
import tempfile
import threading
import time

# Import the project from the repository root.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402
from tensorflow_serving.apis import predict_pb2  # noqa: E402
from tensorflow_serving.apis import prediction_service_pb2_grpc  # noqa: E402

import grpc  # noqa: E402
from nli_app import cli  # noqa: E402
from nli_app.testing import toy_model  # noqa: E402
from nli_app.testing.server_process import ServerProcess  # noqa: E402
from serving.client import string_tensor  # noqa: E402
from serving.model_manager import list_versions  # noqa: E402

FLAGS = flags.FLAGS

PREMISE = "A man in a blue shirt is playing a guitar on a small stage ."
HYPOTHESIS = "A man is not playing music ."


def export_esim(dim):
    """An untrained ESIM over the vocabulary of the shipped SNLI dev pairs, exported as the contract says."""
    from nli_app.nli import export
    from nli_app.nli.data import snli
    from nli_app.nli.data import vocab as vocab_lib
    from nli_app.nli.models import esim
    examples = snli.read_snli(snli.sample_path("dev")).examples
    vocabulary = vocab_lib.Vocabulary.from_examples(examples)
    model = esim.build_esim(len(vocabulary), embedding_dim=dim, hidden_units=dim, dropout=0.0)
    base = tempfile.mkdtemp()
    export.export_versioned(model, vocabulary, base, "esim", version=1)
    return os.path.join(base, "esim")


def percentiles(latencies):
    ms = np.asarray(latencies) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def load_floor_function(export_dir):
    """The served signature loaded in this process, warmed up."""
    function = tf.saved_model.load(export_dir).signatures["serving_default"]
    inputs = {"premise": tf.constant([PREMISE] * FLAGS.rows), "hypothesis": tf.constant([HYPOTHESIS] * FLAGS.rows)}
    for _ in range(50):
        function(**inputs)
    return lambda: function(**inputs)


def in_process_floor(call, requests, concurrency):
    """The signature called directly (no server, no serialization) from ``concurrency`` threads."""
    latencies, lock, counter = [], threading.Lock(), iter(range(requests))

    def worker():
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            start = time.perf_counter()
            call()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, requests / (time.perf_counter() - start)


def cell(latencies, rate, **extra):
    p50, p99 = percentiles(latencies)
    return {"p50_ms": p50, "p99_ms": p99, "requests_per_s": rate, **extra}


def show(label, concurrency, figures):
    failures = f"  failures {figures['failures']}" if "failures" in figures else ""
    print(f"  {label:16s} conc {concurrency:3d}: p50 {figures['p50_ms']:8.2f} ms  p99 {figures['p99_ms']:8.2f} ms  "
          f"{figures['requests_per_s']:8.1f} req/s{failures}", flush=True)


def over_grpc(stub, request, requests, concurrency):
    """``requests`` Predict calls with ``concurrency`` in flight; returns latencies (s), requests/s, failures."""
    slots = threading.Semaphore(concurrency)
    latencies, failures, lock = [], [], threading.Lock()
    done = threading.Event()
    remaining = [requests]

    def finished(future, started):
        elapsed = time.perf_counter() - started
        with lock:
            if future.exception() is not None:
                failures.append(future.exception())
            latencies.append(elapsed)
            remaining[0] -= 1
            if remaining[0] == 0:
                done.set()
        slots.release()
    start = time.perf_counter()
    for _ in range(requests):
        slots.acquire()
        started = time.perf_counter()
        future = stub.Predict.future(request, timeout=60)
        future.add_done_callback(lambda f, s=started: finished(f, s))
    done.wait()
    return latencies, requests / (time.perf_counter() - start), len(failures)


def bench_server(base_path, name, batching, concurrencies, floor_call):
    """gRPC figures per concurrency, each next to an in-process floor measured just before it (the server idle),
    so that both see the same machine load."""
    flags_ = [f"--model_name={name}", f"--model_base_path={base_path}", "--file_system_poll_wait_seconds=0",
              *FLAGS.server_arg]
    if batching:
        path = os.path.join(tempfile.mkdtemp(), "batching.config")
        with open(path, "w") as f:
            f.write(f"max_batch_size {{ value: {FLAGS.max_batch_size} }}\n"
                    f"batch_timeout_micros {{ value: {FLAGS.batch_timeout_micros} }}\n"
                    f"num_batch_threads {{ value: {FLAGS.num_batch_threads} }}\n"
                    "max_enqueued_batches { value: 1000 }\n")
        flags_ += ["--enable_batching", f"--batching_parameters_file={path}"]
    label = "grpc+batching" if batching else "grpc"
    floors, results = {}, {}
    with ServerProcess(flags_, rest=False) as server, grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = name
        request.inputs["premise"].CopyFrom(string_tensor([PREMISE] * FLAGS.rows))
        request.inputs["hypothesis"].CopyFrom(string_tensor([HYPOTHESIS] * FLAGS.rows))
        over_grpc(stub, request, 200, 8)  # warm-up
        for concurrency in concurrencies:
            floors[concurrency] = cell(*in_process_floor(floor_call, FLAGS.requests, concurrency))
            show("in-process", concurrency, floors[concurrency])
            latencies, rate, failures = over_grpc(stub, request, FLAGS.requests, concurrency)
            results[concurrency] = cell(latencies, rate, failures=failures)
            show(label, concurrency, results[concurrency])
    return floors, results


def define_flags(flag_values=flags.FLAGS):
    flags.DEFINE_string("model_base_path", "", "A model base path to serve (default: a fresh export of --model).", flag_values=flag_values)
    flags.DEFINE_enum("model", "esim", ["esim", "toy"], "Model to export when no --model_base_path: an (untrained) "
                      "ESIM exported by nli_app.nli.export, or nli_app/testing/toy_model.py (tiny: shows pure overhead).",
                      flag_values=flag_values)
    flags.DEFINE_integer("esim_dim", 64, "ESIM embedding and hidden size.", flag_values=flag_values)
    flags.DEFINE_integer("requests", 400, "Timed requests per (server, concurrency) cell.", flag_values=flag_values)
    flags.DEFINE_list("concurrency", ["1", "8", "32"], "Concurrency levels.", flag_values=flag_values)
    flags.DEFINE_integer("rows", 1, "Premise/hypothesis pairs per request.", flag_values=flag_values)
    flags.DEFINE_integer("max_batch_size", 32, "Batching: max_batch_size.", flag_values=flag_values)
    flags.DEFINE_integer("batch_timeout_micros", 1000, "Batching: batch_timeout_micros.", flag_values=flag_values)
    flags.DEFINE_integer("num_batch_threads", 2, "Batching: num_batch_threads.", flag_values=flag_values)
    flags.DEFINE_string("output_json", "", "Also write the figures here.", flag_values=flag_values)
    flags.DEFINE_multi_string("server_arg", [], "A further nli_model_server flag for both servers (repeatable), "
                              "e.g. --server_arg=--tensorflow_intra_op_parallelism=1.", flag_values=flag_values)


def main(argv):
    del argv
    concurrencies = [int(c) for c in FLAGS.concurrency]
    if FLAGS.model_base_path:
        base_path, name = FLAGS.model_base_path, os.path.basename(os.path.normpath(FLAGS.model_base_path))
    elif FLAGS.model == "toy":
        base_path, name = os.path.join(tempfile.mkdtemp(), "toy"), "toy"
        toy_model.write_toy_model(os.path.join(base_path, "1"), seed=0)
    else:
        base_path, name = export_esim(FLAGS.esim_dim), "esim"
    export_dir = os.path.join(base_path, str(list_versions(base_path)[-1]))
    print(f"model {export_dir}, {FLAGS.rows} pair(s) per request, {FLAGS.requests} requests per cell, "
          f"{os.cpu_count()} CPUs", flush=True)
    floor_call = load_floor_function(export_dir)
    floor, plain = bench_server(base_path, name, False, concurrencies, floor_call)
    floor_b, batched = bench_server(base_path, name, True, concurrencies, floor_call)
    first, last = concurrencies[0], concurrencies[-1]
    ratios = {
        f"p50_overhead_ms_conc{first}": plain[first]["p50_ms"] - floor[first]["p50_ms"],
        f"p50_ratio_vs_in_process_conc{first}": plain[first]["p50_ms"] / floor[first]["p50_ms"],
        f"batching_throughput_gain_conc{last}": batched[last]["requests_per_s"] / plain[last]["requests_per_s"],
    }
    for concurrency in concurrencies:
        ratios[f"throughput_vs_in_process_conc{concurrency}_plain"] = (
            plain[concurrency]["requests_per_s"] / floor[concurrency]["requests_per_s"])
        ratios[f"throughput_vs_in_process_conc{concurrency}_batching"] = (
            batched[concurrency]["requests_per_s"] / floor_b[concurrency]["requests_per_s"])
    print(json.dumps(ratios, indent=1))
    print(f"target p50 overhead <= 2 ms at concurrency {first}: "
          f"{'met' if ratios[f'p50_overhead_ms_conc{first}'] <= 2 else 'NOT met'}; "
          f"target batching >= 2x at concurrency {last}: "
          f"{'met' if ratios[f'batching_throughput_gain_conc{last}'] >= 2 else 'NOT met'}")
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump({"in_process": floor, "grpc": plain, "in_process_next_to_batching": floor_b, "grpc_batching": batched,
                       "ratios": ratios}, f, indent=1)


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
