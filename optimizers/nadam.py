"""Nadam (Dozat, 2016), Ruder (2016) eq. 26-33."""
import keras
from keras import ops

from optimizers.sparse import to_dense


@keras.saving.register_keras_serializable(package="optimizers")
class Nadam(keras.optimizers.Optimizer):
    """Nadam: Adam with Nesterov momentum, in Dozat's form as the survey derives it.

    Starting from momentum with the look-ahead applied to the current step (eq. 26-29) and Adam's bias-corrected
    m_hat (eq. 30-31), the survey arrives at

        m_t = beta_1 * m_{t-1} + (1 - beta_1) * g_t,  v_t = beta_2 * v_{t-1} + (1 - beta_2) * g_t^2
        m_hat_t = m_t / (1 - beta_1^t),  v_hat_t = v_t / (1 - beta_2^t)
        theta <- theta - eta / (sqrt(v_hat_t) + epsilon) * (beta_1 * m_hat_t + (1 - beta_1) * g_t / (1 - beta_1^t))
                                                                               (eq. 32-33)

    with a constant beta_1 (not Keras' Nadam, which uses Dozat's warming momentum schedule mu_t). Computed as
    eta * c_2 / (1 - beta_1^t) * (beta_1 * m_t + (1 - beta_1) * g_t) / (sqrt(v_t) + epsilon * c_2) with
    c_2 = sqrt(1 - beta_2^t), eq. 33 rearranged. Sparse gradients are applied as their dense equivalent.

    Args:
        learning_rate: eta.
        beta_1, beta_2: survey defaults 0.9, 0.999.
        epsilon: survey default 1e-8.
        **kwargs: Keras base optimizer arguments.
    """

    def __init__(self, learning_rate=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-8, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["m", "v"])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        eta = ops.cast(learning_rate, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        beta_1 = self.beta_1
        g = ops.cast(to_dense(gradient), dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        m_t = ops.add(m, ops.multiply(ops.subtract(g, m), 1.0 - beta_1))
        self.assign(m, m_t)
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(g), v), 1.0 - self.beta_2))
        sqrt_bias_2 = ops.sqrt(1.0 - ops.power(ops.cast(self.beta_2, dtype), t))
        step = eta * sqrt_bias_2 / (1.0 - ops.power(ops.cast(beta_1, dtype), t))
        nesterov_m = ops.add(ops.multiply(beta_1, m_t), ops.multiply(1.0 - beta_1, g))
        self.assign_sub(
            variable, ops.divide(ops.multiply(nesterov_m, step), ops.add(ops.sqrt(v), self.epsilon * sqrt_bias_2)))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
