"""gRPC servicers: TF Serving's ``PredictionService`` and ``ModelService`` over the plain functions of predict.py.

Every RPC is timed and logged; a :class:`ServingError` aborts with its code and message, anything else with
INTERNAL, so no request can take a worker down. ``Regress`` and ``MultiInference`` answer UNIMPLEMENTED.
Predict and Classify carry the client's deadline (``context.time_remaining()``) and the token limits into the
predict path shared with REST, and are counted and timed in the server's metrics (metrics.py).
"""
import time

import grpc
from absl import logging
from tensorflow_serving.apis import model_management_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving import config as config_lib
from serving import deadlines
from serving import errors
from serving import limits as limits_lib
from serving import predict


def _handle(name, model_spec, context, call, metrics=None):
    """Runs ``call``; with ``metrics``, the RPC is counted and timed as API ``name`` (Predict / Classify)."""
    start = time.perf_counter()
    code = grpc.StatusCode.OK
    try:
        return call()
    except Exception as error:  # noqa: BLE001 - every failure becomes a status, never a dead worker
        failure = errors.from_exception(error)
        if failure.code == grpc.StatusCode.INTERNAL:
            logging.exception("gRPC %s failed", name)
        code = failure.code
        context.abort(failure.code, failure.message)
    finally:
        seconds = time.perf_counter() - start
        if metrics is not None:
            metrics.observe_request(model_spec.name, name, "GRPC", code.name, seconds)
        logging.info("grpc %s model=%s code=%s latency_ms=%.2f", name, model_spec.name, code.name, seconds * 1e3)


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager, batcher=None, limits=limits_lib.TokenLimits(), metrics=None):
        self._manager = manager
        self._batcher = batcher
        self._limits = limits
        self._metrics = metrics

    def Predict(self, request, context):
        deadline = deadlines.from_timeout(context.time_remaining())
        return _handle("Predict", request.model_spec, context,
                       lambda: predict.predict(self._manager, request, self._batcher, self._limits, deadline),
                       self._metrics)

    def Classify(self, request, context):
        deadline = deadlines.from_timeout(context.time_remaining())
        return _handle("Classify", request.model_spec, context,
                       lambda: predict.classify(self._manager, request, self._batcher, self._limits, deadline),
                       self._metrics)

    def GetModelMetadata(self, request, context):
        return _handle("GetModelMetadata", request.model_spec, context,
                       lambda: predict.get_model_metadata(self._manager, request))

    def Regress(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Regress is not implemented by nli_model_server")

    def MultiInference(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not implemented by nli_model_server")


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager):
        self._manager = manager

    def GetModelStatus(self, request, context):
        return _handle("GetModelStatus", request.model_spec, context,
                       lambda: predict.get_model_status(self._manager, request))

    def HandleReloadConfigRequest(self, request, context):
        """Replaces the model list; the status in the response carries a bad config's error."""
        response = model_management_pb2.ReloadConfigResponse()
        try:
            self._manager.reload_config(config_lib.validate_model_server_config(request.config, "ReloadConfigRequest"))
        except ValueError as error:
            response.status.error_code = grpc.StatusCode.INVALID_ARGUMENT.value[0]
            response.status.error_message = str(error)
        logging.info("grpc HandleReloadConfigRequest code=%d", response.status.error_code)
        return response
