"""Nesterov accelerated gradient (Nesterov, 1983), Ruder (2016) eq. 5."""
import keras
from keras import ops

from optimizers.sparse import to_dense


@keras.saving.register_keras_serializable(package="optimizers")
class NesterovMomentum(keras.optimizers.Optimizer):
    """Nesterov accelerated gradient (NAG).

    The survey's rule evaluates the gradient at the look-ahead point theta - gamma * v_{t-1}:

        v_t = gamma * v_{t-1} + eta * grad J(theta - gamma * v_{t-1})          (eq. 5)
        theta <- theta - v_t

    **The model variable holds the look-ahead point** phi = theta - gamma * v, not theta. The loss, and so the
    gradient Keras hands to `update_step`, is then evaluated exactly where eq. 5 asks for it, and eq. 5 becomes
    (substituting theta = phi + gamma * v):

        v_t = gamma * v_{t-1} + eta * g_t,   g_t = grad J(phi_{t-1})
        phi_t = phi_{t-1} - gamma * v_t - eta * g_t

    With v_0 = 0 the variable starts at phi_0 = theta_0; theta itself is `variable + momentum * velocity` (the
    optimizer's "velocity" slot). After training, the variable (the last look-ahead point) is the point at which the
    model was evaluated, which is what one serves. Sparse gradients are applied as their dense equivalent.

    Args:
        learning_rate: eta (float or `LearningRateSchedule`).
        momentum: gamma (survey: around 0.9).
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
        eta_g = ops.multiply(eta, ops.cast(to_dense(gradient), variable.dtype))
        v = self._velocities[self._get_variable_index(variable)]
        v_t = ops.add(ops.multiply(gamma, v), eta_g)
        self.assign(v, v_t)
        self.assign_sub(variable, ops.add(ops.multiply(gamma, v_t), eta_g))

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum})
        return config
