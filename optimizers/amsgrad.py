"""AMSGrad (Reddi et al., 2018), as the survey's later revision writes it (section 4.10)."""
import keras
from keras import ops

from optimizers.sparse import to_dense


@keras.saving.register_keras_serializable(package="optimizers")
class AMSGrad(keras.optimizers.Optimizer):
    """AMSGrad: Adam whose second-moment estimate never decreases.

        m_t = beta_1 * m_{t-1} + (1 - beta_1) * g_t
        v_t = beta_2 * v_{t-1} + (1 - beta_2) * g_t^2
        v_hat_t = max(v_hat_{t-1}, v_t)
        theta <- theta - eta / (sqrt(v_hat_t) + epsilon) * m_t

    Like Reddi et al.'s Algorithm 2 (and the survey), without Adam's debiasing step; Keras' `Adam(amsgrad=True)`
    keeps the bias correction. Beyond the survey's original list; users ask for it. Sparse gradients are applied as
    their dense equivalent.

    Args:
        learning_rate: eta.
        beta_1, beta_2: 0.9, 0.999 as for Adam.
        epsilon: 1e-8 as for Adam.
        **kwargs: Keras base optimizer arguments.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities, self._velocity_maxima = self.add_optimizer_variables(
            var_list, ["m", "v", "v_hat"])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        eta = ops.cast(learning_rate, dtype)
        g = ops.cast(to_dense(gradient), dtype)
        index = self._get_variable_index(variable)
        m, v, v_hat = self._momentums[index], self._velocities[index], self._velocity_maxima[index]
        self.assign_add(m, ops.multiply(ops.subtract(g, m), 1.0 - self.beta_1))
        v_t = ops.add(v, ops.multiply(ops.subtract(ops.square(g), v), 1.0 - self.beta_2))
        self.assign(v, v_t)
        v_hat_t = ops.maximum(v_hat, v_t)
        self.assign(v_hat, v_hat_t)
        self.assign_sub(variable, ops.divide(ops.multiply(m, eta), ops.add(ops.sqrt(v_hat_t), self.epsilon)))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
