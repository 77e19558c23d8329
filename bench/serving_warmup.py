"""First-request latency after a load, with and without warm-up (issue 20): the shipped pretrained ESIM
(``nli_app/data/models/esim_snli``) exported by ``export_nli`` (which writes TF Serving's warm-up file), served by
``nli_model_server`` in a fresh process with ``--enable_model_warmup`` on and off. For each start: the time until
the version is AVAILABLE (health SERVING), the latency of the first gRPC Predict (one SNLI pair) and the median of
the next 20 (the steady state). Starts alternate between the two settings; the figures are medians over the starts.

    python bench/serving_warmup.py                  # 3 starts of each
    python bench/serving_warmup.py --starts=5 --output_json=warmup_bench.json
"""
import json
import os
import sys
import tempfile
import time

# Import the project from the repository root.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[0] = os.path.dirname(_HERE)

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from tensorflow_serving.apis import prediction_service_pb2_grpc  # noqa: E402

from nli_app.bin import export_nli  # noqa: E402
from nli_app.testing import serving_requests  # noqa: E402
from nli_app.testing.server_process import ServerProcess  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", os.path.join(_HERE, "..", "nli_app", "data", "models", "esim_snli"),
                    "A train_nli model directory to export and serve.")
flags.DEFINE_integer("starts", 3, "Server starts per setting (warm-up on / off).")
flags.DEFINE_string("output_json", "", "Also write the figures here.")

PAIR = (["A man in a blue shirt is playing the guitar on a street corner."], ["A person is making music outside."])


def one_start(base: str, warmup: bool) -> dict:
    start = time.perf_counter()
    flags_ = ["--model_name=esim", f"--model_base_path={base}", "--file_system_poll_wait_seconds=0",
              f"--enable_model_warmup={str(warmup).lower()}"]
    with ServerProcess(flags_, rest=False) as server, grpc.insecure_channel(server.grpc_address) as channel:
        available = time.perf_counter() - start
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = serving_requests.predict_request(*PAIR, "esim")
        latencies = []
        for _ in range(21):
            begin = time.perf_counter()
            stub.Predict(request, timeout=120)
            latencies.append(time.perf_counter() - begin)
    return {"available_s": available, "first_ms": latencies[0] * 1e3,
            "steady_ms": float(np.median(latencies[1:])) * 1e3}


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as tmp:
        export_nli.export_trained(export_nli.ExportNliOptions(model_dir=FLAGS.model_dir, export_base=tmp,
                                                              model_name="esim", version=1))
        runs = {True: [], False: []}
        for _ in range(FLAGS.starts):
            for warmup in (False, True):
                runs[warmup].append(one_start(os.path.join(tmp, "esim"), warmup))
                print(f"warm-up {'on ' if warmup else 'off'}: {runs[warmup][-1]}", flush=True)
    figures = {("on" if warmup else "off"): {key: float(np.median([r[key] for r in results]))
                                             for key in results[0]} for warmup, results in runs.items()}
    print(f"{'warm-up':8} {'AVAILABLE after (s)':>20} {'first request (ms)':>19} {'steady state (ms)':>18}")
    for name, row in figures.items():
        print(f"{name:8} {row['available_s']:20.2f} {row['first_ms']:19.1f} {row['steady_ms']:18.1f}")
    print(f"first request without warm-up / with: {figures['off']['first_ms'] / figures['on']['first_ms']:.1f}x")
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump({"starts": FLAGS.starts, "figures": figures}, f, indent=1)


if __name__ == "__main__":
    app.run(main)
