"""Hessian top eigenvalue (Lanczos) and trace (Hutchinson), and the filter-normalised loss surface (Li et al. 2018),
against explicit Hessians and numpy."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from nli_app.sharpness.curvature import hutchinson_trace, model_curvature, top_eigenvalue
from nli_app.sharpness.landscape import filter_normalized_direction, model_loss_surface, surface
from tests.softmax_reference import softmax_regression


@pytest.fixture(scope="module")
def softmax_problem():
    """A 15-parameter softmax regression, its numpy loss and its explicit Hessian by central differences of the
    analytic numpy gradient."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    y = rng.integers(0, 3, 60)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])

    def grad(z):
        _, gw, gb = softmax_regression(z[:12].reshape(4, 3), z[12:], x.astype(np.float64), y)
        return np.concatenate([gw.ravel(), gb])

    flat = np.concatenate([np.asarray(v, np.float64).ravel() for v in model.get_weights()])
    h = 1e-5
    H = np.stack([(grad(flat + h * e) - grad(flat - h * e)) / (2 * h) for e in np.eye(flat.size)], axis=1)
    loss = lambda z: softmax_regression(z[:12].reshape(4, 3), z[12:], x.astype(np.float64), y)[0]  # noqa: E731
    return model, (x, y), flat, 0.5 * (H + H.T), loss


def test_lanczos_and_hutchinson_on_an_explicit_matrix():
    rng = np.random.default_rng(1)
    B = rng.normal(size=(30, 30))
    H = B @ B.T / 30 - np.eye(30)  # indefinite
    lam, vec = top_eigenvalue(lambda v: H @ v, 30, steps=30)
    assert lam == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-9)
    np.testing.assert_allclose(np.abs(vec @ np.linalg.eigh(H)[1][:, -1]), 1.0, rtol=1e-6)
    trace, stderr = hutchinson_trace(lambda v: H @ v, 30, samples=400, seed=2)
    assert abs(trace - np.trace(H)) < 4 * stderr and stderr > 0
    rademacher = np.random.default_rng(2).choice([-1.0, 1.0], size=(400, 30))  # the same probes in numpy
    assert trace == pytest.approx(np.mean(np.einsum("si,ij,sj->s", rademacher, H, rademacher)), rel=1e-12)
    with pytest.raises(ValueError, match="steps"):
        top_eigenvalue(lambda v: v, 3, steps=0)
    with pytest.raises(ValueError, match="samples"):
        hutchinson_trace(lambda v: v, 3, samples=0)


def test_model_curvature_matches_the_explicit_hessian(softmax_problem):
    model, data, flat, H, _ = softmax_problem
    result = model_curvature(model, data, lanczos_steps=15, trace_samples=300, batch_size=25)
    eigenvalues = np.linalg.eigvalsh(H)
    assert result.lambda_max == pytest.approx(eigenvalues[-1], rel=1e-4)
    assert abs(result.trace - np.trace(H)) < 4 * result.trace_stderr + 1e-5
    assert result.hvps == 315
    np.testing.assert_allclose(np.concatenate([w.ravel() for w in model.get_weights()]), flat, rtol=1e-6)


def test_hvp_of_a_hidden_layer_net_matches_tf_jacobian_hessian():
    """Double backpropagation through tanh + BatchNorm (inference mode) against the Jacobian of the gradient."""
    from nli_app.sharpness.model import flat_objective
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(32, 3)).astype(np.float32), rng.integers(0, 2, 32)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(2, activation="softmax")])
    objective = flat_objective(model, (x, y), batch_size=32)
    x0 = objective.x0
    sizes = [int(np.prod(v.shape)) for v in model.trainable_variables]
    flat = tf.Variable(x0.astype(np.float32))
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            parts = [tf.reshape(p, v.shape) for p, v in zip(tf.split(flat, sizes), model.trainable_variables)]
            logits = model.layers[0].activation(x @ parts[0] + parts[1])
            bn = model.layers[1]
            h = (logits - bn.moving_mean) / tf.sqrt(bn.moving_variance + bn.epsilon) * parts[2] + parts[3]
            p = tf.nn.softmax(h @ parts[4] + parts[5])
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, p))
        g = inner.gradient(loss, flat)
    H = outer.jacobian(g, flat).numpy().astype(np.float64)
    assert float(loss) == pytest.approx(objective.loss(x0), rel=1e-5)
    v = rng.normal(size=x0.size)
    np.testing.assert_allclose(objective.hvp(x0, v), H @ v, rtol=1e-3, atol=1e-5)
    lam, _ = top_eigenvalue(lambda u: objective.hvp(x0, u), x0.size, steps=x0.size)
    assert lam == pytest.approx(np.linalg.eigvalsh(0.5 * (H + H.T))[-1], rel=1e-3)


def test_filter_normalized_direction_matches_each_filter_norm():
    rng = np.random.default_rng(0)
    kernel, conv, bias = rng.normal(size=(5, 3)), rng.normal(size=(2, 2, 3, 4)), rng.normal(size=3)
    d_kernel, d_conv, d_bias = filter_normalized_direction([kernel, conv, bias], rng)
    np.testing.assert_allclose(np.linalg.norm(d_kernel, axis=0), np.linalg.norm(kernel, axis=0), rtol=1e-12)
    np.testing.assert_allclose(np.sqrt((d_conv ** 2).sum(axis=(0, 1, 2))), np.sqrt((conv ** 2).sum(axis=(0, 1, 2))),
                               rtol=1e-12)
    assert not d_bias.any()  # "ignore biasbn"
    _, _, d_bias = filter_normalized_direction([kernel, conv, bias], rng, ignore_bias_bn=False)
    assert np.linalg.norm(d_bias) == pytest.approx(np.linalg.norm(bias))


def test_surface_grid_and_model_surface(softmax_problem):
    model, data, flat, _, loss = softmax_problem
    grid = surface(lambda z: z[0] + 2 * z[1], np.zeros(2), np.array([1.0, 0]), np.array([0, 1.0]), [0, 1, 2], [0, 1])
    np.testing.assert_allclose(grid, [[0, 1, 2], [2, 3, 4]])
    out = model_loss_surface(model, data, resolution=5, span=0.5, seed=4, batch_size=25)
    assert out["alphas"] == pytest.approx([-0.5, -0.25, 0, 0.25, 0.5]) and out["betas"] == out["alphas"]
    values = np.array(out["loss"])
    assert values.shape == (5, 5) and values[2, 2] == pytest.approx(loss(flat), rel=1e-5)
    rng = np.random.default_rng(4)  # the same directions, evaluated in numpy
    weights = [np.asarray(v) for v in model.trainable_variables]
    delta, eta = (np.concatenate([d.ravel() for d in filter_normalized_direction(weights, rng)]) for _ in range(2))
    assert values[0, 4] == pytest.approx(loss(flat + 0.5 * delta - 0.5 * eta), rel=1e-5)
    assert values[4, 1] == pytest.approx(loss(flat - 0.25 * delta + 0.5 * eta), rel=1e-5)
    with pytest.raises(ValueError, match="resolution"):
        model_loss_surface(model, data, resolution=1)
