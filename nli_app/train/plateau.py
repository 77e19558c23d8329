"""Reduce the learning rate on a plateau of a dev metric, optionally going back to the best weights.

The learning-rate annealing of Ruder's survey (section 3, "reduce the learning rate ... when the change in
objective between epochs falls below a threshold") as Chen et al. (ESIM, ACL 2017, section 4) use it: "the
learning rate is halved whenever the accuracy on the development set does not improve", and their code reloads
the best parameters when it does so. Step / exponential / 1-over-t schedules are in ``optimizers.schedules``.
"""
import keras
from absl import logging

from nli_app.train.early_stopping import Monitor, WeightSnapshot


class ReduceOnPlateau(keras.callbacks.Callback):
    """Multiplies the optimizer's learning rate by ``factor`` after ``patience`` epochs without improvement.

    Args:
        monitor: the epoch log to watch (``val_accuracy`` for ESIM).
        factor: multiplier of the learning rate, 0 < factor < 1 (0.5 halves it).
        patience: epochs without improvement before each reduction (1: every non-improving epoch).
        reload_best_weights: also put back the weights of the best epoch when reducing.
        min_learning_rate: the learning rate never goes below this.
        mode, min_delta: as in :class:`nli_app.train.early_stopping.Monitor`.
    """

    def __init__(self, monitor="val_accuracy", factor=0.5, patience=1, reload_best_weights=False,
                 min_learning_rate=0.0, mode="auto", min_delta=0.0):
        super().__init__()
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        if patience < 1:
            raise ValueError(f"patience must be >= 1 epoch, got {patience}")
        self.monitor = Monitor(monitor, mode, min_delta)
        self.factor, self.patience, self.min_learning_rate = factor, patience, min_learning_rate
        self.snapshot = WeightSnapshot() if reload_best_weights else None

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
            return
        if int(self.monitor.wait.numpy()) < self.patience:
            return
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
