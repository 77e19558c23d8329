"""Server configuration: ``ModelServerConfig`` text files, ``BatchingParameters`` files and command-line options.

The files use TF Serving's own text formats, so one file works for ``nli_model_server`` and ``tensorflow_model_server``:

* ``--model_config_file``: a text ``tensorflow.serving.ModelServerConfig`` (``model_config_list { config { name
  base_path model_version_policy version_labels } }``).
* ``--batching_parameters_file``: a text ``tensorflow.serving.BatchingParameters`` (``max_batch_size { value: 32 }``,
  ``batch_timeout_micros``, ``max_enqueued_batches``, ``num_batch_threads``, ``allowed_batch_sizes: 8``). The pip
  package of tensorflow-serving-api does not ship that message, so its schema (the fields we implement, under the
  same names) is declared here from a ``FileDescriptorProto``.
* ``--monitoring_config_file``: a text ``tensorflow.serving.MonitoringConfig`` (``prometheus_config { enable: true
  path: "/monitoring/prometheus/metrics" }``; an empty path means that one, TF Serving's default). The pip package
  does not ship that message either, so it is declared the same way (both fields of ``PrometheusConfig``).
"""
import dataclasses
import os

from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory
from google.protobuf import text_format
from google.protobuf import wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.limits import TokenLimits

INT32_MAX = 2**31 - 1


def _batching_parameters_class():
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    proto = descriptor_pb2.FileDescriptorProto(
        name="nli_app/serving/batching_parameters.proto", package="tensorflow.serving", syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"])
    message = proto.message_type.add(name="BatchingParameters")
    field = descriptor_pb2.FieldDescriptorProto
    for number, name in enumerate(
            ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"), start=1):
        message.field.add(name=name, number=number, label=field.LABEL_OPTIONAL, type=field.TYPE_MESSAGE,
                          type_name=".google.protobuf.Int64Value")
    message.field.add(name="allowed_batch_sizes", number=6, label=field.LABEL_REPEATED, type=field.TYPE_INT64)
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


BatchingParametersProto = _batching_parameters_class()


def _monitoring_config_class():
    pool = descriptor_pool.DescriptorPool()
    proto = descriptor_pb2.FileDescriptorProto(name="nli_app/serving/monitoring_config.proto",
                                               package="tensorflow.serving", syntax="proto3")
    field = descriptor_pb2.FieldDescriptorProto
    prometheus = proto.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, label=field.LABEL_OPTIONAL, type=field.TYPE_BOOL)
    prometheus.field.add(name="path", number=2, label=field.LABEL_OPTIONAL, type=field.TYPE_STRING)
    monitoring = proto.message_type.add(name="MonitoringConfig")
    monitoring.field.add(name="prometheus_config", number=1, label=field.LABEL_OPTIONAL, type=field.TYPE_MESSAGE,
                         type_name=".tensorflow.serving.PrometheusConfig")
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig"))


MonitoringConfigProto = _monitoring_config_class()
DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
RESERVED_PATHS = ("/livez", "/readyz")


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """How requests are merged into batches (defaults: TF Serving's when a field is unset)."""
    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 100
    num_batch_threads: int = os.cpu_count() or 1
    allowed_batch_sizes: tuple = ()

    def __post_init__(self):
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"BatchingParameters.{name} must be positive, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"BatchingParameters.batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}")
        sizes = list(self.allowed_batch_sizes)
        if sizes:
            if any(b <= a for a, b in zip(sizes, sizes[1:])) or sizes[0] < 1:
                raise ValueError(f"allowed_batch_sizes entries must be positive and increasing, got {sizes}")
            if sizes[-1] != self.max_batch_size:
                raise ValueError(f"final entry in allowed_batch_sizes ({sizes[-1]}) must equal max_batch_size "
                                 f"({self.max_batch_size})")


def _parse_text(text, message, source):
    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as error:
        line = error.GetLine()
        where = f"{source}:{line}" if line else source
        raise ValueError(f"{where}: invalid {message.DESCRIPTOR.name}: {error}") from None


def parse_batching_parameters(text: str, source: str = "<batching parameters>") -> BatchingParameters:
    """Parses a text ``BatchingParameters`` (TF Serving's format) into :class:`BatchingParameters`."""
    proto = _parse_text(text, BatchingParametersProto(), source)
    kwargs = {name: getattr(proto, name).value
              for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads")
              if proto.HasField(name)}
    try:
        return BatchingParameters(allowed_batch_sizes=tuple(proto.allowed_batch_sizes), **kwargs)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def read_batching_parameters(path: str) -> BatchingParameters:
    with open(path) as f:
        return parse_batching_parameters(f.read(), path)


def parse_monitoring_config(text: str, source: str = "<monitoring config>") -> str | None:
    """The Prometheus scrape path a text ``MonitoringConfig`` turns on (None: metrics off)."""
    prometheus = _parse_text(text, MonitoringConfigProto(), source).prometheus_config
    if not prometheus.enable:
        return None
    path = prometheus.path or DEFAULT_PROMETHEUS_PATH
    if not path.startswith("/") or "?" in path or path in RESERVED_PATHS or path.startswith("/v1/"):
        raise ValueError(f"{source}: prometheus_config.path must be an absolute URL path other than /v1/..., "
                         f"/livez and /readyz, got {path!r}")
    return path


def read_monitoring_config(path: str) -> str | None:
    with open(path) as f:
        return parse_monitoring_config(f.read(), path)


def validate_model_server_config(config, source="<model config>"):
    """Checks what TF Serving checks before loading: names, base paths, platforms, policies, labels."""
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError(f"{source}: expected a model_config_list")
    seen = set()
    for index, model in enumerate(config.model_config_list.config):
        where = f"{source}: config #{index}"
        if not model.name:
            raise ValueError(f"{where}: missing name")
        if model.name in seen:
            raise ValueError(f"{where}: duplicate model name {model.name!r}")
        seen.add(model.name)
        if not model.base_path:
            raise ValueError(f"{where} ({model.name}): missing base_path")
        if model.model_platform not in ("", "tensorflow"):
            raise ValueError(f"{where} ({model.name}): unsupported model_platform {model.model_platform!r}")
        policy = model.model_version_policy
        if policy.WhichOneof("policy_choice") == "latest" and policy.latest.num_versions < 0:
            raise ValueError(f"{where} ({model.name}): latest.num_versions must be >= 0")
        for label, version in model.version_labels.items():
            if version < 1:
                raise ValueError(f"{where} ({model.name}): label {label!r} points at invalid version {version}")
    return config


def parse_model_server_config(text: str, source: str = "<model config>"):
    """Parses and validates a text ``ModelServerConfig``."""
    config = _parse_text(text, model_server_config_pb2.ModelServerConfig(), source)
    return validate_model_server_config(config, source)


def read_model_server_config(path: str):
    with open(path) as f:
        return parse_model_server_config(f.read(), path)


def single_model_config(model_name: str, model_base_path: str):
    """The config ``--model_name`` / ``--model_base_path`` stand for: one model, latest version."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(name=model_name, base_path=model_base_path,
                                                model_platform="tensorflow")
    model.model_version_policy.latest.num_versions = 1
    return config


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Everything ``nli_model_server`` is told on its command line (flag names and defaults as TF Serving's)."""
    model_config: object  # ModelServerConfig
    port: int = 8500
    rest_api_port: int = 8501
    file_system_poll_wait_seconds: float = 1.0
    batching: BatchingParameters | None = None
    grpc_max_message_size: int = INT32_MAX
    host: str = "0.0.0.0"
    limits: TokenLimits = TokenLimits()
    rest_api_timeout_in_ms: int = 30000
    shutdown_grace_seconds: float = 10.0
    prometheus_path: str | None = None      # from --monitoring_config_file; None: no scrape endpoint
    enable_model_warmup: bool = True
    readiness_drain_seconds: float = 0.0
    tensorflow_intra_op_parallelism: int = 0  # threads of one op; 0: TensorFlow's choice (the cores)
    tensorflow_inter_op_parallelism: int = 0  # ops run at once; 0: TensorFlow's choice


def options_from_flags(*, port=8500, rest_api_port=8501, model_name="default", model_base_path="",
                       model_config_file="", file_system_poll_wait_seconds=1.0, enable_batching=False,
                       batching_parameters_file="", grpc_max_message_size=INT32_MAX, host="0.0.0.0",
                       limits=TokenLimits(), rest_api_timeout_in_ms=30000,
                       shutdown_grace_seconds=10.0, monitoring_config_file="", enable_model_warmup=True,
                       readiness_drain_seconds=0.0, tensorflow_intra_op_parallelism=0,
                       tensorflow_inter_op_parallelism=0) -> ServerOptions:
    """Turns flag values into :class:`ServerOptions`, rejecting the combinations TF Serving rejects."""
    if bool(model_base_path) == bool(model_config_file):
        raise ValueError("Specify either --model_config_file or --model_base_path (with --model_name), not both "
                         "and not neither")
    if model_config_file:
        model_config = read_model_server_config(model_config_file)
    else:
        model_config = single_model_config(model_name, model_base_path)
    if batching_parameters_file and not enable_batching:
        raise ValueError("--batching_parameters_file needs --enable_batching")
    batching = None
    if enable_batching:
        batching = (read_batching_parameters(batching_parameters_file) if batching_parameters_file
                    else BatchingParameters())
    if grpc_max_message_size < 1:
        raise ValueError(f"--grpc_max_message_size must be positive, got {grpc_max_message_size}")
    if rest_api_timeout_in_ms < 1:
        raise ValueError(f"--rest_api_timeout_in_ms must be positive, got {rest_api_timeout_in_ms}")
    prometheus_path = read_monitoring_config(monitoring_config_file) if monitoring_config_file else None
    if prometheus_path and not rest_api_port:
        raise ValueError("--monitoring_config_file turns on Prometheus metrics, which are served on the REST port: "
                         "set --rest_api_port")
    if readiness_drain_seconds < 0:
        raise ValueError(f"--readiness_drain_seconds must be >= 0, got {readiness_drain_seconds}")
    for name, threads in (("tensorflow_intra_op_parallelism", tensorflow_intra_op_parallelism),
                          ("tensorflow_inter_op_parallelism", tensorflow_inter_op_parallelism)):
        if threads < 0:
            raise ValueError(f"--{name} must be >= 0 (0: TensorFlow's choice), got {threads}")
    return ServerOptions(model_config=model_config, port=port, rest_api_port=rest_api_port,
                         file_system_poll_wait_seconds=file_system_poll_wait_seconds, batching=batching,
                         grpc_max_message_size=grpc_max_message_size, host=host, limits=limits,
                         rest_api_timeout_in_ms=rest_api_timeout_in_ms, shutdown_grace_seconds=shutdown_grace_seconds,
                         prometheus_path=prometheus_path, enable_model_warmup=enable_model_warmup,
                         readiness_drain_seconds=readiness_drain_seconds,
                         tensorflow_intra_op_parallelism=tensorflow_intra_op_parallelism,
                         tensorflow_inter_op_parallelism=tensorflow_inter_op_parallelism)
