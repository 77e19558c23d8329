"""Vanilla (mini-)batch gradient descent, Ruder (2016) eq. 1-3."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="optimizers")
class SGD(keras.optimizers.Optimizer):
    """Gradient descent: the same rule for batch (eq. 1), stochastic (eq. 2) and mini-batch (eq. 3) updates.

        theta <- theta - eta * g_t                                             (eq. 1-3)

    Which of the three it is depends only on how many examples the gradient g_t averages over (the trainer's batch
    size: the whole set, 1, or n). Sparse gradients stay sparse: the scatter-subtract of every slice is exactly the
    dense update (see `optimizers.sparse`).

    Args:
        learning_rate: eta, a float or a `keras.optimizers.schedules.LearningRateSchedule`.
        **kwargs: Keras base optimizer arguments (`clipnorm`, `global_clipnorm`, `weight_decay`,
            `gradient_accumulation_steps`, `use_ema`, ...).
    """

    def __init__(self, learning_rate=0.01, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        eta = ops.cast(learning_rate, variable.dtype)
        self.assign_sub(variable, ops.multiply(ops.cast(gradient, variable.dtype), eta))
