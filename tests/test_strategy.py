"""Strategy selection: logical CPU replicas, TF_CONFIG parsing, and a real 2-worker MultiWorkerMirroredStrategy run."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from nli_app.train import strategy as strategy_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cpu_replicas_and_default_strategy():
    two = strategy_lib.make_strategy(num_cpu_replicas=2)
    assert isinstance(two, tf.distribute.MirroredStrategy) and two.num_replicas_in_sync == 2
    assert sorted(two.extended.worker_devices) == ["/job:localhost/replica:0/task:0/device:CPU:0",
                                                   "/job:localhost/replica:0/task:0/device:CPU:1"]
    assert strategy_lib.make_strategy(num_cpu_replicas=2) is two  # one strategy per device set and process
    assert strategy_lib.make_strategy(num_cpu_replicas=0).num_replicas_in_sync == 1  # no GPU here
    assert strategy_lib.is_chief(two) and strategy_lib.task_suffix(two) == ""


def test_configure_cpu_replicas_is_a_no_op_when_enough_and_fails_clearly_when_too_late():
    tf.config.list_logical_devices("CPU")  # make sure the runtime is initialised (as after any op)
    strategy_lib.configure_cpu_replicas(2)
    strategy_lib.configure_cpu_replicas(1)
    with pytest.raises(RuntimeError, match="already initialised with 2"):
        strategy_lib.configure_cpu_replicas(3)
    with pytest.raises(ValueError, match=">= 1"):
        strategy_lib.configure_cpu_replicas(0)


def test_num_workers_counts_workers_and_chief():
    assert strategy_lib.num_workers("") == 0
    assert strategy_lib.num_workers({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}) == 1
    config = {"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 1}}
    assert strategy_lib.num_workers(json.dumps(config)) == 3
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        strategy_lib.num_workers("{cluster")


def test_single_worker_tf_config_stays_local(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:1"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert isinstance(strategy_lib.make_strategy(num_cpu_replicas=2), tf.distribute.MirroredStrategy)


_WORKER = """
import os, sys
sys.path.insert(0, {root!r})
sys.path.insert(0, {tests!r})
import numpy as np
import tensorflow as tf
from nli_app.train.strategy import make_strategy
strategy = make_strategy()
assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), strategy
assert strategy.num_replicas_in_sync == 2
from test_trainer import fit, weights
trainer, history = fit(2, model_dir={model_dir!r}, checkpoint_every_steps=3)
np.savez({out!r}, *weights(trainer), loss=np.array(history["loss"]))
"""


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_on_loopback_equal_two_local_replicas(tmp_path):
    """TF_CONFIG with two workers -> MultiWorkerMirroredStrategy; the custom loop runs there (model.fit does not)
    and, with each worker holding half of every global batch, ends where 2 local replicas end."""
    from test_trainer import fit, weights
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
                   TF_CONFIG=json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        script = _WORKER.format(root=ROOT, tests=os.path.join(ROOT, "tests"), model_dir=str(tmp_path / "run"),
                                out=str(tmp_path / f"worker{index}.npz"))
        processes.append(subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE))
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()[-3000:]
    local, local_history = fit(2)
    for index in range(2):
        result = np.load(tmp_path / f"worker{index}.npz")
        for i, expected in enumerate(weights(local)):
            np.testing.assert_allclose(result[f"arr_{i}"], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result["loss"], local_history["loss"], rtol=1e-5)
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-8")
    assert not os.listdir(tmp_path / "run" / "tmp_checkpoints")  # the non-chief worker's scratch copies are gone
