"""Adam (Kingma & Ba, 2015), Ruder (2016) eq. 19-21."""
import keras
from keras import ops

from optimizers.sparse import to_dense


@keras.saving.register_keras_serializable(package="optimizers")
class Adam(keras.optimizers.Optimizer):
    """Adam: bias-corrected decaying averages of the gradient and of its square.

        m_t = beta_1 * m_{t-1} + (1 - beta_1) * g_t                            (eq. 19)
        v_t = beta_2 * v_{t-1} + (1 - beta_2) * g_t^2
        m_hat_t = m_t / (1 - beta_1^t),  v_hat_t = v_t / (1 - beta_2^t)        (eq. 20)
        theta <- theta - eta / (sqrt(v_hat_t) + epsilon) * m_hat_t             (eq. 21)

    epsilon is added to sqrt(v_hat), as in eq. 21 (Keras' built-in adds it to sqrt(v) instead). The update is
    computed as eta * c_1 / c_2 * m_t / (sqrt(v_t) + epsilon / c_2) with c_1 = 1 / (1 - beta_1^t) and
    c_2 = 1 / sqrt(1 - beta_2^t), which is eq. 21 rearranged so that only scalars carry the corrections. Sparse
    gradients are applied as their dense equivalent.

    Args:
        learning_rate: eta (float or `LearningRateSchedule`).
        beta_1, beta_2: decay rates of the moment estimates (survey defaults 0.9, 0.999).
        epsilon: survey default 1e-8.
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
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["m", "v"])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        eta = ops.cast(learning_rate, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        g = ops.cast(to_dense(gradient), dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign_add(m, ops.multiply(ops.subtract(g, m), 1.0 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(g), v), 1.0 - self.beta_2))
        sqrt_bias_2 = ops.sqrt(1.0 - ops.power(ops.cast(self.beta_2, dtype), t))
        step = eta * sqrt_bias_2 / (1.0 - ops.power(ops.cast(self.beta_1, dtype), t))
        self.assign_sub(variable, ops.divide(ops.multiply(m, step), ops.add(ops.sqrt(v), self.epsilon * sqrt_bias_2)))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
