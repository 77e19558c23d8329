"""Test-session set-up shared by every test module.

TensorFlow fixes its logical devices the first time it touches the CPU, so the split of the one physical CPU into
two logical devices (what lets ``MirroredStrategy`` run two real replicas on a laptop or CI) must happen here,
before any test imports a model.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from nli_app import cli  # noqa: E402

NUM_TEST_CPU_REPLICAS = 2

with cli.native_startup_logs_dropped():  # as the binaries do: no start-up or cuInit lines in the test log
    import tensorflow as tf  # noqa: E402
    _cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.list_physical_devices()
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(NUM_TEST_CPU_REPLICAS)])


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Every test starts from a clean Keras name scope and global policy."""
    import keras
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32")
    yield
