"""Every survey optimizer, step by step, against the numpy transcription in `optimizer_reference.py`.

The model is an Embedding (sparse `tf.IndexedSlices` gradients, with repeated ids and rows never looked up) feeding
a Dense layer (dense gradients). The reference gets the dense equivalent of each gradient, which is the sparse
semantics `optimizers.sparse` defines.
"""
import numpy as np
import pytest
import tensorflow as tf

import keras
from keras import ops

import optimizers
from optimizer_problem import BATCH, HPARAMS, NAMES, OUT, SEQ, batches, build_model
from optimizer_reference import Reference

STEPS = 20


def fast_subset(names, fast):
    """`names` as pytest params, those outside `fast` marked slow (same check, run for every optimizer in CI)."""
    return [name if name in fast else pytest.param(name, marks=pytest.mark.slow) for name in names]


def loss_fn(model, ids, y):
    return ops.mean(ops.square(ops.cast(model(ids, training=True), "float32") - y))


def dense(gradient):
    return tf.convert_to_tensor(gradient).numpy()


def weights(model):
    return [v.numpy() for v in model.trainable_variables]


def assert_close(actual, expected, step, rtol=2e-5, atol=2e-6):
    for i, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=f"variable {i} after step {step}")


def run_custom_loop(optimizer, model, ids, y, on_step=None):
    """Eager custom training loop; `on_step(t, grads, unscaled dense float64 grads, model)` after each update."""
    loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    for t in range(len(ids)):
        with tf.GradientTape() as tape:
            loss = loss_fn(model, ids[t], y[t])
            if loss_scaled:
                loss = optimizer.scale_loss(loss)
        grads = tape.gradient(loss, model.trainable_variables)
        scale = float(optimizer.scale_loss(1.0)) if loss_scaled else 1.0  # the scale these grads carry
        optimizer.apply(grads, model.trainable_variables)
        if on_step:
            on_step(t, grads, [dense(g).astype(np.float64) / scale for g in grads], model)


@pytest.mark.parametrize("name", NAMES)
def test_float32_dense_and_sparse_steps_match_survey_equations(name):
    model = build_model()
    reference = Reference(name, weights(model), **HPARAMS[name])
    optimizer = optimizers.get(name, **HPARAMS[name])
    ids, y = batches(STEPS)

    def check(t, grads, dense_grads, model):
        assert isinstance(grads[0], tf.IndexedSlices), "the Embedding gradient should be sparse"
        assert len(np.unique(grads[0].indices)) < len(grads[0].indices), "ids should repeat within a batch"
        reference.step(dense_grads)
        assert_close(weights(model), reference.values(), t + 1)

    run_custom_loop(optimizer, model, ids, y, check)
    assert int(optimizer.iterations.numpy()) == STEPS


@pytest.mark.parametrize("name", NAMES)
def test_mixed_precision_with_loss_scaling_matches_survey_equations(name):
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = build_model()
    assert model.layers[-1].compute_dtype == "float16" and model.trainable_variables[0].dtype == "float32"
    reference = Reference(name, weights(model), **HPARAMS[name])
    optimizer = keras.optimizers.LossScaleOptimizer(optimizers.get(name, **HPARAMS[name]))
    ids, y = batches(STEPS, seed=3)

    def check(t, grads, dense_grads, model):
        reference.step(dense_grads)
        assert_close(weights(model), reference.values(), t + 1)

    run_custom_loop(optimizer, model, ids, y, check)
    assert int(optimizer.iterations.numpy()) == STEPS


def test_sparse_gradient_with_repeated_rows_is_applied_as_its_dense_sum():
    """A row looked up twice gets (g1 + g2)^2 in Adagrad's G; Keras' own Adagrad would add g1^2 + g2^2."""
    g = tf.IndexedSlices(tf.constant([[1.0, 2.0], [3.0, -1.0]]), tf.constant([1, 1]), tf.constant([3, 2]))
    expected = Reference("adagrad", [np.zeros((3, 2))], learning_rate=0.1, epsilon=0.5)
    expected.step([dense(g)])
    ours = keras.Variable(np.zeros((3, 2), "float32"))
    optimizers.Adagrad(learning_rate=0.1, epsilon=0.5).apply([g], [ours])
    np.testing.assert_allclose(ours.numpy(), expected.theta[0], rtol=1e-6)
    theirs = keras.Variable(np.zeros((3, 2), "float32"))
    keras.optimizers.Adagrad(learning_rate=0.1, epsilon=0.5, initial_accumulator_value=0.0).apply([g], [theirs])
    assert not np.allclose(theirs.numpy(), expected.theta[0]), "Keras' Adagrad treats duplicate slices separately"
    sgd = keras.Variable(np.zeros((3, 2), "float32"))
    optimizers.SGD(learning_rate=0.1).apply([g], [sgd])  # stays a scatter; duplicates add up
    np.testing.assert_allclose(sgd.numpy(), -0.1 * dense(g), rtol=1e-6)


def test_adamax_guard_leaves_never_updated_elements_finite_and_still():
    var = keras.Variable(np.ones((2, 2), "float32"))
    optimizer = optimizers.AdaMax(learning_rate=0.1)
    for _ in range(3):
        optimizer.apply([ops.convert_to_tensor([[1.0, 0.0], [-2.0, 0.0]])], [var])
    assert np.all(np.isfinite(var.numpy()))
    np.testing.assert_array_equal(var.numpy()[:, 1], [1.0, 1.0])
    np.testing.assert_allclose(var.numpy()[:, 0], [1.0 - 0.3, 1.0 + 0.3], rtol=1e-5)  # |step| = eta each time


def test_nesterov_variable_is_the_look_ahead_point_on_a_quadratic():
    """Eq. 5 run literally in theta-space (gradient evaluated at theta - gamma v) vs the variable, on J = c/2 x^2."""
    c, eta, gamma = np.array([1.0, 10.0]), 0.02, 0.9
    theta, v = np.array([1.0, -1.0]), np.zeros(2)
    var = keras.Variable(theta.astype("float32"))
    optimizer = optimizers.NesterovMomentum(learning_rate=eta, momentum=gamma)
    for step in range(25):
        v = gamma * v + eta * c * (theta - gamma * v)
        theta = theta - v
        optimizer.apply([ops.multiply(c.astype("float32"), var)], [var])  # the model sees J at the variable
        np.testing.assert_allclose(var.numpy(), theta - gamma * v, rtol=1e-5, atol=1e-6, err_msg=f"step {step}")
        velocity = optimizer._velocities[0].numpy()
        np.testing.assert_allclose(var.numpy() + gamma * velocity, theta, rtol=1e-5, atol=1e-6)


def two_cpu_replicas():
    """MirroredStrategy over the 2 logical CPUs, reducing without collective ops.

    Collective all-reduces of separate strategies in one process share instance keys; a later strategy whose first
    all-reduce has another shape then aborts ("Shape mismatch in the collective instance 100").
    """
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())


@pytest.mark.parametrize("name", fast_subset(NAMES, ("sgd", "nesterov", "adam")))
def test_model_fit_under_mirrored_strategy_matches_single_device_custom_loop(name):
    ids, y = batches(STEPS, seed=5)
    model = build_model()
    run_custom_loop(optimizers.get(name, **HPARAMS[name]), model, ids, y)
    expected = weights(model)

    keras.backend.clear_session()
    strategy = two_cpu_replicas()
    with strategy.scope():
        model = build_model()
        model.compile(optimizer=optimizers.get(name, **HPARAMS[name]), loss="mse")
    history = model.fit(ids.reshape(-1, SEQ), y.reshape(-1, OUT), batch_size=BATCH, epochs=1, shuffle=False,
                        verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(model.optimizer.iterations.numpy()) == STEPS
    assert_close(weights(model), expected, STEPS, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", fast_subset(NAMES + ["noisy_adam"], ("momentum", "adadelta", "adam", "noisy_adam")))
def test_keras_file_with_optimizer_state_reloads_and_continues_identically(name, tmp_path):
    def make():
        if name == "noisy_adam":
            return optimizers.GradientNoise(optimizers.Adam(learning_rate=0.01), eta=0.01, gamma=0.55, seed=4)
        return optimizers.get(name, **HPARAMS[name])

    ids, y = batches(steps=4, seed=7)
    x, y = ids.reshape(-1, SEQ), y.reshape(-1, OUT)
    fit = dict(batch_size=BATCH, shuffle=False, verbose=0)
    model = build_model()
    model.compile(optimizer=make(), loss="mse", run_eagerly=True)
    model.fit(x, y, epochs=1, **fit)
    model.save(tmp_path / "model.keras")
    resumed = keras.saving.load_model(tmp_path / "model.keras")
    assert type(resumed.optimizer) is type(model.optimizer)
    assert int(resumed.optimizer.iterations.numpy()) == 4
    for a, b in zip(resumed.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    model.fit(x, y, epochs=1, **fit)  # the uninterrupted run
    resumed.fit(x, y, epochs=1, **fit)
    for a, b in zip(weights(resumed), weights(model)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    optimizer = optimizers.get(name, **HPARAMS[name], global_clipnorm=2.0)
    config = optimizer.get_config()
    for key, value in HPARAMS[name].items():
        assert config[key] == pytest.approx(value), key
    clone = type(optimizer).from_config(config)
    assert clone.get_config() == config
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is type(optimizer) and restored.get_config() == config


def test_get_by_name_instance_and_errors():
    assert isinstance(optimizers.get("NAdam"), optimizers.Nadam)
    assert optimizers.get(" adam ", learning_rate=0.5).get_config()["learning_rate"] == 0.5
    assert optimizers.get("adamax").get_config()["learning_rate"] == pytest.approx(0.002)
    assert optimizers.get("adagrad").get_config()["learning_rate"] == pytest.approx(0.01)
    assert optimizers.get("rmsprop").get_config()["rho"] == pytest.approx(0.9)
    instance = optimizers.SGD()
    assert optimizers.get(instance) is instance
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'.*nadam"):
        optimizers.get("adamm")
    with pytest.raises(ValueError, match="instance"):
        optimizers.get(instance, learning_rate=0.1)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.get("sgd", momentum=0.9)  # Keras' base class rejects unknown arguments
    with pytest.raises(ValueError, match="momentum"):
        optimizers.get("momentum", momentum=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=0.0)
