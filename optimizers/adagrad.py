"""Adagrad (Duchi et al., 2011), Ruder (2016) eq. 6-9."""
import keras
from keras import ops

from optimizers.sparse import to_dense


@keras.saving.register_keras_serializable(package="optimizers")
class Adagrad(keras.optimizers.Optimizer):
    """Adagrad: a per-parameter learning rate shrinking with the sum of squared past gradients.

        G_t = G_{t-1} + g_t (.) g_t          (G_t: diagonal of sum of outer products, eq. 8)
        theta <- theta - eta / sqrt(G_t + epsilon) (.) g_t                     (eq. 9)

    G starts at 0 (no initial accumulator, unlike Keras' built-in). Sparse gradients are applied as their dense
    equivalent, so a row looked up twice adds (g_1 + g_2)^2, not g_1^2 + g_2^2 (see `optimizers.sparse`).

    Args:
        learning_rate: eta (survey default 0.01).
        epsilon: smoothing term avoiding division by zero (survey: "usually on the order of 1e-8").
        **kwargs: Keras base optimizer arguments.
    """

    def __init__(self, learning_rate=0.01, epsilon=1e-8, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._accumulators = self.add_optimizer_variables(var_list, "accumulator")

    def update_step(self, gradient, variable, learning_rate):
        eta = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(to_dense(gradient), variable.dtype)
        G = self._accumulators[self._get_variable_index(variable)]
        self.assign_add(G, ops.square(g))
        self.assign_sub(variable, ops.divide(ops.multiply(eta, g), ops.sqrt(ops.add(G, self.epsilon))))

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config
