"""The checkpoints of a training run: what ``model_dir/checkpoints`` holds and when it is written.

A checkpoint holds the model's variables (Keras seed-generator states included, so dropout masks continue), the
optimizer's variables (slots, iterations, learning rate), the running training metrics, the trainer's step / epoch /
step-in-epoch counters and the state of every callback that exposes ``state_variables()`` (early stopping's
patience, ...). Together with an epoch order that is a function of ``(seed, epoch)`` this is what lets a run killed
at any step resume to the same weights as an uninterrupted one.

Under ``MultiWorkerMirroredStrategy`` every worker must take part in a save; only the chief's copy is kept, the
others write to scratch directories that are deleted at once.
"""
import os
import shutil

import tensorflow as tf
from absl import logging

from nli_app.train import strategy as strategy_lib


def training_state(model, optimizer, metrics, counters, callbacks=()):
    """A ``tf.train.Checkpoint`` over everything a resumed run needs (see the module docstring).

    ``counters``: a dict of ``tf.Variable`` counters (step, epoch, ...).
    """
    objects = dict(model_variables=[v.value for v in model.variables],
                   optimizer_variables=[v.value for v in optimizer.variables],
                   metric_variables=[v.value for m in metrics for v in m.variables], **counters)
    states = {f"{i}_{type(cb).__name__}": cb.state_variables() for i, cb in enumerate(callbacks)
              if hasattr(cb, "state_variables")}
    if states:
        objects["callbacks"] = states
    return tf.train.Checkpoint(**objects)


def checkpoint_dir(model_dir):
    """Where a run's checkpoints are read from (and written by the chief)."""
    return os.path.join(model_dir, "checkpoints")


class Checkpointer:
    """Saves ``checkpoint`` (a ``tf.train.Checkpoint``) numbered by step; restores the latest one.

    Args:
        checkpoint: what to save and restore (``training_state``).
        model_dir: the run's directory.
        strategy: the run's strategy (decides which task keeps its copy).
        max_to_keep: how many checkpoints to keep.
    """

    def __init__(self, checkpoint, model_dir, strategy, max_to_keep):
        self.checkpoint = checkpoint
        self.model_dir = model_dir
        self.chief = strategy_lib.is_chief(strategy)
        suffix = strategy_lib.task_suffix(strategy)
        directory = checkpoint_dir(model_dir) if not suffix else os.path.join(model_dir, "tmp_checkpoints", suffix)
        self.manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep)
        self._last_saved_step = None

    def restore(self):
        """Restores the latest checkpoint of ``model_dir`` (if any); returns its path or None."""
        path = tf.train.latest_checkpoint(checkpoint_dir(self.model_dir))
        if path:
            self.checkpoint.restore(path).expect_partial()
            self._last_saved_step = int(path.rsplit("-", 1)[-1])
        return path

    def save(self, step, force=False):
        """Checkpoints ``step`` unless it is already saved (``force``: the epoch counters moved since)."""
        if step == self._last_saved_step and not force:
            return
        self.manager.save(checkpoint_number=step)
        self._last_saved_step = step
        if not self.chief:
            shutil.rmtree(self.manager.directory, ignore_errors=True)
        else:
            logging.vlog(1, "checkpoint %d saved", step)
