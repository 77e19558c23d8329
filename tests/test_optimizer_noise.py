"""Annealed gradient noise (optimizers.GradientNoise, survey eq. 34-35): statistics, seeding, distribution, config."""
import numpy as np
import pytest
import tensorflow as tf

import keras

import optimizers
from optimizers.replicas import summed_replicas

ETA, GAMMA = 0.3, 0.55


def noise_steps(seed=0, steps=5, shape=(200, 200), gradient=0.0):
    """The per-step change of a variable under GradientNoise(SGD(eta=1)) with a constant gradient."""
    optimizer = optimizers.GradientNoise(optimizers.SGD(learning_rate=1.0), eta=ETA, gamma=GAMMA, seed=seed)
    var = keras.Variable(np.zeros(shape, "float32"))
    deltas = []
    for _ in range(steps):
        before = var.numpy()
        optimizer.apply([keras.ops.full(shape, gradient)], [var])
        deltas.append(before - var.numpy())
    return deltas


def test_noise_variance_follows_eq_35_and_is_centred_on_the_gradient():
    deltas = noise_steps(gradient=0.5)
    for t, delta in enumerate(deltas):
        sigma2 = ETA / (1 + t) ** GAMMA
        n = delta.size
        assert delta.var() == pytest.approx(sigma2, rel=0.05), t  # sample-variance sd is sqrt(2/n) = 0.7%
        assert abs(delta.mean() - 0.5) < 5 * np.sqrt(sigma2 / n), t
    assert abs(np.corrcoef(deltas[0].ravel(), deltas[1].ravel())[0, 1]) < 0.03  # fresh draws every step


def test_noise_is_seeded():
    a, b, c = noise_steps(seed=1, steps=2, shape=(50,)), noise_steps(seed=1, steps=2, shape=(50,)), noise_steps(
        seed=2, steps=2, shape=(50,))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], c[0])


def test_sigma_schedule_and_config_round_trip():
    optimizer = optimizers.GradientNoise(optimizers.Adam(learning_rate=0.01), eta=1.0, gamma=0.55, seed=3)
    assert float(optimizer.stddev(0)) == pytest.approx(1.0)
    assert float(optimizer.stddev(9)) == pytest.approx(np.sqrt(1.0 / 10**0.55), rel=1e-6)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, optimizers.GradientNoise) and isinstance(restored.inner_optimizer, optimizers.Adam)
    assert restored.get_config() == optimizer.get_config()
    summed = optimizers.GradientNoise(optimizers.Adam(), summed_gradients=True)
    assert keras.optimizers.deserialize(keras.optimizers.serialize(summed)).summed_gradients is True
    assert isinstance(optimizers.GradientNoise("nadam").inner_optimizer, optimizers.Nadam)
    with pytest.raises(ValueError, match="inner_optimizer"):
        optimizers.GradientNoise(0.1)
    with pytest.raises(ValueError, match="clipnorm"):
        optimizers.GradientNoise(optimizers.SGD(), clipnorm=1.0)


def two_cpu_replicas():
    """MirroredStrategy over the 2 logical CPUs, reducing without collective ops.

    Collective all-reduces of separate strategies in one process share instance keys; a later strategy whose first
    all-reduce has another shape then aborts ("Shape mismatch in the collective instance 100").
    """
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())


def _fit(strategy):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile(optimizer=optimizers.GradientNoise(optimizers.Momentum(learning_rate=0.05), eta=0.3, seed=5),
                      loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)).astype("float32"), rng.normal(size=(40, 3)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


def test_the_noise_share_follows_the_distribution_context():
    # In a replica context (model.fit) the inner optimizer sums 2 shares; elsewhere the gradient is used as given.
    strategy = two_cpu_replicas()
    assert summed_replicas() == 1
    shares = strategy.run(lambda: tf.constant(summed_replicas()))
    assert [int(v) for v in strategy.experimental_local_results(shares)] == [2, 2]
    with strategy.scope():
        assert summed_replicas() == 1  # cross-replica context, where nli_app's trainer applies the summed gradient


def test_two_replicas_add_the_same_noise_as_one_device():
    single = _fit(tf.distribute.get_strategy())
    keras.backend.clear_session()
    mirrored = _fit(two_cpu_replicas())
    for a, b in zip(mirrored, single):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
