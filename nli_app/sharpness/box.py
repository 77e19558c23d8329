"""Sharpness of a minimiser, Metric 2.1 of Keskar et al. (ICLR 2017), for a flat function.

    phi_{x,f}(eps, A) = (max_{y in C_eps} f(x + A y) - f(x)) / (1 + f(x)) * 100                    (Metric 2.1)
    C_eps = {z in R^p : -eps (|(A^+ x)_i| + 1) <= z_i <= eps (|(A^+ x)_i| + 1)}                      (eq. 3)

A is the identity (p = n, the full space) or a random n x p matrix (a random subspace, Table 4) and A^+ its
pseudo-inverse. The maximisation is approximate, as in the paper: a few iterations of scipy's L-BFGS-B on -f with
the box bounds.

Starting point. At a minimiser x of f, y = 0 is a stationary point of f(x + A y), so L-BFGS-B started there sees a
zero projected gradient and stops at once, reporting phi = 0. We start instead at y0 = b * s / 2: half-way to the
box boundary b_i = eps (|(A^+ x)_i| + 1), along a random sign vector s in {-1, +1}^p drawn from ``seed`` (the
direction of a random vertex of the box). Every coordinate of y0 is away from 0 and from the bounds, so the solver
gets a non-zero gradient on any non-flat f and can move both outward and inward. The reported maximum is the
largest f seen over every evaluation (L-BFGS-B's final iterate need not be the best it visited).
"""
import dataclasses

import numpy as np
from scipy import optimize


@dataclasses.dataclass(frozen=True)
class SharpnessResult:
    """Outcome of one sharpness measurement.

    value: phi in percent (Metric 2.1); f0: f(x); f_max: the largest f(x + A y) found; y: where it was found;
    evaluations: calls of ``fun`` (including the one at y = 0); iterations: L-BFGS-B iterations; epsilon, subspace_dim
    (None for A = I): the settings.
    """
    value: float
    f0: float
    f_max: float
    y: np.ndarray
    evaluations: int
    iterations: int
    epsilon: float
    subspace_dim: int | None

    def to_json(self):
        return {"value": self.value, "f0": self.f0, "f_max": self.f_max, "evaluations": self.evaluations,
                "iterations": self.iterations, "epsilon": self.epsilon, "subspace_dim": self.subspace_dim}


def random_subspace(n, p, seed=0, dtype=np.float64):
    """A random n x p matrix with standard normal entries (the A of the paper's subspace measurements, Table 4)."""
    if int(p) != p or p < 1 or int(n) != n or n < 1:
        raise ValueError(f"subspace needs positive integer sizes, got n={n!r}, p={p!r}")
    if p > n:
        raise ValueError(f"subspace_dim p={p} exceeds the number of parameters n={n}")
    return np.random.default_rng(seed).standard_normal((int(n), int(p))).astype(dtype)


def box_bounds(x, epsilon, A=None):
    """Half-widths b of the box C_eps (eq. 3): b_i = eps (|(A^+ x)_i| + 1); A None means the identity."""
    x = np.asarray(x, dtype=np.float64)
    if A is None:
        coords = x
    else:
        coords = np.linalg.lstsq(A, x.astype(A.dtype), rcond=None)[0].astype(np.float64)  # A^+ x
    return float(epsilon) * (np.abs(coords) + 1.0)


def _check(x, epsilon, A, max_iterations):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x must be a non-empty 1-D vector, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains non-finite values")
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite positive number, got {epsilon!r}")
    if int(max_iterations) != max_iterations or max_iterations < 1:
        raise ValueError(f"max_iterations must be a positive integer, got {max_iterations!r}")
    if A is not None:
        A = np.asarray(A)
        if A.ndim != 2 or A.shape[0] != x.size or A.shape[1] < 1:
            raise ValueError(f"A must be an n x p matrix with n = {x.size} (the size of x), got shape {A.shape}")
        if not np.issubdtype(A.dtype, np.floating):
            A = A.astype(np.float64)
    return x, A


def box_sharpness(fun, x, epsilon, A=None, max_iterations=10, seed=0):
    """phi_{x,f}(eps, A) of Metric 2.1, maximised by L-BFGS-B over the box C_eps (see the module docstring).

    Args:
      fun: ``fun(z) -> (f, grad)`` on float64 vectors of the size of x (f a float, grad of shape x.shape).
      x: the point (a minimiser), 1-D.
      epsilon: box size eps > 0 (the paper uses 1e-3 and 5e-4).
      A: None for the identity (the full space) or an n x p matrix (a subspace, e.g. ``random_subspace``).
      max_iterations: L-BFGS-B iterations (10 in the paper).
      seed: seed of the random sign vector of the starting point.
    Returns:
      SharpnessResult with ``.value`` the sharpness in percent and ``.evaluations`` the calls of ``fun``.
    """
    x, A = _check(x, epsilon, A, max_iterations)
    bounds = box_bounds(x, epsilon, A)
    state = {"evaluations": 0, "best_f": -np.inf, "best_y": None}

    def evaluate(z):
        f, grad = fun(z)
        state["evaluations"] += 1
        f = float(f)
        grad = np.asarray(grad, dtype=np.float64)
        if grad.shape != x.shape:
            raise ValueError(f"fun returned a gradient of shape {grad.shape}, expected {x.shape}")
        if not np.isfinite(f) or not np.all(np.isfinite(grad)):
            raise ValueError(f"fun returned a non-finite value or gradient (f={f}) after "
                             f"{state['evaluations']} evaluations")
        return f, grad

    def negative(y):
        z = x + (y if A is None else A @ y)
        f, grad = evaluate(z)
        if f > state["best_f"]:
            state["best_f"], state["best_y"] = f, y.copy()
        return -f, -(grad if A is None else A.T @ grad)

    f0, _ = evaluate(x)
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=bounds.size)
    y0 = 0.5 * bounds * signs
    solution = optimize.minimize(negative, y0, jac=True, method="L-BFGS-B",
                                 bounds=optimize.Bounds(-bounds, bounds),
                                 options={"maxiter": int(max_iterations)})
    f_max = max(state["best_f"], f0)
    best_y = state["best_y"] if state["best_f"] >= f0 else np.zeros_like(bounds)
    return SharpnessResult(value=(f_max - f0) / (1.0 + f0) * 100.0, f0=f0, f_max=f_max, y=best_y,
                           evaluations=state["evaluations"], iterations=int(solution.nit),
                           epsilon=float(epsilon), subspace_dim=None if A is None else int(A.shape[1]))
