"""Request deadlines (absolute ``time.monotonic()`` values, None = none) and the counters of refused work.

A gRPC request's deadline is the client's (``context.time_remaining()``); a REST request's is
``--rest_api_timeout_in_ms`` after it arrived (TF Serving's flag). A request whose deadline has passed is dropped
before the model runs it, at the shared predict path and again inside the batcher's queue, answered
DEADLINE_EXCEEDED (HTTP 504) and counted in :data:`COUNTERS`.
"""
import collections
import threading
import time

import grpc
from absl import logging

from serving.errors import ServingError

EXPIRED_MESSAGE = "Deadline exceeded before the request ran; it was dropped"


def from_timeout(seconds):
    """The deadline ``seconds`` from now (None stays None)."""
    return None if seconds is None else time.monotonic() + seconds


def remaining(deadline):
    return None if deadline is None else deadline - time.monotonic()


def expired(deadline) -> bool:
    return deadline is not None and time.monotonic() >= deadline


class Counters:
    """Thread-safe named counts of refused requests (``deadline_dropped``, ``over_token_limit``, ...)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = collections.Counter()

    def add(self, name: str, n: int = 1):
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self._counts)


COUNTERS = Counters()


def check(deadline, where: str):
    """Raises DEADLINE_EXCEEDED (and counts it) when ``deadline`` has passed."""
    if expired(deadline):
        COUNTERS.add("deadline_dropped")
        logging.warning("Dropped a request whose deadline passed %s", where)
        raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, EXPIRED_MESSAGE)
