"""Choosing the ``tf.distribute`` strategy the trainer runs under.

* ``TF_CONFIG`` naming more than one worker (workers + chief)  -> ``MultiWorkerMirroredStrategy``
  (one process per machine; ``model.fit`` does not work there, which is why the trainer has its own loop);
* ``num_cpu_replicas = N > 0``                                  -> ``MirroredStrategy`` over N logical CPU devices
  (real data-parallel replicas on a laptop or in tests; see :func:`configure_cpu_replicas`);
* otherwise                                                     -> ``MirroredStrategy`` over all local GPUs, or the CPU.
"""
import json
import os

import tensorflow as tf
from absl import logging


def configure_cpu_replicas(n):
    """Splits the first physical CPU into ``n`` logical devices so ``MirroredStrategy`` can run ``n`` replicas.

    TensorFlow fixes its logical devices when the runtime starts, so this must run before any op. It is a no-op
    when the CPU already has ``n`` or more logical devices, and raises ``RuntimeError`` when TensorFlow already
    started with fewer.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"num_cpu_replicas must be >= 1, got {n}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu)
    if configured is not None and len(configured) >= n:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError as error:
        have = len(tf.config.list_logical_devices("CPU"))
        if have >= n:
            return
        raise RuntimeError(
            f"cannot split the CPU into {n} logical devices: TensorFlow is already initialised with {have}; "
            f"call configure_cpu_replicas({n}) (or make_strategy(num_cpu_replicas={n})) before running any "
            "TensorFlow op") from error


def num_workers(tf_config=None):
    """Number of worker tasks (``worker`` + ``chief``) in a ``TF_CONFIG`` (a JSON string, a dict, or the env)."""
    if tf_config is None:
        tf_config = os.environ.get("TF_CONFIG", "")
    if isinstance(tf_config, str):
        if not tf_config.strip():
            return 0
        try:
            tf_config = json.loads(tf_config)
        except json.JSONDecodeError as error:
            raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from error
    cluster = tf_config.get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


_STRATEGIES = {}


def make_strategy(num_cpu_replicas=0):
    """Returns the strategy for this process (see the module docstring for the rule).

    The same arguments return the same strategy object: separate strategies over the same devices would reuse
    collective-op keys and abort each other's all-reduces. CPU replicas reduce through one device (no collective
    ops), GPUs use MirroredStrategy's default (NCCL where available).
    """
    workers = num_workers()
    key = ("multi_worker", workers) if workers > 1 else ("local", int(num_cpu_replicas or 0))
    if key not in _STRATEGIES:
        _STRATEGIES[key] = _new_strategy(workers, int(num_cpu_replicas or 0))
    return _STRATEGIES[key]


def _new_strategy(workers, num_cpu_replicas):
    if workers > 1:
        logging.info("TF_CONFIG names %d workers: MultiWorkerMirroredStrategy", workers)
        return tf.distribute.MultiWorkerMirroredStrategy()
    if num_cpu_replicas > 0:
        configure_cpu_replicas(num_cpu_replicas)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")[:num_cpu_replicas]]
        logging.info("MirroredStrategy over %d logical CPU devices", len(devices))
        return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if gpus:
        logging.info("MirroredStrategy over %s", gpus)
        return tf.distribute.MirroredStrategy(gpus)
    cpu = tf.config.list_logical_devices("CPU")[0].name
    logging.info("MirroredStrategy over %s", cpu)
    return tf.distribute.MirroredStrategy([cpu], cross_device_ops=tf.distribute.ReductionToOneDevice())


def is_chief(strategy):
    """True for the one task that writes checkpoints and summaries (always true outside multi-worker runs)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0
                                    and "chief" not in resolver.cluster_spec().as_dict())


def task_suffix(strategy):
    """``""`` on the chief, ``"worker_<id>"`` elsewhere (non-chief workers write to scratch copies)."""
    if is_chief(strategy):
        return ""
    resolver = strategy.cluster_resolver
    return f"{resolver.task_type}_{resolver.task_id}"
