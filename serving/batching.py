"""Request batching: concurrent requests for one signature are merged into one call of the model.

Semantics of TF Serving's shared batch scheduler (``--enable_batching``), one scheduler for every model:

* a task (one request of ``n`` rows) carries a key (model version, signature and input layout: names, dtypes,
  inner shapes); it joins the open batch of its key if it fits in ``max_batch_size``, else that batch is closed
  and a new one opened;
* a batch is processed when it is full, or when ``batch_timeout_micros`` have passed since it was opened and one
  of the ``num_batch_threads`` threads is free (timeout 0: as soon as a thread is free; batches then grow while
  every thread is busy, which is where the throughput gain comes from);
* more than ``max_enqueued_batches`` waiting batches -> UNAVAILABLE (counted as ``batch_queue_full``), a task
  larger than ``max_batch_size`` -> INVALID_ARGUMENT (TF Serving's messages);
* with ``allowed_batch_sizes`` a merged batch is padded (copies of its first row) up to the next allowed size and
  the padding rows are dropped from the outputs.

Beyond TF Serving:

* length buckets: the key also holds ``length.bit_length()`` of the task's longest string (its byte length, as
  computed by the token-limit check), so a batch only merges strings within 2x of each other's length and one long
  pair never pads a whole batch of short ones to its length;
* deadlines: a task whose deadline passes while it waits is dropped from its batch before the model runs (answered
  DEADLINE_EXCEEDED and counted in ``deadlines.COUNTERS``); its caller stops waiting at the deadline;
* fairness: batches run in the order they were opened (first closed-or-timed-out in that order), whatever their
  bucket, so no bucket or request can starve the others; the token limits bound the work of each one.
"""
import threading
import time

import grpc
import numpy as np

from serving import deadlines
from serving.errors import ServingError


class _Task:
    __slots__ = ("inputs", "size", "deadline", "abandoned", "done", "outputs", "error")

    def __init__(self, inputs, size, deadline):
        self.inputs, self.size, self.deadline = inputs, size, deadline
        self.abandoned = False
        self.done = threading.Event()
        self.outputs = self.error = None


class _Batch:
    __slots__ = ("key", "process", "tasks", "size", "opened", "closed")

    def __init__(self, key, process):
        self.key, self.process, self.tasks, self.size = key, process, [], 0
        self.opened = time.monotonic()
        self.closed = False


def padded_size(size: int, allowed_batch_sizes) -> int:
    """The smallest allowed batch size >= ``size`` (``size`` itself when no sizes are given)."""
    for allowed in allowed_batch_sizes:
        if allowed >= size:
            return allowed
    return size


def input_layout(inputs: dict) -> tuple:
    """What tasks must share to be concatenated: input names, dtypes and shapes after the batch dimension."""
    return tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items()))


class Batcher:
    """Merges concurrent :meth:`submit` calls with equal keys into calls of their ``process(inputs) -> outputs``."""

    def __init__(self, params):
        self.params = params
        self._timeout = params.batch_timeout_micros / 1e6
        self._cond = threading.Condition()
        self._queue = []          # batches in the order they were opened
        self._open = {}           # key -> the open batch of that key
        self._stopped = False
        self._threads = [threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
                         for i in range(params.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, key, process, inputs: dict, deadline=None, length: int = 0) -> dict:
        """Runs ``inputs`` (dict of arrays sharing dimension 0) in a batch; blocks until its rows are done, or
        until ``deadline`` (monotonic seconds) passes. ``length``: the longest string's size (the length bucket)."""
        size = next(iter(inputs.values())).shape[0]
        if size > self.params.max_batch_size:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"Task size {size} is larger than maximum input batch size "
                               f"{self.params.max_batch_size}")
        task = _Task(inputs, size, deadline)
        key = (key, input_layout(inputs), int(length).bit_length())
        with self._cond:
            if self._stopped:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "The batch scheduler is shutting down")
            batch = self._open.get(key)
            if batch is None or batch.size + size > self.params.max_batch_size:
                if batch is not None:
                    self._close(batch)
                if len(self._queue) >= self.params.max_enqueued_batches:
                    deadlines.COUNTERS.add("batch_queue_full")
                    raise ServingError(grpc.StatusCode.UNAVAILABLE,
                                       "The batch scheduling queue to which this task was submitted is full")
                batch = self._open[key] = _Batch(key, process)
                self._queue.append(batch)
            batch.tasks.append(task)
            batch.size += size
            if batch.size == self.params.max_batch_size:
                self._close(batch)
            self._cond.notify()
        if not task.done.wait(deadlines.remaining(deadline)):
            task.abandoned = True  # the batch runner skips it if it has not started yet
            deadlines.COUNTERS.add("deadline_dropped")
            raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, deadlines.EXPIRED_MESSAGE)
        if task.error is not None:
            raise task.error
        return task.outputs

    def queue_depth(self) -> tuple:
        """(batches waiting for a thread, open ones included; requests in them) (the metrics' queue depth)."""
        with self._cond:
            return len(self._queue), sum(len(batch.tasks) for batch in self._queue)

    def _close(self, batch):
        batch.closed = True
        if self._open.get(batch.key) is batch:
            del self._open[batch.key]

    def _next_batch(self):
        with self._cond:
            while True:
                now = time.monotonic()
                wait = None
                for index, batch in enumerate(self._queue):
                    remaining = batch.opened + self._timeout - now
                    if batch.closed or remaining <= 0 or self._stopped:
                        self._close(batch)
                        return self._queue.pop(index)
                    wait = remaining if wait is None else min(wait, remaining)
                if self._stopped:
                    return None
                self._cond.wait(wait)

    def _work(self):
        while (batch := self._next_batch()) is not None:
            self._run(batch)

    def _run(self, batch):
        tasks = []
        for task in batch.tasks:
            if task.abandoned:
                task.done.set()
            elif deadlines.expired(task.deadline):
                deadlines.COUNTERS.add("deadline_dropped")
                task.error = ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, deadlines.EXPIRED_MESSAGE)
                task.done.set()
            else:
                tasks.append(task)
        if not tasks:
            return
        size = sum(t.size for t in tasks)
        try:
            merged = {name: np.concatenate([t.inputs[name] for t in tasks]) for name in tasks[0].inputs}
            for task in tasks:
                task.inputs = None  # the merged copy is all the batch needs
            target = padded_size(size, self.params.allowed_batch_sizes)
            if target > size:
                merged = {n: np.concatenate([v, np.repeat(v[:1], target - size, axis=0)])
                          for n, v in merged.items()}
            outputs = batch.process(merged)
            del merged
            start = 0
            for task in tasks:
                task.outputs = {n: v[start:start + task.size] for n, v in outputs.items()}
                start += task.size
        except Exception as error:  # noqa: BLE001 - the error belongs to every task of the batch
            for task in tasks:
                task.error = error
        for task in tasks:
            task.done.set()

    def stop(self):
        """Processes what is queued, then stops the threads."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()
