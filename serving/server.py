"""The model server that ``nli_model_server`` runs: gRPC and REST front ends over one model manager.

:class:`ModelServer` opens both ports first, then loads the models, so probes are answered during a long load;
each version's warm-up requests (warmup.py) are replayed before it becomes AVAILABLE (``servable_loader``).
Readiness (health.py) drives the gRPC health service and REST ``/readyz``; ``stop`` turns readiness off, drains,
then lets in-flight requests finish within the grace period. The binary (flags, signals) is
``nli_app/bin/nli_model_server.py``.
"""
import concurrent.futures
import threading
import time

import grpc
from absl import logging
from grpc_health.v1 import health
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from nli_app import threads
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
        threads.set_tensorflow_threads(options.tensorflow_intra_op_parallelism, options.tensorflow_inter_op_parallelism)
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
