"""Reduce the learning rate on a plateau of a dev metric, optionally going back to the best weights.

The learning-rate annealing of Ruder's survey (section 3, "reduce the learning rate ... when the change in
objective between epochs falls below a threshold") as Chen et al. (ESIM, ACL 2017, section 4) use it: "the
learning rate is halved whenever the accuracy on the development set does not improve", and their code reloads
the best parameters when it does so. Step / exponential / 1-over-t schedules are in ``optimizers.schedules``; the
shared monitoring (best value, patience count, best weights) is :mod:`nli_app.train.monitor`.
"""
import keras
from absl import logging

from nli_app.train.monitor import PatienceCallback


class ReduceOnPlateau(PatienceCallback):
    """Multiplies the optimizer's learning rate by ``factor`` after ``patience`` epochs without improvement.

    Args:
        monitor: the epoch log to watch (``val_accuracy`` for ESIM).
        factor: multiplier of the learning rate, 0 < factor < 1 (0.5 halves it).
        patience: epochs without improvement before each reduction (1: every non-improving epoch).
        reload_best_weights: also put back the weights of the best epoch when reducing.
        min_learning_rate: the learning rate never goes below this.
        mode, min_delta: as in :class:`nli_app.train.monitor.Monitor`.
    """

    def __init__(self, monitor="val_accuracy", factor=0.5, patience=1, reload_best_weights=False,
                 min_learning_rate=0.0, mode="auto", min_delta=0.0):
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        super().__init__(monitor, patience, mode, min_delta, keep_best_weights=reload_best_weights)
        self.factor, self.min_learning_rate = factor, min_learning_rate

    def on_plateau(self, epoch):
        optimizer = self.model.optimizer
        old = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        new = max(old * self.factor, self.min_learning_rate)
        try:
            optimizer.learning_rate = new
        except TypeError as error:
            raise ValueError("ReduceOnPlateau needs a float learning rate, not a LearningRateSchedule") from error
        self.monitor.wait.assign(0)
        reloaded = self.snapshot.restore() if self.snapshot else False
        logging.info("epoch %d: %s did not improve on %.4g; learning rate %.3g -> %.3g%s", epoch,
                     self.monitor.name, float(self.monitor.best.numpy()), old, new,
                     ", best weights reloaded" if reloaded else "")
