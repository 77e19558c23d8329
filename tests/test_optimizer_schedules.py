"""Annealing schedules (optimizers.schedules) vs hand-computed learning rates."""
import math

import numpy as np
import pytest

import keras

import optimizers
from optimizers.schedules import ExponentialDecay, InverseTimeDecay, StepDecay

CASES = [
    (StepDecay(0.1, decay_rate=0.5, decay_steps=10), {0: 0.1, 9: 0.1, 10: 0.05, 19: 0.05, 25: 0.025}),
    (ExponentialDecay(0.1, decay_rate=0.5, decay_steps=10),
     {0: 0.1, 10: 0.1 * math.exp(-0.5), 25: 0.1 * math.exp(-1.25)}),
    (InverseTimeDecay(0.1, decay_rate=1.0, decay_steps=5), {0: 0.1, 5: 0.05, 25: 0.1 / 6}),
]


@pytest.mark.parametrize("schedule,expected", CASES, ids=["step", "exponential", "inverse_time"])
def test_values_and_config_round_trip(schedule, expected):
    for step, value in expected.items():
        assert float(schedule(step)) == pytest.approx(value, rel=1e-6), step
    clone = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert type(clone) is type(schedule) and clone.get_config() == schedule.get_config()


def test_optimizer_steps_with_the_scheduled_rate_and_serialises_it():
    optimizer = optimizers.SGD(learning_rate=StepDecay(0.1, decay_rate=0.5, decay_steps=2))
    var = keras.Variable(np.zeros(2, "float32"))
    moved = []
    for _ in range(5):
        before = var.numpy()[0]
        optimizer.apply([keras.ops.ones(2)], [var])
        moved.append(before - var.numpy()[0])
    np.testing.assert_allclose(moved, [0.1, 0.1, 0.05, 0.05, 0.025], rtol=1e-6)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert float(restored._learning_rate(4)) == pytest.approx(0.025)


def test_invalid_arguments_are_named():
    with pytest.raises(ValueError, match="decay_steps"):
        StepDecay(0.1, decay_steps=0)
    with pytest.raises(ValueError, match="initial_learning_rate"):
        ExponentialDecay(-1.0, 0.1)
    with pytest.raises(ValueError, match="decay_rate"):
        InverseTimeDecay(0.1, -0.5)
    with pytest.raises(ValueError, match="drop factor"):
        StepDecay(0.1, decay_rate=2.0)
