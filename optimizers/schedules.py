"""Learning-rate annealing schedules from the survey (Ruder, 2016, section 3 "Challenges" and 6).

Each is a `keras.optimizers.schedules.LearningRateSchedule` evaluated at the optimizer's step t (its
`iterations`); pass `decay_steps=steps_per_epoch` to anneal per epoch instead of per step. Reduce-on-plateau (halve
when the dev score stops improving) needs the dev score, so it is a trainer callback (`nli_app.train.plateau`).

    StepDecay:        eta_t = eta_0 * drop ^ floor(t / decay_steps)
    ExponentialDecay: eta_t = eta_0 * exp(-k * t / decay_steps)
    InverseTimeDecay: eta_t = eta_0 / (1 + k * t / decay_steps)      ("1/t annealing")
"""
import keras
from keras import ops


class _Annealing(keras.optimizers.schedules.LearningRateSchedule):
    """Shared arguments and config of the schedules below: eta_0, a decay constant, and the step unit."""

    def __init__(self, initial_learning_rate, decay_rate, decay_steps=1):
        if initial_learning_rate <= 0:
            raise ValueError(f"initial_learning_rate must be positive, got {initial_learning_rate}")
        if decay_steps < 1:
            raise ValueError(f"decay_steps must be a positive number of steps, got {decay_steps}")
        if decay_rate < 0:
            raise ValueError(f"decay_rate must be non-negative, got {decay_rate}")
        self.initial_learning_rate = initial_learning_rate
        self.decay_rate = decay_rate
        self.decay_steps = decay_steps

    def _progress(self, step):
        """t / decay_steps as a float32 tensor."""
        return ops.divide(ops.cast(step, "float32"), float(self.decay_steps))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_rate": self.decay_rate,
                "decay_steps": self.decay_steps}


@keras.saving.register_keras_serializable(package="optimizers")
class StepDecay(_Annealing):
    """eta_t = eta_0 * decay_rate ^ floor(t / decay_steps): e.g. halve every 10 epochs (decay_rate=0.5)."""

    def __init__(self, initial_learning_rate, decay_rate=0.5, decay_steps=1):
        super().__init__(initial_learning_rate, decay_rate, decay_steps)
        if decay_rate > 1:
            raise ValueError(f"StepDecay's decay_rate (the drop factor) must be in [0, 1], got {decay_rate}")

    def __call__(self, step):
        return self.initial_learning_rate * ops.power(float(self.decay_rate), ops.floor(self._progress(step)))


@keras.saving.register_keras_serializable(package="optimizers")
class ExponentialDecay(_Annealing):
    """eta_t = eta_0 * exp(-decay_rate * t / decay_steps)."""

    def __call__(self, step):
        return self.initial_learning_rate * ops.exp(-self.decay_rate * self._progress(step))


@keras.saving.register_keras_serializable(package="optimizers")
class InverseTimeDecay(_Annealing):
    """1/t annealing: eta_t = eta_0 / (1 + decay_rate * t / decay_steps)."""

    def __call__(self, step):
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))
