"""Annealed Gaussian gradient noise (Neelakantan et al., 2015), Ruder (2016) eq. 34-35."""
import keras
from keras import ops

from optimizers import registry
from optimizers.replicas import summed_replicas

_INT32_MODULUS = 2**31 - 1


class _CounterSeed(keras.random.SeedGenerator):
    """A stateless seed (seed, counter) in the `SeedGenerator` interface `keras.random` accepts.

    Keras' random functions take an int or a `SeedGenerator`; a tensor-valued counter needs this adapter. It holds
    no variable: the noise of a step is a pure function of (seed, variable index, step), so it is identical on every
    replica and after a restore.
    """

    def __init__(self, seed, counter):  # noqa: super().__init__ would create a state variable
        self._seed = seed
        self._counter = counter

    def next(self, ordered=True):
        # JAX's PRNG keys are uint32 (both values lie in [0, 2^31 - 1), so the cast loses nothing); TF takes int32.
        dtype = "uint32" if keras.backend.backend() == "jax" else "int32"
        return ops.cast(ops.stack([self._seed, self._counter]), dtype)


@keras.saving.register_keras_serializable(package="optimizers")
class GradientNoise(keras.optimizers.Optimizer):
    """Adds annealed Gaussian noise to every gradient, then lets the wrapped optimizer apply it.

        g_{t,i} <- g_{t,i} + N(0, sigma_t^2)                                   (eq. 34)
        sigma_t^2 = eta / (1 + t)^gamma                                        (eq. 35)

    t counts the wrapped optimizer's updates (0 on the first), eta is in {0.01, 0.3, 1.0} in Neelakantan et al. and
    gamma = 0.55. It composes with any `keras.optimizers.Optimizer` (this package's or Keras'), the way
    `keras.optimizers.LossScaleOptimizer` does: put it *inside* a loss-scale optimizer,
    `LossScaleOptimizer(GradientNoise(Adam()))`, so the noise is added to unscaled gradients.

    Distribution: the noise is drawn statelessly from (seed, variable index, t), so every replica draws the same
    sample. Under `model.fit` each replica hands over its share of the gradient and the optimizer sums the shares,
    so each replica adds the noise scaled by 1 / num_replicas (the factor Keras scales each replica's loss by) and
    the sum carries exactly one N(0, sigma_t^2) sample, the same one a single device would add. Gradients applied
    outside a replica context (nli_app's Trainer applies the summed gradient in cross-replica context) are
    already the sum, and the noise is added unscaled. `summed_gradients` overrides that choice. With gradient
    accumulation every micro-batch of an update gets the same sample, so the averaged gradient does too. A sparse
    gradient becomes dense (the noise touches every element, as eq. 34 says).

    Args:
        inner_optimizer: the optimizer applying the noisy gradients, or a name for `optimizers.get`.
        eta: the noise scale eta of eq. 35.
        gamma: the annealing exponent gamma of eq. 35.
        seed: integer seed of the noise.
        summed_gradients: True: the gradients handed to `apply` are already the sum over replicas wherever it is
            called, so the noise is added whole; False: the share follows the tf.distribute context (see
            Distribution).
    """

    def __init__(self, inner_optimizer, eta=0.01, gamma=0.55, seed=0, summed_gradients=False, name=None, **kwargs):
        if kwargs:
            raise ValueError(f"GradientNoise takes no base-optimizer arguments ({', '.join(kwargs)}); "
                             "set them on the inner optimizer")
        if eta < 0 or gamma < 0:
            raise ValueError(f"eta and gamma must be non-negative, got eta={eta}, gamma={gamma}")
        super().__init__(learning_rate=0.0, name=name)
        if isinstance(inner_optimizer, str):
            inner_optimizer = registry.get(inner_optimizer)
        if not isinstance(inner_optimizer, keras.optimizers.Optimizer):
            raise ValueError(f"inner_optimizer must be an optimizer or its name, got {inner_optimizer!r}")
        self.inner_optimizer = inner_optimizer
        self.eta = eta
        self.gamma = gamma
        self.seed = int(seed)
        self.summed_gradients = bool(summed_gradients)
        self._variable_shapes = None

    def build(self, var_list):
        self.inner_optimizer.build(var_list)
        super().build(var_list)
        self._variable_shapes = [tuple(v.shape) for v in var_list]

    @property
    def variables(self):
        return self._variables + self.inner_optimizer.variables

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def stddev(self, step):
        """sigma_t of eq. 35 at update t (a float32 tensor)."""
        t = ops.cast(step, "float32")
        return ops.sqrt(self.eta / ops.power(1.0 + t, self.gamma))

    def apply(self, grads, trainable_variables=None):
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
            self.built = True
        shapes = self._variable_shapes if trainable_variables is None else [v.shape for v in trainable_variables]
        replicas = 1 if self.summed_gradients else summed_replicas()
        step = self.inner_optimizer.iterations
        sigma = self.stddev(step)
        counter = ops.mod(ops.cast(step, "int64"), _INT32_MODULUS)
        noisy = []
        for index, (grad, shape) in enumerate(zip(grads, shapes)):
            if grad is None:
                noisy.append(None)
                continue
            seed = _CounterSeed((self.seed * 1_000_003 + index) % _INT32_MODULUS, counter)
            noise = keras.random.normal(shape, stddev=1.0, dtype=grad.dtype, seed=seed)
            noise = ops.multiply(noise, ops.cast(sigma, grad.dtype))
            if replicas > 1:  # each replica adds its share; the inner optimizer's sum carries one sample
                noise = ops.multiply(noise, ops.cast(1.0 / replicas, grad.dtype))
            noisy.append(ops.add(grad, noise))
        self.inner_optimizer.apply(noisy, trainable_variables)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self):
        return {"name": self.name, "eta": self.eta, "gamma": self.gamma, "seed": self.seed,
                "summed_gradients": self.summed_gradients,
                "inner_optimizer": keras.saving.serialize_keras_object(self.inner_optimizer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(config.pop("inner_optimizer"), custom_objects=custom_objects)
        return cls(inner, **config)
