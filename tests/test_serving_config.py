"""Config files in TF Serving's text formats, and flag combinations."""
import pytest

from serving import config

MODEL_CONFIG = """
model_config_list {
  config {
    name: "esim"
    base_path: "/models/esim"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config {
    name: "him"
    base_path: "/models/him"
    model_version_policy { latest { num_versions: 2 } }
  }
}
"""


def test_model_server_config_round_trip():
    parsed = config.parse_model_server_config(MODEL_CONFIG)
    esim, him = parsed.model_config_list.config
    assert (esim.name, esim.base_path) == ("esim", "/models/esim")
    assert list(esim.model_version_policy.specific.versions) == [1, 2]
    assert dict(esim.version_labels) == {"stable": 1, "canary": 2}
    assert him.model_version_policy.latest.num_versions == 2


@pytest.mark.parametrize("text, message", [
    ('model_config_list { config { name: "a" base_path: "/a" }\n  bogus: 1 }', "models.config:2"),
    ('model_config_list { config { base_path: "/a" } }', "missing name"),
    ('model_config_list { config { name: "a" } }', "missing base_path"),
    ('model_config_list { config { name: "a" base_path: "/a" } config { name: "a" base_path: "/b" } }',
     "duplicate model name 'a'"),
    ('model_config_list { config { name: "a" base_path: "/a" model_platform: "pytorch" } }',
     "unsupported model_platform"),
    ('model_config_list { config { name: "a" base_path: "/a" version_labels { key: "x" value: 0 } } }',
     "label 'x' points at invalid version 0"),
    ("", "expected a model_config_list"),
])
def test_model_server_config_errors_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        config.parse_model_server_config(text, "models.config")


def test_batching_parameters_file():
    params = config.parse_batching_parameters("""
        max_batch_size { value: 16 }
        batch_timeout_micros { value: 2000 }
        max_enqueued_batches { value: 7 }
        num_batch_threads { value: 3 }
        allowed_batch_sizes: 4
        allowed_batch_sizes: 16
    """)
    assert params == config.BatchingParameters(max_batch_size=16, batch_timeout_micros=2000, max_enqueued_batches=7,
                                               num_batch_threads=3, allowed_batch_sizes=(4, 16))
    assert config.parse_batching_parameters("").max_batch_size == 1000  # TF Serving's default


@pytest.mark.parametrize("text, message", [
    ("max_batch_size { value: 8 }\nallowed_batch_sizes: 4", r"batching\.config: final entry .* must equal"),
    ("max_batch_size { value: 8 }\nallowed_batch_sizes: 8\nallowed_batch_sizes: 4", "increasing"),
    ("max_batch_size { value: 0 }", "max_batch_size must be positive"),
    ("max_batch_size { value: 8 }\n\nunknown_field: 1", r"batching\.config:3: .*unknown_field"),
])
def test_batching_parameters_errors(text, message):
    with pytest.raises(ValueError, match=message):
        config.parse_batching_parameters(text, "batching.config")


def test_options_from_flags(tmp_path):
    options = config.options_from_flags(model_name="esim", model_base_path="/m/esim")
    (model,) = options.model_config.model_config_list.config
    assert (model.name, model.base_path, model.model_version_policy.latest.num_versions) == ("esim", "/m/esim", 1)
    assert (options.port, options.rest_api_port, options.batching) == (8500, 8501, None)
    assert config.options_from_flags(model_base_path="/m", enable_batching=True).batching == \
        config.BatchingParameters()
    path = tmp_path / "models.config"
    path.write_text(MODEL_CONFIG)
    options = config.options_from_flags(model_config_file=str(path))
    assert [c.name for c in options.model_config.model_config_list.config] == ["esim", "him"]


@pytest.mark.parametrize("kwargs, message", [
    ({}, "either --model_config_file or --model_base_path"),
    ({"model_base_path": "/m", "model_config_file": "/c"}, "not both"),
    ({"model_base_path": "/m", "batching_parameters_file": "/b"}, "needs --enable_batching"),
    ({"model_base_path": "/m", "grpc_max_message_size": 0}, "grpc_max_message_size must be positive"),
    ({"model_base_path": "/m", "tensorflow_intra_op_parallelism": -1}, "--tensorflow_intra_op_parallelism must be"),
    ({"model_base_path": "/m", "tensorflow_inter_op_parallelism": -2}, "--tensorflow_inter_op_parallelism must be"),
])
def test_bad_flag_combinations(kwargs, message):
    with pytest.raises(ValueError, match=message):
        config.options_from_flags(**kwargs)


def test_tensorflow_threads_are_refused_once_tensorflow_runs():
    """In this process TensorFlow has run ops (the suite's logical devices), so a thread count it does not already
    have is refused by name; 0 (TensorFlow's choice) and the count it has are fine. A fresh server process applies
    them (tests/test_serving_e2e.py)."""
    import tensorflow as tf
    from nli_app import threads
    tf.constant(1.0) + 1.0
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    threads.set_tensorflow_threads(0, 0)
    threads.set_tensorflow_threads(intra, 0)
    with pytest.raises(ValueError, match=r"--tensorflow_intra_op_parallelism=\d+: TensorFlow has already started"):
        threads.set_tensorflow_threads(intra + 3, 0)
    with pytest.raises(ValueError, match="--tensorflow_inter_op_parallelism=7: TensorFlow has already started"):
        threads.set_tensorflow_threads(0, 7)
