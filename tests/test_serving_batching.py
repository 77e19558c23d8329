"""The request batcher: merging, padding, limits and error propagation, against a numpy 'model'."""
import threading
import time

import grpc
import numpy as np
import pytest

from serving.batching import Batcher, padded_size
from serving.config import BatchingParameters
from serving.errors import ServingError


class RecordingModel:
    """y = 2x + row sum, recording the batch sizes it was called with."""

    def __init__(self, delay=0.0):
        self.sizes = []
        self.delay = delay

    def __call__(self, inputs):
        self.sizes.append(len(inputs["x"]))
        time.sleep(self.delay)
        return {"y": 2 * inputs["x"] + inputs["x"].sum(axis=1, keepdims=True)}


def submit_concurrently(batcher, model, arrays):
    results, errors = [None] * len(arrays), [None] * len(arrays)

    def call(i):
        try:
            results[i] = batcher.submit("m", model, {"x": arrays[i]})["y"]
        except ServingError as error:
            errors[i] = error
    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(arrays))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def expected(x):
    return 2 * x + x.sum(axis=1, keepdims=True)


class Gate:
    """Holds the batcher's only thread in a model call until ``open()``, so that requests submitted meanwhile are
    all queued when it is released: which of them merge is then fixed, whatever the machine's load."""

    def __init__(self, batcher):
        self.entered, self.released = threading.Event(), threading.Event()
        self.batcher = batcher
        self.thread = threading.Thread(target=batcher.submit, args=("gate", self._hold, {"x": np.zeros((1, 2))}))
        self.thread.start()
        assert self.entered.wait(30), "the batch thread never took the gate request"

    def _hold(self, inputs):
        self.entered.set()
        self.released.wait(30)
        return {"y": inputs["x"]}

    def open(self, queued_requests):
        """Waits until ``queued_requests`` requests wait in the batcher, then lets its thread go on."""
        for _ in range(3000):
            if self.batcher.queue_depth()[1] >= queued_requests:
                break
            time.sleep(0.01)
        assert self.batcher.queue_depth()[1] == queued_requests, self.batcher.queue_depth()
        self.released.set()
        self.thread.join()


def submit_behind_gate(batcher, requests):
    """Runs ``requests`` ([(key, model, inputs, length)]) in threads while a Gate holds the batch thread; returns
    the outputs (or ServingErrors) in order."""
    gate = Gate(batcher)
    out = [None] * len(requests)

    def call(i, key, model, inputs, length):
        try:
            out[i] = batcher.submit(key, model, inputs, length=length)["y"]
        except ServingError as error:
            out[i] = error
    threads = [threading.Thread(target=call, args=(i, *r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    gate.open(len(requests))
    for thread in threads:
        thread.join()
    batcher.stop()
    return out


def test_padded_size():
    assert [padded_size(n, (2, 4, 8)) for n in (1, 2, 3, 5, 8)] == [2, 2, 4, 8, 8]
    assert padded_size(3, ()) == 3


def test_concurrent_requests_are_merged_and_split_back():
    model = RecordingModel()
    batcher = Batcher(BatchingParameters(max_batch_size=64, batch_timeout_micros=0, num_batch_threads=1))
    arrays = [np.full((i % 3 + 1, 2), i, np.float32) for i in range(12)]
    results = submit_behind_gate(batcher, [("m", model, {"x": x}, 0) for x in arrays])
    for x, y in zip(arrays, results):
        np.testing.assert_allclose(y, expected(x))
    assert model.sizes == [sum(len(x) for x in arrays)]  # the 12 queued requests ran as one batch of 24 rows


def test_padding_to_allowed_batch_sizes_is_dropped_from_outputs():
    model = RecordingModel()
    batcher = Batcher(BatchingParameters(max_batch_size=8, batch_timeout_micros=0, num_batch_threads=1,
                                         allowed_batch_sizes=(4, 8)))
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_allclose(batcher.submit("m", model, {"x": x})["y"], expected(x))
    batcher.stop()
    assert model.sizes == [4]


def test_full_batches_close_at_max_batch_size():
    model = RecordingModel()
    batcher = Batcher(BatchingParameters(max_batch_size=4, batch_timeout_micros=300_000, num_batch_threads=2))
    arrays = [np.ones((1, 2), np.float32) * i for i in range(8)]
    results, errors = submit_concurrently(batcher, model, arrays)
    batcher.stop()
    assert errors == [None] * 8 and max(model.sizes) <= 4 and sum(model.sizes) == 8


def test_task_larger_than_max_batch_size_is_invalid_argument():
    batcher = Batcher(BatchingParameters(max_batch_size=4, num_batch_threads=1))
    with pytest.raises(ServingError) as info:
        batcher.submit("m", RecordingModel(), {"x": np.zeros((5, 2), np.float32)})
    batcher.stop()
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.message == "Task size 5 is larger than maximum input batch size 4"


def test_full_queue_is_unavailable():
    """While the one batch thread is busy and the one queue slot taken, further requests are refused at once."""
    release = threading.Event()

    class Blocking(RecordingModel):
        def __call__(self, inputs):
            self.sizes.append(len(inputs["x"]))
            release.wait(30)
            return {"y": expected(inputs["x"])}

    model = Blocking()
    batcher = Batcher(BatchingParameters(max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1))
    x = np.ones((1, 2), np.float32)
    running = threading.Thread(target=batcher.submit, args=("m", model, {"x": x}))
    running.start()
    deadline = time.monotonic() + 30
    while not model.sizes and time.monotonic() < deadline:  # the batch thread has taken the first request
        time.sleep(0.01)
    outcome = {}

    def later():
        outcome["results"], outcome["errors"] = submit_concurrently(batcher, model, [x] * 5)
    rest = threading.Thread(target=later)
    rest.start()
    rest.join(timeout=3)  # the refused ones return at once; the queued one waits for the model
    release.set()
    rest.join()
    running.join()
    batcher.stop()
    rejected = [e for e in outcome["errors"] if e is not None]
    assert rejected and all(e.code == grpc.StatusCode.UNAVAILABLE for e in rejected)
    assert rejected[0].message == "The batch scheduling queue to which this task was submitted is full"
    assert 1 + sum(r is not None for r in outcome["results"]) == len(model.sizes) >= 2


def test_model_error_reaches_every_task_of_the_batch_and_batcher_survives():
    def broken(inputs):
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "bad batch")
    batcher = Batcher(BatchingParameters(max_batch_size=8, batch_timeout_micros=100_000, num_batch_threads=1))
    _, errors = submit_concurrently(batcher, broken, [np.ones((1, 2), np.float32)] * 3)
    assert [e.message for e in errors] == ["bad batch"] * 3
    x = np.ones((2, 2), np.float32)
    np.testing.assert_allclose(batcher.submit("m", RecordingModel(), {"x": x})["y"], expected(x))
    batcher.stop()


def test_different_keys_and_layouts_are_never_mixed():
    seen = []

    def model_for(tag):
        def run(inputs):
            seen.append((tag, inputs["x"].shape))
            return {"y": inputs["x"] * 0 + tag}
        return run
    batcher = Batcher(BatchingParameters(max_batch_size=16, batch_timeout_micros=200_000, num_batch_threads=1))
    out = {}

    def call(tag, width):
        out[(tag, width)] = batcher.submit(tag, model_for(tag), {"x": np.zeros((1, width), np.float32)})["y"]
    threads = [threading.Thread(target=call, args=(t, w)) for t in (1, 2) for w in (2, 3) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.stop()
    assert all(np.all(y == tag) and y.shape == (1, w) for (tag, w), y in out.items())
    assert {(t, s[1]) for t, s in seen} == {(1, 2), (1, 3), (2, 2), (2, 3)}


def test_expired_tasks_are_dropped_from_the_queue_before_the_model_runs():
    from serving import deadlines
    model = RecordingModel(delay=0.4)
    batcher = Batcher(BatchingParameters(max_batch_size=1, num_batch_threads=1))
    before = deadlines.COUNTERS.snapshot().get("deadline_dropped", 0)
    out = {}

    def call(name, deadline):
        try:
            out[name] = batcher.submit("m", model, {"x": np.ones((1, 2), np.float32)}, deadline=deadline)["y"]
        except ServingError as error:
            out[name] = error
    blocker = threading.Thread(target=call, args=("blocker", None))
    blocker.start()
    time.sleep(0.1)  # the only thread now runs the blocker for 0.4 s
    late = threading.Thread(target=call, args=("late", time.monotonic() + 0.1))
    late.start()
    late.join(timeout=1.0)
    assert not late.is_alive(), "the caller must stop waiting at its deadline"
    blocker.join()
    batcher.stop()
    assert out["late"].code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert model.sizes == [1]  # the dropped task never reached the model
    assert deadlines.COUNTERS.snapshot()["deadline_dropped"] == before + 1


def test_length_buckets_keep_long_strings_out_of_short_batches():
    model = RecordingModel()
    batcher = Batcher(BatchingParameters(max_batch_size=64, batch_timeout_micros=0, num_batch_threads=1))
    lengths = [3, 5, 6, 7, 900, 1000]  # buckets 2, 3, 3, 3, 10, 10
    out = submit_behind_gate(batcher, [("m", model, {"x": np.full((1, 2), n, np.float32)}, n) for n in lengths])
    assert sorted(model.sizes) == [1, 2, 3]  # one batch per bucket
    for length, y in zip(lengths, out):
        np.testing.assert_allclose(y, expected(np.full((1, 2), length, np.float32)))


def test_a_lone_long_request_is_not_starved_by_a_stream_of_short_ones():
    """Batches run in the order they were opened, whatever their bucket: a long request queued behind two full
    batches of short ones runs third, before the short batch opened after it."""
    seen = []

    def model(inputs):
        seen.append(int(inputs["x"][0, 0]))
        return {"y": inputs["x"]}
    batcher = Batcher(BatchingParameters(max_batch_size=4, batch_timeout_micros=0, num_batch_threads=1))
    gate = Gate(batcher)
    threads = []

    def submit(tag, length):  # one request, queued before the next one is submitted
        threads.append(threading.Thread(target=batcher.submit, args=("m", model, {"x": np.full((1, 2), tag)}),
                                        kwargs=dict(length=length)))
        threads[-1].start()
        for _ in range(3000):
            if batcher.queue_depth()[1] == len(threads):
                break
            time.sleep(0.01)
    for tag, length, count in ((1, 5, 8), (2, 5000, 1), (3, 5, 4)):
        for _ in range(count):
            submit(tag, length)
    gate.open(len(threads))
    for thread in threads:
        thread.join()
    batcher.stop()
    assert seen == [1, 1, 2, 3]
