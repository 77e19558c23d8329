"""Metric 2.1 (Keskar et al.): box_sharpness on quadratics with known maxima, model_sharpness vs numpy."""
import keras
import numpy as np
import pytest
from scipy import optimize

from nli_app.large_batch.networks import build_f1
from nli_app.nli.models import esim
from nli_app.sharpness import (box_bounds, box_coordinates, box_sharpness, linear_sharpness, linear_vertex,
                               model_sharpness, random_subspace, sharpness_objective)
from nli_app.sharpness.lbfgsb import minimize_in_box
from nli_app.sharpness.model import flat_objective
from nli_app.sharpness.quadratics import F0, exact_sharpness, found_over_exact, quadratic
from tests.softmax_reference import softmax_regression

METHODS = ("default", "paper")


@pytest.mark.parametrize("method", METHODS)
def test_identity_matches_the_analytic_box_maximum(method):
    rng = np.random.default_rng(0)
    n, eps = 30, 1e-2
    d, c = rng.uniform(0.5, 5.0, n), rng.normal(size=n)
    result = box_sharpness(quadratic(np.diag(d), c), c, eps, method=method)
    b = eps * (np.abs(c) + 1.0)                       # C_eps of eq. 3 with A = I
    expected = 0.5 * np.sum(d * b ** 2) / (1 + F0) * 100  # max of a separable convex quadratic: a vertex
    assert result.value == pytest.approx(expected, rel=0.02)
    assert result.f0 == pytest.approx(F0)
    assert 1 < result.evaluations <= (12 if method == "paper" else 12 + 40)
    assert result.subspace_dim is None and result.method == method


@pytest.mark.parametrize("method", METHODS)
def test_random_subspace_matches_the_analytic_box_maximum(method):
    rng = np.random.default_rng(1)
    n, p, eps = 40, 6, 5e-3
    A = random_subspace(n, p, seed=3)
    assert A.shape == (n, p)
    c = rng.normal(size=n)
    d = rng.uniform(1.0, 4.0, p)
    A_pinv = np.linalg.pinv(A)
    H = A_pinv.T @ np.diag(d) @ A_pinv            # so that f(c + A y) = F0 + y^T diag(d) y / 2
    b = eps * (np.abs(A_pinv @ c) + 1.0)
    np.testing.assert_allclose(box_bounds(c, eps, A), b, rtol=1e-9)
    expected = 0.5 * np.sum(d * b ** 2) / (1 + F0) * 100
    result = box_sharpness(quadratic(H, c), c, eps, A=A, method=method)
    assert result.value == pytest.approx(expected, rel=0.02)
    assert result.subspace_dim == p and result.y.shape == (p,)
    assert np.all(np.abs(result.y) <= b * (1 + 1e-12))


def test_linear_sharpness_is_the_box_maximum_of_the_first_order_model():
    A = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, -1.0]])
    x, g, f0, eps = A @ np.array([1.0, -1.0]), np.array([0.5, -1.0, 2.0]), 0.25, 0.1  # x = (1, 1, 1)
    coords = np.linalg.solve(A.T @ A, A.T @ x)  # A^+ x = (1, -1)
    np.testing.assert_allclose(box_coordinates(x, A), [1.0, -1.0], atol=1e-12)
    # b = 0.1 * (|(1, -1)| + 1) = (0.2, 0.2); A^T g = (0.5 - 2, -1 - 2) = (-1.5, -3); sum b |A^T g| = 0.9
    assert linear_sharpness(f0, g, x, eps, A) == pytest.approx(100 * 0.9 / 1.25)
    np.testing.assert_allclose(linear_vertex(g, x, eps, A), [-0.2, -0.2])  # b * sign(A^T g)
    assert linear_sharpness(f0, g, x, eps, A, coordinates=coords) == pytest.approx(100 * 0.9 / 1.25)
    # A = I: b = 0.1 * (2, 2, 2), sum b |g| = 0.2 * (0.5 + 1 + 2)
    assert linear_sharpness(f0, g, x, eps) == pytest.approx(100 * 0.7 / 1.25)
    # ... and a linear f attains it (at the vertex b * sign(A^T g)), with or without the coordinates given
    linear = lambda z: (f0 + g @ (z - x), g)  # noqa: E731
    for given in (None, coords):
        result = box_sharpness(linear, x, eps, A=A, method="paper", coordinates=given)
        assert result.value == pytest.approx(100 * 0.9 / 1.25, rel=1e-9)
        np.testing.assert_allclose(result.y, [-0.2, -0.2])
    with pytest.raises(ValueError, match="coordinates must have shape"):
        box_bounds(x, eps, A, coordinates=x)


@pytest.mark.parametrize("space", ["full", "subspace"])
def test_default_method_finds_the_exact_maximum_of_dense_quadratics(space):
    """20 dense convex quadratics (n = 14 full space; random 40 x 8 subspaces): the default maximiser reaches
    >= 0.95 of the exact (vertex-enumerated) maximum on average and >= 0.85 on each, within 40 evaluations
    average; the paper's L-BFGS-B never exceeds the exact value and does worse."""
    ratios, evaluations = found_over_exact("default", space, count=20)
    assert ratios.mean() >= 0.95 and ratios.min() >= 0.85, ratios
    paper, paper_evaluations = found_over_exact("paper", space, count=20)
    assert np.all(ratios <= 1 + 1e-9) and np.all(evaluations <= paper_evaluations + 40)
    assert np.all(paper <= 1 + 1e-9) and paper.mean() < ratios.mean() - 0.1
    assert np.all(ratios >= paper)  # "default" starts with the paper's run: never below it


def test_default_method_respects_its_budget_and_ends_on_a_vertex():
    rng = np.random.default_rng(2)
    n, eps = 10, 1e-2
    B = rng.normal(size=(n, n))
    H, c = B @ B.T / n, rng.normal(size=n)
    b = box_bounds(c, eps)
    result = box_sharpness(quadratic(H, c), c, eps, max_evaluations=6, lanczos_steps=3)
    paper = box_sharpness(quadratic(H, c), c, eps, method="paper")
    assert paper.evaluations < result.evaluations <= paper.evaluations + 6  # the paper's run, then 6 more
    full = box_sharpness(quadratic(H, c), c, eps)
    assert full.value == pytest.approx(exact_sharpness(H, c, eps), rel=1e-9)
    np.testing.assert_allclose(np.abs(full.y), b, rtol=1e-9)  # on a vertex
    assert result.value <= full.value * (1 + 1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_start_is_away_from_the_stationary_point(method):
    """At a minimiser y = 0 is stationary: a solver started there would report 0."""
    c = np.array([1.0, -2.0])
    result = box_sharpness(quadratic(np.eye(2), c), c, 1e-3, method=method, max_iterations=1)
    assert result.value > 0


@pytest.mark.parametrize("method", METHODS)
def test_flat_function_has_zero_sharpness(method):
    result = box_sharpness(lambda z: (3.0, np.zeros_like(z)), np.ones(4), 1e-3, method=method)
    assert result.value == 0.0


@pytest.mark.parametrize("n, max_iterations", [(5, 10), (14, 10), (50, 3), (200, 1), (200, 40)])
def test_minimize_in_box_takes_scipy_minimizes_steps(n, max_iterations):
    """Same points asked for, in the same order, and the same iteration count as scipy.optimize.minimize's L-BFGS-B
    (stopped by convergence or by the iteration limit), on an indefinite quartic with active bounds."""
    rng = np.random.default_rng(n + max_iterations)
    B = rng.normal(size=(n, n))
    H, c, bound = B @ B.T / n - 0.5 * np.eye(n), rng.normal(size=n), rng.uniform(0.5, 2.0, n)

    def recorded(points):
        def fun(x):
            points.append(np.array(x))
            return float(-(0.5 * x @ H @ x + c @ x + 0.1 * np.sum(x ** 4))), -(H @ x + c + 0.4 * x ** 3)
        return fun

    x0 = 0.5 * bound * rng.choice([-1.0, 1.0], n)
    scipy_points, points = [], []
    solution = optimize.minimize(recorded(scipy_points), x0, jac=True, method="L-BFGS-B",
                                 bounds=optimize.Bounds(-bound, bound), options={"maxiter": max_iterations})
    assert minimize_in_box(recorded(points), x0, bound, max_iterations) == solution.nit
    assert len(points) == len(scipy_points) > 1
    for point, scipy_point in zip(points, scipy_points):
        np.testing.assert_array_equal(point, scipy_point)


@pytest.mark.parametrize("kwargs, message", [
    ({"epsilon": 0.0}, "epsilon"),
    ({"epsilon": float("nan")}, "epsilon"),
    ({"method": "paper", "max_iterations": 0}, "max_iterations"),
    ({"max_evaluations": 0}, "max_evaluations"),
    ({"max_evaluations": 1}, "at least 2"),
    ({"lanczos_steps": 1.5}, "lanczos_steps"),
    ({"method": "lbfgs"}, "method"),
    ({"A": np.ones((3, 2))}, "n x p"),
    ({"x": np.ones((2, 2))}, "1-D"),
    ({"x": np.array([1.0, np.inf])}, "non-finite"),
])
def test_bad_arguments(kwargs, message):
    args = {"fun": lambda z: (0.0, z), "x": np.ones(2), "epsilon": 1e-3, **kwargs}
    with pytest.raises(ValueError, match=message):
        box_sharpness(**args)


def test_bad_function_outputs():
    with pytest.raises(ValueError, match="gradient of shape"):
        box_sharpness(lambda z: (0.0, np.zeros(3)), np.ones(2), 1e-3)
    with pytest.raises(ValueError, match="non-finite"):
        box_sharpness(lambda z: (np.nan, z), np.ones(2), 1e-3)
    with pytest.raises(ValueError, match="exceeds"):
        random_subspace(3, 4)


@pytest.mark.parametrize("subspace_dim, method", [(None, "default"), (5, "default"), (None, "paper")])
def test_model_sharpness_matches_numpy_reference(subspace_dim, method):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    w0, b0 = [np.asarray(v, np.float64) for v in model.get_weights()]

    def fun(z):
        w, b = z[:12].reshape(4, 3), z[12:]
        loss, gw, gb = softmax_regression(w, b, x.astype(np.float64), y)
        return loss, np.concatenate([gw.ravel(), gb])

    flat = np.concatenate([w0.ravel(), b0])
    A = None if subspace_dim is None else random_subspace(15, subspace_dim, seed=0, dtype=np.float32)
    expected = box_sharpness(fun, flat, 0.05, A=A, method=method)
    got = model_sharpness(model, (x, y), 0.05, subspace_dim=subspace_dim, method=method, batch_size=16)
    # The reported values are the numpy loss at x and at the point found, inside the box.
    assert got.f0 == pytest.approx(fun(flat)[0], rel=1e-5)
    found = flat + (got.y if A is None else A.astype(np.float64) @ got.y)
    assert got.f_max == pytest.approx(fun(found)[0], rel=1e-5)
    assert np.all(np.abs(got.y) <= box_bounds(flat, 0.05, A) * (1 + 1e-6))
    # float32 TF and float64 numpy may part ways at the default method's discrete choices (signs, ranking);
    # both must still land on the same maximum within float32 noise.
    assert got.value > 0 and got.value == pytest.approx(expected.value, rel=1e-3)
    np.testing.assert_allclose(model.get_weights()[0], w0, rtol=1e-6)  # weights restored


def test_sharpness_objective_is_the_f_model_sharpness_maximises():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(48, 4)).astype(np.float32), rng.integers(0, 3, 48)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5), keras.layers.BatchNormalization(),
                              keras.layers.Dense(3, activation="softmax")])
    settings = dict(num_examples=30, seed=1, batch_size=16, batchnorm="batch")
    expected = model_sharpness(model, (x, y), 1e-2, subspace_dim=4, method="paper", **settings)
    before = [np.array(w) for w in model.get_weights()]
    with sharpness_objective(model, (x, y), **settings) as (objective, search):
        x0 = objective.x0
        A = random_subspace(x0.size, 4, seed=1, dtype=np.float32)
        got = box_sharpness(objective, x0, 1e-2, A=A, method="paper", seed=1)
        assert search is None and objective.count == 30
    assert expected.value > 0 and got.value == pytest.approx(expected.value, rel=1e-6)
    assert got.f0 == pytest.approx(expected.f0, rel=1e-6)
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)  # weights restored on exit


def test_model_sharpness_on_subset_and_dataset_inputs():
    import tensorflow as tf
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    from_arrays = model_sharpness(model, (x, y), 1e-2)
    from_dataset = model_sharpness(model, tf.data.Dataset.from_tensor_slices((x, y)), 1e-2)
    assert from_dataset.value == pytest.approx(from_arrays.value, rel=1e-5)
    subset = model_sharpness(model, (x, y), 1e-2, num_examples=10)
    assert subset.value > 0 and subset.value != pytest.approx(from_arrays.value, rel=1e-6)
    with pytest.raises(ValueError, match="rows"):
        model_sharpness(model, (x, y[:5]), 1e-2)


def test_search_on_a_subset_reports_values_of_the_full_objective():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 4)).astype(np.float32)
    y = rng.integers(0, 3, 80)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    full = flat_objective(model, (x, y))
    got = model_sharpness(model, (x, y), 0.05, search_examples=20)
    assert got.evaluations in (2, 3) and 2 <= got.search_evaluations <= 12 + 40
    assert got.f0 == pytest.approx(full(full.x0)[0], rel=1e-6)
    A_free = full.x0 + got.y  # A = I: the reported maximum is the full objective at the point found
    assert got.f_max == pytest.approx(full(A_free)[0], rel=1e-5) and got.value > 0
    whole = model_sharpness(model, (x, y), 0.05)
    assert got.value <= whole.value * 1.05 and got.value >= 0.5 * whole.value


@pytest.mark.parametrize("space, search", [(None, False), (3, False), (None, True)])
def test_default_result_carries_the_paper_run(space, search):
    """``default``'s ``.paper`` is what method "paper" returns for the same arguments, field by field."""
    rng = np.random.default_rng(4)
    n, eps = 12, 1e-2
    B = rng.normal(size=(n, n))
    H, c = B @ B.T / n, rng.normal(size=n)
    fun = quadratic(H, c)
    kwargs = dict(A=None if space is None else random_subspace(n, space, seed=1), max_iterations=3,
                  search_fun=quadratic(0.9 * H, c) if search else None)
    default = box_sharpness(fun, c, eps, **kwargs)
    paper = box_sharpness(fun, c, eps, method="paper", **kwargs)
    assert paper.paper is None and default.paper.method == "paper"
    for field in ("value", "f0", "f_max", "evaluations", "iterations", "search_evaluations", "subspace_dim"):
        assert getattr(default.paper, field) == getattr(paper, field), field
    np.testing.assert_array_equal(default.paper.y, paper.y)
    assert default.value >= paper.value and default.evaluations >= paper.evaluations


def _finite_difference_check(objective, x0, seed=0, h=1e-3):
    direction = np.random.default_rng(seed).normal(size=x0.shape)
    direction /= np.linalg.norm(direction)
    f0, grad = objective(x0)
    plus, _ = objective(x0 + h * direction)
    minus, _ = objective(x0 - h * direction)
    return (plus - minus) / (2 * h), float(grad @ direction), f0


def test_flat_objective_gradient_matches_finite_differences_with_batchnorm():
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 16), dtype=np.float32), rng.integers(0, 10, 64)
    keras.utils.set_random_seed(0)  # the same weights whichever tests ran before in this process
    model = build_f1(input_shape=(16,))
    objective = flat_objective(model, (x, y), batch_size=24)
    numeric, analytic, f0 = _finite_difference_check(objective, objective.x0)
    assert numeric == pytest.approx(analytic, rel=2e-2, abs=1e-4)
    assert f0 == pytest.approx(float(np.mean(keras.losses.sparse_categorical_crossentropy(
        y, model(x, training=False)))), rel=1e-5)


@pytest.mark.slow
def test_model_sharpness_runs_on_esim():
    """ESIM (dict inputs, masks, LSTMs, an Embedding's sparse gradient) is just another Keras model."""
    rng = np.random.default_rng(0)
    model = esim.build_esim(vocab_size=30, embedding_dim=6, hidden_units=5)
    premise = rng.integers(4, 30, (12, 7)).astype(np.int32)
    hypothesis = rng.integers(4, 30, (12, 5)).astype(np.int32)
    premise[:, 5:] = 0  # padding
    features, labels = {"premise": premise, "hypothesis": hypothesis}, rng.integers(0, 3, 12)
    result = model_sharpness(model, (features, labels), 1e-2, max_evaluations=8)
    assert result.value > 0 and result.evaluations >= 2
    expected_f0 = float(np.mean(keras.losses.sparse_categorical_crossentropy(labels, model(features))))
    assert result.f0 == pytest.approx(expected_f0, rel=1e-5)
