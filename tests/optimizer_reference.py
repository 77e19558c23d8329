"""Independent numpy (float64) transcriptions of the survey's update rules, used by the optimizer tests.

Written straight from Ruder (2016), arXiv:1609.04747, not from `optimizers/`: each rule keeps the survey's state
(theta, v, G, E[g^2], m, ...) and the survey's form of every equation (no rearrangement).
"""
import numpy as np


class Reference:
    """Runs one rule over a list of variables; `step(grads)` applies eq. N to each with the dense gradients."""

    def __init__(self, name, initial_values, learning_rate=0.01, momentum=0.9, rho=0.9, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, weight_decay=None):
        self.name = name
        self.eta, self.gamma, self.rho, self.b1, self.b2, self.eps = (
            learning_rate, momentum, rho, beta_1, beta_2, epsilon)
        self.weight_decay = weight_decay
        self.theta = [np.array(x, np.float64) for x in initial_values]
        self.state = [dict(a=np.zeros_like(x), b=np.zeros_like(x), c=np.zeros_like(x)) for x in self.theta]
        self.t = 0

    def step(self, grads, eta=None):
        """One update with gradients `grads` (dense numpy arrays); `eta` overrides the learning rate."""
        self.t += 1
        eta = self.eta if eta is None else eta
        for theta, s, g in zip(self.theta, self.state, grads):
            g = np.asarray(g, np.float64)
            if self.weight_decay:
                theta -= eta * self.weight_decay * theta
            theta += getattr(self, "_" + self.name)(s, g, eta)

    def values(self):
        """What the model variables should hold: theta, except for NAG (the look-ahead point theta - gamma v)."""
        if self.name == "nesterov":
            return [theta - self.gamma * s["a"] for theta, s in zip(self.theta, self.state)]
        return [theta.copy() for theta in self.theta]

    # Each rule returns delta theta for one variable; s["a"], s["b"], s["c"] are its state arrays.
    def _sgd(self, s, g, eta):  # eq. 1-3
        return -eta * g

    def _momentum(self, s, g, eta):  # eq. 4
        s["a"] = self.gamma * s["a"] + eta * g
        return -s["a"]

    def _nesterov(self, s, g, eta):  # eq. 5; g is the gradient at theta - gamma * v_{t-1}
        s["a"] = self.gamma * s["a"] + eta * g
        return -s["a"]

    def _adagrad(self, s, g, eta):  # eq. 8-9
        s["a"] = s["a"] + g * g
        return -eta / np.sqrt(s["a"] + self.eps) * g

    def _adadelta(self, s, g, eta):  # eq. 10-17 (eta = 1 is the survey's rule)
        s["a"] = self.rho * s["a"] + (1 - self.rho) * g**2
        rms_g = np.sqrt(s["a"] + self.eps)
        rms_delta_prev = np.sqrt(s["b"] + self.eps)
        delta = -rms_delta_prev / rms_g * g
        s["b"] = self.rho * s["b"] + (1 - self.rho) * delta**2
        return eta * delta

    def _rmsprop(self, s, g, eta):  # eq. 18
        s["a"] = self.rho * s["a"] + (1 - self.rho) * g**2
        return -eta / np.sqrt(s["a"] + self.eps) * g

    def _moments(self, s, g):  # eq. 19
        s["a"] = self.b1 * s["a"] + (1 - self.b1) * g
        s["b"] = self.b2 * s["b"] + (1 - self.b2) * g**2
        return s["a"], s["b"]

    def _adam(self, s, g, eta):  # eq. 19-21
        m, v = self._moments(s, g)
        m_hat = m / (1 - self.b1**self.t)
        v_hat = v / (1 - self.b2**self.t)
        return -eta / (np.sqrt(v_hat) + self.eps) * m_hat

    _adamw = _adam  # decay applied in step()

    def _adamax(self, s, g, eta):  # eq. 22-25
        s["a"] = self.b1 * s["a"] + (1 - self.b1) * g
        s["b"] = np.maximum(self.b2 * s["b"], np.abs(g))
        m_hat = s["a"] / (1 - self.b1**self.t)
        u = s["b"]
        return np.where(u > 0, -eta / np.where(u > 0, u, 1.0) * m_hat, 0.0)

    def _nadam(self, s, g, eta):  # eq. 26-33
        m, v = self._moments(s, g)
        m_hat = m / (1 - self.b1**self.t)
        v_hat = v / (1 - self.b2**self.t)
        return -eta / (np.sqrt(v_hat) + self.eps) * (self.b1 * m_hat + (1 - self.b1) * g / (1 - self.b1**self.t))

    def _amsgrad(self, s, g, eta):  # Reddi et al. Algorithm 2 / survey section 4.10, no debiasing
        m, v = self._moments(s, g)
        s["c"] = np.maximum(s["c"], v)
        return -eta / (np.sqrt(s["c"]) + self.eps) * m
