"""Adadelta (Zeiler, 2012), Ruder (2016) eq. 10-17."""
import keras
from keras import ops

from optimizers.sparse import to_dense


@keras.saving.register_keras_serializable(package="optimizers")
class Adadelta(keras.optimizers.Optimizer):
    """Adadelta: Adagrad with decaying averages, and the units fixed by RMS[delta theta] instead of eta.

        E[g^2]_t = gamma * E[g^2]_{t-1} + (1 - gamma) * g_t^2                  (eq. 10)
        RMS[x]_t = sqrt(E[x^2]_t + epsilon)                                    (eq. 12, 13)
        delta theta_t = - RMS[delta theta]_{t-1} / RMS[g]_t * g_t              (eq. 14)
        E[delta theta^2]_t = gamma * E[delta theta^2]_{t-1} + (1 - gamma) * delta theta_t^2   (eq. 13's average)
        theta <- theta + eta * delta theta_t                                   (eq. 15-17 with eta = 1)

    The survey's rule has no learning rate; Keras' base class needs one, so `learning_rate` defaults to 1.0, where
    the update is exactly eq. 14 (a schedule or another eta scales the applied step only, not the E[delta theta^2]
    average). Sparse gradients are applied as their dense equivalent.

    Args:
        learning_rate: eta, a multiplier on eq. 14's step; 1.0 is the survey's rule.
        rho: gamma, the decay of both running averages (survey: around 0.9).
        epsilon: the RMS smoothing term (Zeiler: 1e-6).
        **kwargs: Keras base optimizer arguments.
    """

    def __init__(self, learning_rate=1.0, rho=0.9, epsilon=1e-6, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho (gamma) must be in [0, 1), got {rho}")
        self.rho = rho
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._grad_averages, self._delta_averages = self.add_optimizer_variables(
            var_list, ["grad_average", "delta_average"])

    def update_step(self, gradient, variable, learning_rate):
        eta = ops.cast(learning_rate, variable.dtype)
        rho = self.rho
        g = ops.cast(to_dense(gradient), variable.dtype)
        index = self._get_variable_index(variable)
        Eg, Ed = self._grad_averages[index], self._delta_averages[index]
        Eg_t = ops.add(ops.multiply(rho, Eg), ops.multiply(1.0 - rho, ops.square(g)))
        delta = ops.multiply(ops.sqrt(ops.divide(ops.add(Ed, self.epsilon), ops.add(Eg_t, self.epsilon))), g)
        self.assign(Eg, Eg_t)
        self.assign(Ed, ops.add(ops.multiply(rho, Ed), ops.multiply(1.0 - rho, ops.square(delta))))
        self.assign_sub(variable, ops.multiply(eta, delta))

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config
