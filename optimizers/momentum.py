"""Momentum (Qian, 1999), Ruder (2016) eq. 4."""
import keras
from keras import ops

from optimizers.sparse import to_dense


@keras.saving.register_keras_serializable(package="optimizers")
class Momentum(keras.optimizers.Optimizer):
    """Gradient descent with momentum.

        v_t = gamma * v_{t-1} + eta * g_t                                      (eq. 4)
        theta <- theta - v_t

    Sparse gradients are applied as their dense equivalent (rows not looked up keep moving by gamma * v).

    Args:
        learning_rate: eta (float or `LearningRateSchedule`).
        momentum: gamma, the fraction of the previous update kept (survey: "usually set to 0.9").
        **kwargs: Keras base optimizer arguments.
    """

    def __init__(self, learning_rate=0.01, momentum=0.9, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum (gamma) must be in [0, 1), got {momentum}")
        self.momentum = momentum

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._velocities = self.add_optimizer_variables(var_list, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        eta = ops.cast(learning_rate, variable.dtype)
        gamma = self.momentum
        g = ops.cast(to_dense(gradient), variable.dtype)
        v = self._velocities[self._get_variable_index(variable)]
        v_t = ops.add(ops.multiply(gamma, v), ops.multiply(eta, g))
        self.assign(v, v_t)
        self.assign_sub(variable, v_t)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum})
        return config
