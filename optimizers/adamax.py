"""AdaMax (Kingma & Ba, 2015, section 7.1), Ruder (2016) eq. 22-25."""
import keras
from keras import ops

from optimizers.sparse import to_dense


@keras.saving.register_keras_serializable(package="optimizers")
class AdaMax(keras.optimizers.Optimizer):
    """AdaMax: Adam with the l2 norm of past gradients replaced by the l-infinity norm.

        m_t = beta_1 * m_{t-1} + (1 - beta_1) * g_t                            (eq. 19)
        u_t = beta_2^inf v_{t-1} + (1 - beta_2^inf) |g_t|^inf = max(beta_2 * u_{t-1}, |g_t|)   (eq. 22-24)
        theta <- theta - eta / u_t * m_hat_t,   m_hat_t = m_t / (1 - beta_1^t) (eq. 25)

    u needs no bias correction and no epsilon. The only guard: where u_t = 0 every gradient so far was 0, so m_t = 0
    too, and the step there is defined as 0 (a 0/0 division-no-nan); every other element follows eq. 25 exactly.
    Sparse gradients are applied as their dense equivalent.

    Args:
        learning_rate: eta (survey default 0.002).
        beta_1, beta_2: survey defaults 0.9, 0.999.
        **kwargs: Keras base optimizer arguments.
    """

    def __init__(self, learning_rate=0.002, beta_1=0.9, beta_2=0.999, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._norms = self.add_optimizer_variables(var_list, ["m", "u"])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        eta = ops.cast(learning_rate, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        g = ops.cast(to_dense(gradient), dtype)
        index = self._get_variable_index(variable)
        m, u = self._momentums[index], self._norms[index]
        self.assign_add(m, ops.multiply(ops.subtract(g, m), 1.0 - self.beta_1))
        self.assign(u, ops.maximum(ops.multiply(self.beta_2, u), ops.abs(g)))
        step = eta / (1.0 - ops.power(ops.cast(self.beta_1, dtype), t))
        self.assign_sub(variable, ops.multiply(step, ops.divide_no_nan(m, u)))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2})
        return config
