"""Early stopping with patience (Ruder's survey, section 6: "Early stopping ... you should always monitor error on
a validation set during training and stop (with some patience) if your validation error does not improve enough").
The shared monitoring (best value, patience count, best weights) is :mod:`nli_app.train.monitor`.
"""
from nli_app.train.monitor import PatienceCallback


class EarlyStopping(PatienceCallback):
    """Stops training once ``monitor`` has not improved for ``patience`` consecutive epochs.

    With ``restore_best_weights`` the model ends with the weights of its best epoch. ``mode``, ``min_delta``: as in
    :class:`nli_app.train.monitor.Monitor`.
    """

    def __init__(self, monitor="val_loss", patience=3, mode="auto", min_delta=0.0, restore_best_weights=False):
        super().__init__(monitor, patience, mode, min_delta, keep_best_weights=restore_best_weights)
        self.stopped_epoch = None

    def on_plateau(self, epoch):
        self.stopped_epoch = epoch
        self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.snapshot and self.stopped_epoch is not None:
            self.snapshot.restore()
