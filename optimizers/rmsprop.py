"""RMSprop (Hinton, Coursera lecture 6e), Ruder (2016) eq. 18."""
import keras
from keras import ops

from optimizers.sparse import to_dense


@keras.saving.register_keras_serializable(package="optimizers")
class RMSprop(keras.optimizers.Optimizer):
    """RMSprop: divide the learning rate by a decaying average of squared gradients.

        E[g^2]_t = gamma * E[g^2]_{t-1} + (1 - gamma) * g_t^2                  (eq. 18)
        theta <- theta - eta / sqrt(E[g^2]_t + epsilon) * g_t

    Plain RMSprop as the survey writes it (no momentum, not centred). Sparse gradients are applied as their dense
    equivalent.

    Args:
        learning_rate: eta (Hinton's suggestion 0.001).
        rho: gamma (Hinton's suggestion 0.9).
        epsilon: smoothing term inside the square root.
        **kwargs: Keras base optimizer arguments.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-8, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho (gamma) must be in [0, 1), got {rho}")
        self.rho = rho
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._grad_averages = self.add_optimizer_variables(var_list, "grad_average")

    def update_step(self, gradient, variable, learning_rate):
        eta = ops.cast(learning_rate, variable.dtype)
        rho = self.rho
        g = ops.cast(to_dense(gradient), variable.dtype)
        Eg = self._grad_averages[self._get_variable_index(variable)]
        Eg_t = ops.add(ops.multiply(rho, Eg), ops.multiply(1.0 - rho, ops.square(g)))
        self.assign(Eg, Eg_t)
        self.assign_sub(variable, ops.divide(ops.multiply(eta, g), ops.sqrt(ops.add(Eg_t, self.epsilon))))

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config
