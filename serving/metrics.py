"""Prometheus metrics of one server, under TF Serving's names, labels and units, on a registry of its own.

TF Serving's metrics (``/tensorflow/serving/request_count`` ...) reach Prometheus with ``/`` spelled ``:``; the
same names here (prometheus_client adds ``_total`` to a counter's samples, ``_bucket``/``_sum``/``_count`` to a
histogram's; the metric family keeps the name):

* ``:tensorflow:serving:request_count{model_name,status}``: Predict / Classify requests by outcome (``OK``,
  ``INVALID_ARGUMENT``, ... the canonical code's name), gRPC and REST alike (a model name that is not configured
  is recorded as "", so clients cannot grow the label set);
* ``:tensorflow:serving:request_latency{model_name,API,entrypoint}``: request wall time in microseconds
  (``API`` ``Predict`` / ``Classify``, ``entrypoint`` ``GRPC`` / ``REST``), TF Serving's buckets
  (10 us x 1.8^k, 33 of them);
* ``:tensorflow:serving:runtime_latency{model_name,API,runtime}``: the model call alone (one batch when batching),
  ``runtime`` ``TF2`` (a SavedModel signature called as a concrete function), same buckets;
* ``:tensorflow:cc:saved_model:load_attempt_count{model_path,status}`` (``success`` / ``fail``) and
  ``:tensorflow:cc:saved_model:load_latency{model_path}`` (microseconds of successful loads);
* ``:tensorflow:serving:model_warmup_latency{model_path,status}``: replaying a version's warm-up requests
  (warmup.py), microseconds.

What TF Serving does not export, read from the server's state at scrape time (so it can never drift from it):

* ``:nli_app:serving:model_version_state{model_name,version,state}``: 1 for each version's current state
  (``LOADING``, ``AVAILABLE``, ``END`` ... as ``GET /v1/models/NAME`` reports it);
* ``:nli_app:serving:ready``: 1 while ``/readyz`` answers 200 (health.py);
* ``:nli_app:serving:batching_queued_batches`` / ``:nli_app:serving:batching_queued_tasks``: the batch scheduler's
  queue depth;
* ``:nli_app:serving:refused_requests{reason}``: requests refused by limits and deadlines (``over_token_limit``,
  ``deadline_dropped``, ``batch_queue_full``; deadlines.COUNTERS, counted per process).
"""
import dataclasses
import time

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from serving import deadlines
from serving.servable import CLASSIFY_METHOD_NAME

# TF Serving's latency buckets: monitoring::Buckets::Exponential(10, 1.8, 33), in microseconds (~20 minutes).
LATENCY_BUCKETS_US = tuple(10 * 1.8**k for k in range(33))
# Every name here is a classic Prometheus name (no UTF-8 escaping), so the classic text format, which every
# Prometheus version scrapes.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
RUNTIME = "TF2"


def _microseconds(seconds: float) -> float:
    return seconds * 1e6


class Metrics:
    """The metrics of one server instance; ``exposition()`` is the scrape body (Prometheus text format 0.0.4)."""

    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self._model_names = None  # set by watch(): the configured models
        registry = dict(registry=self.registry)
        self.request_count = Counter(":tensorflow:serving:request_count", "The total number of requests.",
                                     ["model_name", "status"], **registry)
        self.request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"], buckets=LATENCY_BUCKETS_US, **registry)
        self.runtime_latency = Histogram(
            ":tensorflow:serving:runtime_latency", "Distribution of wall time (in microseconds) for Tensorflow "
            "runtime.", ["model_name", "API", "runtime"], buckets=LATENCY_BUCKETS_US, **registry)
        self.load_attempt_count = Counter(":tensorflow:cc:saved_model:load_attempt_count",
                                          "The number of times a SavedModel was attempted to load.",
                                          ["model_path", "status"], **registry)
        self.load_latency = Counter(":tensorflow:cc:saved_model:load_latency",
                                    "Latency in microseconds for SavedModels that were successfully loaded.",
                                    ["model_path"], **registry)
        self.warmup_latency = Histogram(":tensorflow:serving:model_warmup_latency",
                                        "Distribution of wall time (in microseconds) for warming up the model.",
                                        ["model_path", "status"], buckets=LATENCY_BUCKETS_US, **registry)

    def observe_request(self, model_name: str, api: str, entrypoint: str, status: str, seconds: float):
        """One Predict / Classify request of ``entrypoint`` (``GRPC`` / ``REST``) that ended with ``status``. A name
        that is not a configured model is recorded as "" so clients cannot grow the label set without bound."""
        if self._model_names is not None and model_name not in self._model_names():
            model_name = ""
        self.request_count.labels(model_name, status).inc()
        self.request_latency.labels(model_name, api, entrypoint).observe(_microseconds(seconds))

    def observe_load(self, model_path: str, ok: bool, seconds: float):
        self.load_attempt_count.labels(model_path, "success" if ok else "fail").inc()
        if ok:
            self.load_latency.labels(model_path).inc(_microseconds(seconds))

    def observe_warmup(self, model_path: str, status: str, seconds: float):
        self.warmup_latency.labels(model_path, status).observe(_microseconds(seconds))

    def timed(self, function, model_name: str, api: str):
        """``function`` (a signature's concrete function) recording each call in ``runtime_latency``."""
        histogram = self.runtime_latency.labels(model_name, api, RUNTIME)

        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                histogram.observe(_microseconds(time.perf_counter() - start))
        return call

    def instrument(self, servable):
        """``servable`` with every signature timed in ``runtime_latency`` (API ``Classify`` for a classify
        signature, else ``Predict``)."""
        functions = {}
        for key, function in servable.functions.items():
            api = "Classify" if servable.signature_defs[key].method_name == CLASSIFY_METHOD_NAME else "Predict"
            functions[key] = self.timed(function, servable.name, api)
        return dataclasses.replace(servable, functions=functions)

    def watch(self, manager, readiness=None, batcher=None):
        """Adds the scrape-time metrics read from ``manager`` (model states), ``readiness`` (a callable returning
        the reasons the server is not ready, health.py) and ``batcher`` (queue depth); request metrics then label
        only configured model names."""
        self._model_names = manager.model_names
        self.registry.register(_StateCollector(manager, readiness, batcher))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector:
    def __init__(self, manager, readiness, batcher):
        self._manager, self._readiness, self._batcher = manager, readiness, batcher

    def describe(self):
        return []  # collected at scrape time only

    def collect(self):
        states = GaugeMetricFamily(":nli_app:serving:model_version_state",
                                   "1 for the current state of each model version (as GetModelStatus reports it).",
                                   labels=["model_name", "version", "state"])
        for overview in self._manager.overview():
            for status in overview.statuses:
                states.add_metric([overview.name, str(status.version), status.state], 1)
        yield states
        if self._readiness is not None:
            yield GaugeMetricFamily(":nli_app:serving:ready", "1 while /readyz answers 200, else 0.",
                                    value=0 if self._readiness() else 1)
        if self._batcher is not None:
            batches, tasks = self._batcher.queue_depth()
            yield GaugeMetricFamily(":nli_app:serving:batching_queued_batches",
                                    "Batches waiting for a batch thread (open ones included).", value=batches)
            yield GaugeMetricFamily(":nli_app:serving:batching_queued_tasks",
                                    "Requests waiting in those batches.", value=tasks)
        refused = CounterMetricFamily(":nli_app:serving:refused_requests",
                                      "Requests refused by the token limits, deadlines and the batch queue.",
                                      labels=["reason"])
        for reason, count in sorted(deadlines.COUNTERS.snapshot().items()):
            refused.add_metric([reason], count)
        yield refused
