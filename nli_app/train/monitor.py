"""The base of the callbacks that watch an epoch log with patience (early stopping, reduce-on-plateau, the
large-batch study's stop on a training-loss plateau): did the value improve, how many epochs since it last did,
and an optional copy of the best weights to go back to.

Their state lives in ``tf.Variable``\\ s returned by ``state_variables()``, which the trainer checkpoints, so a
resumed run keeps its patience count and best weights.
"""
import keras
import numpy as np
import tensorflow as tf


class Monitor:
    """Tracks the best value of ``logs[name]`` and the number of epochs since it last improved.

    ``mode`` "max", "min", or "auto" ("max" for names containing "acc", else "min"); an improvement must beat the
    best by more than ``min_delta``.
    """

    def __init__(self, name, mode="auto", min_delta=0.0):
        if mode == "auto":
            mode = "max" if "acc" in name else "min"
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max', 'min' or 'auto', got {mode!r}")
        self.name, self.mode, self.min_delta = name, mode, abs(min_delta)
        self.best = tf.Variable(np.nan, dtype=tf.float64, trainable=False, name="best")
        self.wait = tf.Variable(0, dtype=tf.int64, trainable=False, name="wait")

    def value(self, logs):
        if not logs or self.name not in logs:
            raise ValueError(f"monitored metric {self.name!r} is not in the epoch logs {sorted(logs or {})}; "
                             "pass validation_data for val_* metrics")
        return float(logs[self.name])

    def update(self, value):
        """Records ``value``; True when it improves on the best so far (then the wait count is reset)."""
        best = float(self.best.numpy())
        delta = value - best if self.mode == "max" else best - value
        if np.isnan(best) or delta > self.min_delta:
            self.best.assign(value)
            self.wait.assign(0)
            return True
        self.wait.assign_add(1)
        return False

    def state_variables(self):
        return {"best": self.best, "wait": self.wait}


class WeightSnapshot:
    """A copy of a model's variables (kept in ``tf.Variable``\\ s so checkpoints carry it)."""

    def __init__(self):
        self.copies = None
        self.taken = tf.Variable(False, trainable=False, name="taken")

    def bind(self, model):
        self._model = model
        if self.copies is None:
            self.copies = [tf.Variable(keras.ops.convert_to_numpy(v.value), trainable=False)
                           for v in model.variables]

    def take(self):
        for copy, v in zip(self.copies, self._model.variables):
            copy.assign(keras.ops.convert_to_numpy(v.value))
        self.taken.assign(True)

    def restore(self):
        """Puts the snapshot back into the model; False when none was taken."""
        if not bool(self.taken.numpy()):
            return False
        for copy, v in zip(self.copies, self._model.variables):
            v.assign(copy.numpy())
        return True

    def state_variables(self):
        return {"taken": self.taken, "copies": self.copies}


class PatienceCallback(keras.callbacks.Callback):
    """Calls ``on_plateau(epoch)`` once ``monitor`` has not improved for ``patience`` consecutive epochs.

    Args:
        monitor: the epoch log to watch.
        patience: epochs without improvement before ``on_plateau``.
        mode, min_delta: as in :class:`Monitor`.
        keep_best_weights: keep a :class:`WeightSnapshot` of the best epoch's weights in ``self.snapshot``.
    """

    def __init__(self, monitor, patience, mode="auto", min_delta=0.0, keep_best_weights=False):
        super().__init__()
        if patience < 1:
            raise ValueError(f"patience must be >= 1 epoch, got {patience}")
        self.monitor = Monitor(monitor, mode, min_delta)
        self.patience = patience
        self.snapshot = WeightSnapshot() if keep_best_weights else None

    def set_model(self, model):
        super().set_model(model)
        if self.snapshot:
            self.snapshot.bind(model)

    def state_variables(self):
        state = {"monitor": self.monitor.state_variables()}
        if self.snapshot:
            state["snapshot"] = self.snapshot.state_variables()
        return state

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor.update(self.monitor.value(logs)):
            if self.snapshot:
                self.snapshot.take()
        elif int(self.monitor.wait.numpy()) >= self.patience:
            self.on_plateau(epoch)

    def on_plateau(self, epoch):
        """What to do when patience runs out (subclasses)."""
        raise NotImplementedError
