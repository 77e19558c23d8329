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
Beyond TF Serving: ``--max_sentence_tokens`` / ``--max_request_tokens`` bound the work of one request (limits.py),
and REST runs on aiohttp (http_transport.py) with ``--rest_api_timeout_in_ms`` as each request's deadline.

    nli_model_server --model_name=esim --model_base_path=/abs/path/to/exports/esim
    nli_model_server --model_config_file=models.config --enable_batching --batching_parameters_file=batching.config
"""
import concurrent.futures
import signal
import threading
import time

import grpc
from absl import app
from absl import flags
from absl import logging
from grpc_health.v1 import health
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from nli_app import cli
from serving import config as config_lib
from serving import deadlines
from serving import health as health_lib
from serving import limits as limits_lib
from serving import warmup
from serving.batching import Batcher
from serving.grpc_service import ModelServicer
from serving.grpc_service import PredictionServicer
from serving.http_transport import RestServer
from serving.metrics import Metrics
from serving.model_manager import ModelManager
from serving.rest import RestApi
from serving.servable import load_servable

SERVICE_NAMES = ("tensorflow.serving.PredictionService", "tensorflow.serving.ModelService")


def servable_loader(metrics: Metrics, enable_model_warmup: bool = True, load=load_servable):
    """The model manager's loader: ``load`` the SavedModel (counted and timed in ``metrics``), replay its warm-up
    requests, and time its signatures' calls."""
    def load_version(name, version, path):
        start = time.perf_counter()
        try:
            servable = load(name, version, path)
        except Exception:
            metrics.observe_load(path, False, time.perf_counter() - start)
            raise
        metrics.observe_load(path, True, time.perf_counter() - start)
        if enable_model_warmup:
            count = warmup.warm_up(servable, metrics)
            if count:
                logging.info("Warmed up %s version %d with %d requests", name, version, count)
        return metrics.instrument(servable)
    return load_version


class ModelServer:
    """The model manager, the batcher, metrics, health and both endpoints for one :class:`ServerOptions`;
    ``start`` / ``stop``. Nothing is loaded before ``start``."""

    def __init__(self, options: config_lib.ServerOptions, max_workers: int = 64, load=load_servable):
        """``load(name, version, path)``: how a SavedModel becomes a servable (tests slow it down)."""
        self.options = options
        self.metrics = Metrics()
        self.draining = False
        self._drain_over = threading.Event()
        self.health = health.HealthServicer()
        self.manager = ModelManager(options.model_config, options.file_system_poll_wait_seconds,
                                    loader=servable_loader(self.metrics, options.enable_model_warmup, load),
                                    on_change=self._sync_health, initial_load=False)
        self.batcher = Batcher(options.batching) if options.batching else None
        self.metrics.watch(self.manager, self.not_ready_reasons, self.batcher)
        message_options = [("grpc.max_receive_message_length", options.grpc_max_message_size),
                           ("grpc.max_send_message_length", options.grpc_max_message_size)]
        self.grpc_server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=max_workers),
                                       options=message_options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(self.manager, self.batcher, options.limits, self.metrics), self.grpc_server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.manager), self.grpc_server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc_server)
        self.port = self.grpc_server.add_insecure_port(f"{options.host}:{options.port}")
        if self.port == 0:
            raise OSError(f"cannot bind the gRPC port {options.host}:{options.port}")
        self.rest_server = None
        self.rest_port = 0
        if options.rest_api_port:
            api = RestApi(self.manager, self.batcher, max_body_bytes=options.grpc_max_message_size,
                          limits=options.limits, readiness=self.not_ready_reasons, metrics=self.metrics,
                          prometheus_path=options.prometheus_path)
            self.rest_server = RestServer((options.host, options.rest_api_port), api,
                                          timeout_seconds=options.rest_api_timeout_in_ms / 1e3,
                                          grace_seconds=options.shutdown_grace_seconds)
            self.rest_port = self.rest_server.port

    def not_ready_reasons(self) -> list:
        """Why the server is not ready ([]: ready): health.readiness_reasons over the models' state."""
        return health_lib.readiness_reasons(self.manager.overview(), self.draining)

    def _sync_health(self):
        """gRPC health follows readiness (after every poll; frozen NOT_SERVING once draining)."""
        status = (health_pb2.HealthCheckResponse.NOT_SERVING if self.not_ready_reasons()
                  else health_pb2.HealthCheckResponse.SERVING)
        for name in ("",) + SERVICE_NAMES:
            self.health.set(name, status)

    def start(self):
        """Opens both ports (live, not ready), loads the models (returns when the first load is done), then
        polls for new versions."""
        self._sync_health()
        self.grpc_server.start()
        if self.rest_server:
            self.rest_server.start()
        logging.info("Listening: gRPC on port %d, REST on port %s%s; loading models %s", self.port,
                     self.rest_port or "off",
                     f" (Prometheus metrics at {self.options.prometheus_path})" if self.options.prometheus_path
                     else "", self.manager.model_names())
        self.manager.poll_once()
        self.manager.start_polling()
        reasons = self.not_ready_reasons()
        if reasons:
            logging.warning("Not ready: %s", "; ".join(reasons))
        else:
            logging.info("Ready: serving models %s", self.manager.model_names())

    def end_drain(self):
        """Ends the ``readiness_drain_seconds`` wait of a :meth:`stop` now (a second SIGTERM / SIGINT)."""
        self._drain_over.set()

    def stop(self, grace_seconds: float | None = None):
        """Turns not ready, keeps serving ``readiness_drain_seconds``, then stops accepting requests, lets
        in-flight ones finish, and releases the models."""
        if grace_seconds is None:
            grace_seconds = self.options.shutdown_grace_seconds
        self.draining = True
        self.health.enter_graceful_shutdown()
        if self.options.readiness_drain_seconds:
            logging.info("Draining: not ready, still serving for %.1f s (a second signal ends it)",
                         self.options.readiness_drain_seconds)
            self._drain_over.wait(self.options.readiness_drain_seconds)
        logging.info("Shutting down: finishing in-flight requests (grace %.1f s)", grace_seconds)
        stopped = self.grpc_server.stop(grace_seconds)
        if self.rest_server:
            self.rest_server.stop()
        stopped.wait()
        if self.batcher:
            self.batcher.stop()
        self.manager.stop()
        logging.info("Server stopped; refused requests: %s", deadlines.COUNTERS.snapshot() or "none")


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
            readiness_drain_seconds=FLAGS.readiness_drain_seconds)
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
