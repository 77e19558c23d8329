"""Serving errors: a canonical status code plus TF Serving's message text, and the REST mapping of those codes.

Every failure a request can meet is raised as :class:`ServingError`; the gRPC layer aborts with ``(code, message)``
and the REST layer answers ``{"error": message}`` with the HTTP status TF Serving uses for that code
(``tensorflow_serving/util/net_http`` ``ToHTTPStatusCode``).
"""
import grpc

_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """A request failure with a canonical (gRPC) status code and a message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return http_status(self.code)

    def __repr__(self):
        return f"ServingError({self.code.name}, {self.message!r})"


def http_status(code: grpc.StatusCode) -> int:
    """The HTTP status TF Serving's REST API answers for a canonical code."""
    return _HTTP_STATUS[code]


def code_from_number(number: int) -> grpc.StatusCode:
    """The canonical code for its number (as in ``tf.errors.OpError.error_code`` or ``StatusProto.error_code``)."""
    return _BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


def from_exception(error: BaseException) -> ServingError:
    """Wraps a TensorFlow op error (keeping its code) or any other exception (as INTERNAL) into a ServingError."""
    if isinstance(error, ServingError):
        return error
    import tensorflow as tf
    if isinstance(error, tf.errors.OpError):
        return ServingError(code_from_number(error.error_code), error.message)
    return ServingError(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")
