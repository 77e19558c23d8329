"""Keras base-optimizer arguments (clipping, weight decay, gradient accumulation, EMA) on the survey optimizers.

Gradients are fixed random arrays (large enough that clipping bites); the reference applies the base argument's
documented transformation, then the survey's rule from `optimizer_reference.py`.
"""
import numpy as np
import pytest

import keras

import optimizers
from optimizer_reference import Reference

STEPS = 21
NAMES = ("momentum", "adadelta", "adam")
HPARAMS = {"momentum": dict(learning_rate=0.05, momentum=0.8),
           "adadelta": dict(learning_rate=1.0, rho=0.85, epsilon=1e-3),
           "adam": dict(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-3)}


def problem(seed=0):
    rng = np.random.default_rng(seed)
    initial = [rng.normal(size=(3, 4)), rng.normal(size=(4,))]
    grads = [[5.0 * rng.normal(size=x.shape) for x in initial] for _ in range(STEPS)]
    return initial, grads


def run(optimizer, initial, grads):
    variables = [keras.Variable(x.astype("float32")) for x in initial]
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(x.astype("float32")) for x in g], variables)
    return variables


def assert_close(variables, expected):
    for v, e in zip(variables, expected):
        np.testing.assert_allclose(np.asarray(v), e, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", NAMES)
def test_clipnorm_clips_each_gradient_before_the_rule(name):
    initial, grads = problem()
    reference = Reference(name, initial, **HPARAMS[name])
    for g in grads:
        reference.step([x * 2.0 / max(np.linalg.norm(x), 2.0) for x in g])
    assert_close(run(optimizers.get(name, clipnorm=2.0, **HPARAMS[name]), initial, grads), reference.values())


@pytest.mark.parametrize("name", NAMES)
def test_global_clipnorm_clips_the_joint_norm(name):
    initial, grads = problem(1)
    reference = Reference(name, initial, **HPARAMS[name])
    for g in grads:
        norm = np.sqrt(sum(np.sum(x**2) for x in g))
        reference.step([x * 3.0 / max(norm, 3.0) for x in g])
    assert_close(run(optimizers.get(name, global_clipnorm=3.0, **HPARAMS[name]), initial, grads), reference.values())


@pytest.mark.parametrize("name", NAMES)
def test_weight_decay_is_decoupled(name):
    initial, grads = problem(2)
    reference = Reference(name, initial, weight_decay=0.2, **HPARAMS[name])
    for g in grads:
        reference.step(g)
    assert_close(run(optimizers.get(name, weight_decay=0.2, **HPARAMS[name]), initial, grads), reference.values())


@pytest.mark.parametrize("name", NAMES)
def test_gradient_accumulation_averages_and_counts_real_updates(name):
    initial, grads = problem(3)
    reference = Reference(name, initial, **HPARAMS[name])
    for k in range(0, STEPS, 3):
        reference.step([np.mean([grads[k + j][i] for j in range(3)], axis=0) for i in range(len(initial))])
    optimizer = optimizers.get(name, gradient_accumulation_steps=3, **HPARAMS[name])
    assert_close(run(optimizer, initial, grads), reference.values())
    assert int(optimizer.iterations.numpy()) == STEPS // 3  # the bias corrections used t = 1 .. 7


@pytest.mark.parametrize("name", NAMES)
def test_ema_of_the_variables_replaces_them_when_finalized(name):
    initial, grads = problem(4)
    reference = Reference(name, initial, **HPARAMS[name])
    average = None
    for g in grads:
        reference.step(g)
        values = reference.values()
        average = values if average is None else [0.9 * a + 0.1 * v for a, v in zip(average, values)]
    optimizer = optimizers.get(name, use_ema=True, ema_momentum=0.9, **HPARAMS[name])
    variables = run(optimizer, initial, grads)
    assert_close(variables, reference.values())
    optimizer.finalize_variable_values(variables)
    assert_close(variables, average)
