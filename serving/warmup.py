"""Warm-up requests, as TF Serving replays them: ``VERSION/assets.extra/tf_serving_warmup_requests``.

The file is a TFRecord of ``tensorflow.serving.PredictionLog`` protos, TF Serving's format (a file one writes, the
other reads). When a version has one, the server replays every record on that version before it becomes AVAILABLE
(``predict_log.request`` as Predict, ``classify_log.request`` as Classify; the requests' model name and version
are ignored, as in TF Serving), so the first client request does not pay for the runtime's first-call work.
As in TF Serving, a version whose warm-up fails does not load (status END naming the file and the record; the
previous version keeps serving): a record that fails, a log kind this server does not serve (regress,
multi_inference, session_run), more than 1000 records (TF Serving's limit) or a file that is not a TFRecord of
``PredictionLog``. ``export_nli`` writes one for every export (nli_app/nli/export.py).
"""
import os
import time

import grpc
import tensorflow as tf
from google.protobuf import message
from tensorflow_serving.apis import prediction_log_pb2

from serving import errors
from serving import limits as limits_lib
from serving import predict
from serving.errors import ServingError

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_RECORDS = 1000


def warmup_path(export_dir: str) -> str:
    return os.path.join(export_dir, WARMUP_FILE)


def write_logs(export_dir: str, logs) -> str:
    """Writes ``logs`` (``PredictionLog`` protos) as the warm-up file of ``export_dir``; returns its path."""
    path = warmup_path(export_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read_logs(export_dir: str) -> list:
    """The warm-up ``PredictionLog``s of ``export_dir`` ([] without a file); INVALID_ARGUMENT for a bad file."""
    path = warmup_path(export_dir)
    if not os.path.exists(path):
        return []
    logs = []
    try:
        for index, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
            if index == MAX_RECORDS:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"{path}: more than {MAX_RECORDS} warm-up records (TF Serving's limit)")
            log = prediction_log_pb2.PredictionLog()
            log.ParseFromString(record)
            logs.append(log)
    except (tf.errors.OpError, message.DecodeError) as error:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"{path}: not a TFRecord file of PredictionLog protos (record {len(logs)}): "
                           f"{getattr(error, 'message', error)}") from None
    return logs


def replay(servable, logs, path: str = WARMUP_FILE):
    """Runs every log's request on ``servable`` (no token limits, no batcher); the first failure is raised with
    its code, naming ``path`` and the record."""
    for index, log in enumerate(logs):
        kind = log.WhichOneof("log_type")
        try:
            if kind == "predict_log":
                predict.predict_with(servable, log.predict_log.request, limits=limits_lib.NO_LIMITS)
            elif kind == "classify_log":
                predict.classify_with(servable, log.classify_log.request, limits=limits_lib.NO_LIMITS)
            else:
                raise ServingError(grpc.StatusCode.UNIMPLEMENTED,
                                   f"{kind or 'an empty PredictionLog'} is not served by nli_model_server")
        except Exception as error:  # noqa: BLE001 - any failure fails the version's load, with the record named
            failure = errors.from_exception(error)
            raise ServingError(failure.code, f"warm-up record {index} of {path} failed: {failure.message}") from None


def warm_up(servable, metrics=None) -> int:
    """Reads and replays the warm-up file of ``servable.path`` (recorded in ``metrics``' ``model_warmup_latency``
    when there is one); returns the number of records replayed."""
    start = time.perf_counter()
    status = "OK"
    try:
        logs = read_logs(servable.path)
        if not logs:
            return 0
        replay(servable, logs, warmup_path(servable.path))
        return len(logs)
    except ServingError as error:
        status = error.code.name
        raise
    finally:
        if metrics is not None and os.path.exists(warmup_path(servable.path)):
            metrics.observe_warmup(servable.path, status, time.perf_counter() - start)
