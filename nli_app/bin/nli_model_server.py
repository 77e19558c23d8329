"""``nli_model_server``: serves SavedModels over TF Serving's gRPC and REST APIs.

Flags and defaults follow ``tensorflow_model_server`` for what is implemented (``--rest_api_port`` defaults to 8501
here, 0 turns REST off). Start-up: both ports open first, then the models load, so probes are answered during a
long load. Each version's warm-up requests (``assets.extra/tf_serving_warmup_requests``, warmup.py) are replayed
before it becomes AVAILABLE (``--enable_model_warmup``, as TF Serving). The gRPC health service
(``grpc.health.v1.Health``, for "" and both TF Serving services) and REST ``GET /readyz`` follow readiness
(health.py): SERVING / 200 only while every model has an AVAILABLE version; ``GET /livez`` answers while the
process serves. ``--monitoring_config_file`` (TF Serving's ``MonitoringConfig``) turns on a Prometheus scrape
endpoint on the REST port (metrics.py). SIGTERM/SIGINT: readiness turns NOT_SERVING / 503 at once, the server keeps
serving ``--readiness_drain_seconds`` (so load balancers stop sending; a second signal ends that wait), then
accepts no new requests and lets in-flight ones finish (up to ``--shutdown_grace_seconds``) before it exits.
``--tensorflow_intra_op_parallelism`` / ``--tensorflow_inter_op_parallelism`` size TensorFlow's thread pools, as
TF Serving's flags do. Beyond TF Serving: ``--max_sentence_tokens`` / ``--max_request_tokens`` bound the work of
one request (limits.py), and REST runs on aiohttp (http_transport.py) with ``--rest_api_timeout_in_ms`` as each
request's deadline.

    nli_model_server --model_name=esim --model_base_path=/abs/path/to/exports/esim
    nli_model_server --model_config_file=models.config --enable_batching --batching_parameters_file=batching.config
"""
import signal
import threading

from absl import app
from absl import flags

from nli_app import cli, threads
from serving import config as config_lib
from serving import limits as limits_lib
from serving.server import ModelServer

FLAGS = flags.FLAGS


def define_flags(flag_values=flags.FLAGS):
    """The binary's flags (defined on demand: the module is also imported as a library)."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_integer("port", 8500, "Port to listen on for the gRPC API.", **define)
    flags.DEFINE_integer("rest_api_port", 8501, "Port to listen on for the HTTP/REST API; 0 turns it off.", **define)
    flags.DEFINE_string("host", "0.0.0.0", "Address both APIs bind to, 127.0.0.1 for loopback only (not a flag of "
                        "tensorflow_model_server, which binds all addresses).", **define)
    flags.DEFINE_string("model_name", "default", "Name of the model (with --model_base_path).", **define)
    flags.DEFINE_string("model_base_path", "", "Path of the model's numbered version directories.", **define)
    flags.DEFINE_string("model_config_file", "",
                        "A text ModelServerConfig (instead of --model_name/--model_base_path).", **define)
    flags.DEFINE_float("file_system_poll_wait_seconds", 1, "Seconds between polls for new model versions; <= 0: none.",
                       **define)
    flags.DEFINE_bool("enable_batching", False, "Merge concurrent requests into batches.", **define)
    flags.DEFINE_string("batching_parameters_file", "", "A text BatchingParameters file (with --enable_batching).",
                        **define)
    flags.DEFINE_integer("grpc_max_message_size", config_lib.INT32_MAX, "Largest request/response in bytes.", **define)
    flags.DEFINE_float("shutdown_grace_seconds", 10, "How long SIGTERM waits for in-flight requests.", **define)
    flags.DEFINE_integer("max_sentence_tokens", limits_lib.DEFAULT_MAX_SENTENCE_TOKENS,
                         "Most tokens in one string of a request (an upper bound of the model's tokens, see "
                         "serving/limits.py); longer -> INVALID_ARGUMENT / 400 before any model work. 0: no limit.", **define)
    flags.DEFINE_integer("max_request_tokens", limits_lib.DEFAULT_MAX_REQUEST_TOKENS,
                         "Most tokens in all the strings of one request; more -> INVALID_ARGUMENT / 400. 0: no limit.", **define)
    flags.DEFINE_integer("rest_api_timeout_in_ms", 30000, "Deadline of a REST request (as TF Serving's flag): one "
                         "still waiting for the model then is dropped with 504.", **define)
    flags.DEFINE_string("monitoring_config_file", "", "A text MonitoringConfig (TF Serving's): prometheus_config "
                        "{ enable: true path: \"/monitoring/prometheus/metrics\" } serves Prometheus metrics at that "
                        "path of the REST port.", **define)
    flags.DEFINE_bool("enable_model_warmup", True, "Replay each version's assets.extra/tf_serving_warmup_requests "
                      "before it becomes AVAILABLE (as TF Serving).", **define)
    threads.define_flags(flag_values)
    flags.DEFINE_float("readiness_drain_seconds", 0, "On SIGTERM, answer /readyz 503 and gRPC health NOT_SERVING "
                       "but keep serving this long (for load balancers to notice) before the graceful shutdown.",
                       **define)


def main(argv):
    del argv
    try:
        options = config_lib.options_from_flags(
            port=FLAGS.port, rest_api_port=FLAGS.rest_api_port, model_name=FLAGS.model_name,
            model_base_path=FLAGS.model_base_path, model_config_file=FLAGS.model_config_file,
            file_system_poll_wait_seconds=FLAGS.file_system_poll_wait_seconds, enable_batching=FLAGS.enable_batching,
            batching_parameters_file=FLAGS.batching_parameters_file, grpc_max_message_size=FLAGS.grpc_max_message_size,
            host=FLAGS.host, limits=limits_lib.TokenLimits(FLAGS.max_sentence_tokens, FLAGS.max_request_tokens),
            rest_api_timeout_in_ms=FLAGS.rest_api_timeout_in_ms, shutdown_grace_seconds=FLAGS.shutdown_grace_seconds,
            monitoring_config_file=FLAGS.monitoring_config_file, enable_model_warmup=FLAGS.enable_model_warmup,
            readiness_drain_seconds=FLAGS.readiness_drain_seconds,
            tensorflow_intra_op_parallelism=FLAGS.tensorflow_intra_op_parallelism,
            tensorflow_inter_op_parallelism=FLAGS.tensorflow_inter_op_parallelism)
    except (ValueError, OSError) as error:
        raise app.UsageError(str(error))
    server = ModelServer(options)
    stop = threading.Event()
    def on_signal(*_):
        if stop.is_set():
            server.end_drain()
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    server.start()
    while not stop.wait(0.5):
        pass
    server.stop()


def run():
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
