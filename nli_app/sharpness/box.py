"""Sharpness of a minimiser, Metric 2.1 of Keskar et al. (ICLR 2017), for a flat function.

    phi_{x,f}(eps, A) = (max_{y in C_eps} f(x + A y) - f(x)) / (1 + f(x)) * 100                    (Metric 2.1)
    C_eps = {z in R^p : -eps (|(A^+ x)_i| + 1) <= z_i <= eps (|(A^+ x)_i| + 1)}                      (eq. 3)

A is the identity (p = n, the full space) or a random n x p matrix (a random subspace, Table 4) and A^+ its
pseudo-inverse. The maximum is approximate: any y in C_eps gives a lower bound, so a better maximiser gives a larger
(truer) phi. Two maximisers (``method``):

``"paper"`` -- the paper's: a few iterations (10) of scipy's L-BFGS-B on -f with the box bounds. At a minimiser x,
y = 0 is stationary, so L-BFGS-B started there would stop at once with phi = 0; it starts instead at y0 = b * s / 2,
half-way to the box boundary b_i = eps (|(A^+ x)_i| + 1) along a random sign vector s drawn from ``seed``. On 20
dense convex quadratics it finds 0.74 (8-dim subspaces) and 0.83 (full space, n = 14) of the true maximum on
average, 0.35 and 0.55 at worst, depending on s.

``"default"`` -- the paper's run, then curvature-guided vertex ascent within ``max_evaluations`` more calls of
``fun`` (40 unless set):
  In the unit cube u in [-1, 1]^p (y = b * u) the objective near x is F(u) ~ f(x) + c.u + u^T M u / 2 with
  c = b * A^T grad f(x) and M = diag(b) A^T H A diag(b). The maximum of a convex function over a box lies at a
  vertex; for a quadratic it is the vertex best aligned with M's leading eigenvectors.
  1. f(x) and c: one evaluation.
  2. The paper's L-BFGS-B run, exactly as ``"paper"`` does it (same start, ``max_iterations``; its evaluations
     do not count against ``max_evaluations``). Every later step can only raise the best value seen, so
     "default" reports at least what "paper" reports for the same (fun, x, eps, A, seed), by construction.
  3. ``lanczos_steps`` (default min(p, 10)) Lanczos steps on M with full re-orthogonalisation; each Hessian-vector
     product is a finite difference of gradients, M v ~ G(v) - G(0) for a unit vector v (a point inside the cube,
     so the secant measures the curvature at the scale of the box): one evaluation each.
  4. No evaluations: the Lanczos model q(u) = c.u + (Q^T u)^T T (Q^T u) / 2 ranks vertices. From the sign
     vectors of the leading Ritz vectors (both signs) and ``seed``-drawn random roundings of Ritz combinations,
     sign ascent on q (u <- sign(grad q(u)) until it repeats) and, for p <= 256, best single flips give candidate
     vertices, best first (the model work is capped, ~100 steps for F1's 1.46M weights).
  5. Sign ascent on the true f from the best ``restarts`` distinct candidates: u <- sign(G(u)), one evaluation a
     step, while f increases. For convex f each step cannot decrease f (f(u') >= f(u) + G(u).(u' - u) >= f(u):
     the conditional-gradient step with unit length), and it stops at a vertex where every gradient component
     points out of the box (a KKT point of the bound-constrained maximisation).
  6. Budget left: L-BFGS-B from the best point found (it stops at once at a KKT vertex, which costs nothing:
     that point's value and gradient are cached), for non-convex f whose maximum is not a vertex.
  With ``search_fun`` the search runs on it, and ``fun`` is evaluated at x, at the paper run's best point and at
  the best point overall; the larger value is reported (so the guarantee holds there too).
  On 20 random dense convex quadratics (n = 14 full space, p = 8 subspaces) it reaches >= 0.95 of the exact
  maximum on average (``bench/sharpness_maximiser.py`` prints the figures).

The reported maximum is the largest f seen over every evaluation (every evaluated point lies in the box).
"""
import dataclasses

import numpy as np
from nli_app.sharpness.lanczos import lanczos
from nli_app.sharpness.lbfgsb import minimize_in_box

METHODS = ("default", "paper")
DEFAULT_MAX_EVALUATIONS = 40
DEFAULT_LANCZOS_STEPS = 10
DEFAULT_RESTARTS = 3
_RANDOM_SURROGATE_STARTS = 16
_MAX_MODEL_STEPS = 50  # sign-ascent steps and single flips on the free Lanczos model, per start
_MODEL_WORK = 3e9  # multiply-adds for the whole search on the model (~100 steps for F1's p = 1.46M)
_MAX_FLIP_DIM = 256  # single flips only in small spaces (one flip changes q by O(1/p) of its value)


@dataclasses.dataclass(frozen=True)
class SharpnessResult:
    """Outcome of one sharpness measurement.

    value: phi in percent (Metric 2.1); f0: f(x); f_max: the largest f(x + A y) found; y: where it was found;
    evaluations: calls of ``fun`` (including the one at y = 0); iterations: L-BFGS-B iterations ("paper") or
    ascent steps on f ("default"); epsilon, subspace_dim (None for A = I): the settings; method: the maximiser;
    search_evaluations: calls of ``search_fun`` (0 without one); paper ("default" only): the result of the paper's
    run it starts with, what method "paper" returns for the same arguments (so measuring both costs one run).
    """
    value: float
    f0: float
    f_max: float
    y: np.ndarray
    evaluations: int
    iterations: int
    epsilon: float
    subspace_dim: int | None
    method: str = "default"
    search_evaluations: int = 0
    paper: "SharpnessResult | None" = None

    def to_json(self):
        return {"value": self.value, "f0": self.f0, "f_max": self.f_max, "evaluations": self.evaluations,
                "iterations": self.iterations, "epsilon": self.epsilon, "subspace_dim": self.subspace_dim,
                "method": self.method, "search_evaluations": self.search_evaluations}


def random_subspace(n, p, seed=0, dtype=np.float64):
    """A random n x p matrix with standard normal entries (the A of the paper's subspace measurements, Table 4)."""
    if int(p) != p or p < 1 or int(n) != n or n < 1:
        raise ValueError(f"subspace needs positive integer sizes, got n={n!r}, p={p!r}")
    if p > n:
        raise ValueError(f"subspace_dim p={p} exceeds the number of parameters n={n}")
    return np.random.default_rng(seed).standard_normal((int(n), int(p))).astype(dtype)


def box_coordinates(x, A=None):
    """A^+ x (float64): x's coordinates in A's columns, which set the widths of the box C_eps (eq. 3); x itself for
    A = I. A least-squares solve (an SVD of A: seconds for F1's 1.46M x 100); it does not depend on eps."""
    x = np.asarray(x, dtype=np.float64)
    if A is None:
        return x
    return np.linalg.lstsq(A, x.astype(A.dtype), rcond=None)[0].astype(np.float64)


def box_bounds(x, epsilon, A=None, coordinates=None):
    """Half-widths b of the box C_eps (eq. 3): b_i = eps (|(A^+ x)_i| + 1); A None means the identity.
    ``coordinates``: A^+ x when already known (``box_coordinates``), else computed."""
    if coordinates is None:
        coordinates = box_coordinates(x, A)
    coordinates = np.asarray(coordinates, dtype=np.float64)
    expected = np.shape(x) if A is None else (np.shape(A)[1],)
    if coordinates.shape != expected:
        raise ValueError(f"coordinates must have shape {expected} (A^+ x), got {coordinates.shape}")
    return float(epsilon) * (np.abs(coordinates) + 1.0)


def linear_vertex(grad, x, epsilon, A=None, coordinates=None):
    """The vertex y = b * sign(A^T grad f(x)) of C_eps (eq. 3) where the first-order model f(x) + grad f(x)^T A y is
    largest (b = ``box_bounds(x, epsilon, A, coordinates)``); ``grad``: grad f(x), of x's size."""
    return box_bounds(x, epsilon, A, coordinates) * np.where(_slope(grad, A) < 0, -1.0, 1.0)


def _slope(grad, A):
    """A^T grad (grad itself for A = I), without a float64 copy of A."""
    grad = np.asarray(grad, dtype=np.float64)
    return grad if A is None else A.T @ grad.astype(A.dtype)


def linear_sharpness(f0, grad, x, epsilon, A=None, coordinates=None):
    """phi (Metric 2.1, percent) of the first-order model f(x) + grad f(x)^T A y, maximised exactly over C_eps (eq. 3)
    at ``linear_vertex``:

        phi_lin = 100 * sum_i b_i |(A^T grad f(x))_i| / (1 + f(x)),   b = ``box_bounds(x, epsilon, A)``.

    For convex f it is a lower bound of phi (f(x + A y) >= f(x) + grad f(x)^T A y); where phi is close to it, phi
    measures the slope of f at x rather than its curvature. For A with N(0, 1) entries (``random_subspace``),
    E |(A^T g)_i| = sqrt(2 / pi) ||g||, so with b_i ~ eps, phi_lin ~ 100 eps p sqrt(2 / pi) ||g|| / (1 + f(x)).
    Arguments as ``linear_vertex``."""
    return 100.0 * float(_slope(grad, A) @ linear_vertex(grad, x, epsilon, A, coordinates)) / (1.0 + float(f0))


def positive_int(name, value):
    """``value`` as an int; ValueError naming ``name`` unless it is a positive integer."""
    if value is None or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check(x, epsilon, A, method):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x must be a non-empty 1-D vector, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains non-finite values")
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite positive number, got {epsilon!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if A is not None:
        A = np.asarray(A)
        if A.ndim != 2 or A.shape[0] != x.size or A.shape[1] < 1:
            raise ValueError(f"A must be an n x p matrix with n = {x.size} (the size of x), got shape {A.shape}")
        if not np.issubdtype(A.dtype, np.floating):
            A = A.astype(np.float64)
    return x, A


class _BudgetSpent(Exception):
    """Raised by ``_CubeObjective`` when a call would exceed its evaluation limit."""


class _CubeObjective:
    """F(u) = f(x + A (b * u)) on the unit cube, with its gradient G(u) = b * A^T grad f; counts evaluations (at most
    ``limit``), remembers the best point and caches the last one (so re-evaluating a point costs nothing)."""

    def __init__(self, fun, x, A, bounds):
        self.fun, self.x, self.A, self.b = fun, x, A, bounds
        self.evaluations = 0
        self.limit = np.inf
        self.best_f, self.best_u, self._best_g = -np.inf, None, None
        self._last = (None, None, None)

    def __call__(self, u):
        for cached_u, f, g in (self._last, (self.best_u, self.best_f, self._best_g)):
            if cached_u is not None and np.array_equal(cached_u, u):
                return f, g
        if self.evaluations >= self.limit:
            raise _BudgetSpent()
        y = self.b * u
        f, grad = self.fun(self.x + (y if self.A is None else self.A @ y.astype(self.A.dtype)))
        self.evaluations += 1
        f = float(f)
        grad = np.asarray(grad, dtype=np.float64)
        if grad.shape != self.x.shape:
            raise ValueError(f"fun returned a gradient of shape {grad.shape}, expected {self.x.shape}")
        if not np.isfinite(f) or not np.all(np.isfinite(grad)):
            raise ValueError(f"fun returned a non-finite value or gradient (f={f}) after "
                             f"{self.evaluations} evaluations")
        g = self.b * _slope(grad, self.A)
        if f > self.best_f:
            self.best_f, self.best_u, self._best_g = f, np.array(u, dtype=np.float64), g
        self._last = (np.array(u, dtype=np.float64), f, g)
        return f, g


def box_sharpness(fun, x, epsilon, A=None, method="default", max_iterations=10, seed=0,
                  max_evaluations=DEFAULT_MAX_EVALUATIONS, lanczos_steps=None, restarts=DEFAULT_RESTARTS,
                  search_fun=None, coordinates=None):
    """phi_{x,f}(eps, A) of Metric 2.1 (percent), maximised over the box C_eps (see the module docstring).

    Args:
      fun: ``fun(z) -> (f, grad)`` on float64 vectors of the size of x (f a float, grad of shape x.shape).
      x: the point (a minimiser), 1-D.
      epsilon: box size eps > 0 (the paper uses 1e-3 and 5e-4).
      A: None for the identity (the full space) or an n x p matrix (a subspace, e.g. ``random_subspace``).
      method: ``"default"`` (the paper's run, then curvature-guided vertex ascent) or ``"paper"`` (L-BFGS-B,
        ``max_iterations``).
      max_iterations: L-BFGS-B iterations of ``"paper"`` (10 in the paper).
      seed: seed of the random starting signs.
      max_evaluations: ``"default"``: the most calls of ``fun`` after the paper's run (each Hessian-vector
        product is one).
      lanczos_steps: ``"default"``: Hessian-vector products for the curvature model (None: min(p, 10)).
      restarts: ``"default"``: candidate vertices the ascent on f starts from.
      search_fun: None, or a cheaper estimate of ``fun`` (same signature; e.g. the loss on a subset of the data)
        that the maximiser searches instead; ``fun`` is then called at x and at the best points found (two or
        three calls), and phi is computed from those values (still a lower bound of the true maximum).
      coordinates: A^+ x when already known (``box_coordinates``; the same for every eps), else computed.
    Returns:
      SharpnessResult with ``.value`` the sharpness in percent, ``.evaluations`` the calls of ``fun``,
      ``.search_evaluations`` those of ``search_fun`` and (``"default"``) ``.paper`` the paper's run's result.
    """
    x, A = _check(x, epsilon, A, method)
    bounds = box_bounds(x, epsilon, A, coordinates)
    objective = _CubeObjective(fun if search_fun is None else search_fun, x, A, bounds)
    f0, c = objective(np.zeros_like(bounds))
    reported = objective  # where phi's values come from: with a search_fun, fun at x and at the points found
    if search_fun is not None:
        reported = _CubeObjective(fun, x, A, bounds)
        f0 = reported(np.zeros_like(bounds))[0]

    def result(found, iterations, method):
        """The SharpnessResult of the search so far, ``found`` its best point(s)."""
        if search_fun is not None:
            for u in found:
                reported(u)
        best_u, f_max = reported.best_u, reported.best_f
        if f_max < f0:
            f_max, best_u = f0, np.zeros_like(bounds)
        return SharpnessResult(value=(f_max - f0) / (1.0 + f0) * 100.0, f0=f0, f_max=f_max, y=bounds * best_u,
                               evaluations=reported.evaluations, iterations=iterations, epsilon=float(epsilon),
                               subspace_dim=None if A is None else int(A.shape[1]), method=method,
                               search_evaluations=0 if search_fun is None else objective.evaluations)

    paper_start = 0.5 * np.random.default_rng(seed).choice([-1.0, 1.0], size=bounds.size)  # half-way to a vertex
    iterations = _lbfgsb(objective, paper_start, positive_int("max_iterations", max_iterations), scale=bounds)
    paper_u = objective.best_u
    paper = result([paper_u], iterations, "paper")
    if method == "paper":
        return paper
    max_evaluations = positive_int("max_evaluations", max_evaluations)
    if max_evaluations < 2:
        raise ValueError(f"max_evaluations must be at least 2, got {max_evaluations}")
    steps = min(bounds.size, DEFAULT_LANCZOS_STEPS if lanczos_steps is None
                else positive_int("lanczos_steps", lanczos_steps), max_evaluations - 1)
    limit = objective.evaluations + max_evaluations
    iterations = _vertex_ascent(objective, c, steps, positive_int("restarts", restarts), limit,
                                np.random.default_rng(seed + 1))
    objective.limit = limit
    if objective.evaluations < limit:
        _lbfgsb(objective, objective.best_u, max_evaluations)
    return dataclasses.replace(result([paper_u, objective.best_u], iterations, "default"), paper=paper)


def _lbfgsb(objective, u0, max_iterations, scale=1.0):
    """Maximise F over the unit cube with L-BFGS-B (``lbfgsb.minimize_in_box``) from u0 for at most
    ``max_iterations`` iterations, in the coordinates v = scale * u (``scale`` = b: the paper's y; 1: the cube's u);
    returns its iteration count (0 if the evaluation limit stopped it)."""
    def negative(v):
        f, g = objective(v / scale)
        return -f, -g / scale
    bound = np.ones(u0.size) * scale
    try:
        return minimize_in_box(negative, u0 * scale, bound, max_iterations)
    except _BudgetSpent:
        return 0


def _signs(v, fallback):
    s = np.sign(v)
    return np.where(s == 0, fallback, s)


def _local_search(s, c, Q, T, diag, max_steps):
    """Sign ascent, then (p <= ``_MAX_FLIP_DIM``) best single flips, on the model q (``_surrogate_vertices``) until
    neither improves q."""
    z = Q.T @ s
    steps = 0
    while steps < max_steps:
        steps += 1
        grad = c + Q @ (T @ z)
        nxt = _signs(grad, s)
        if not np.array_equal(nxt, s):
            s, z = nxt, Q.T @ nxt
            continue
        if s.size > _MAX_FLIP_DIM:
            break
        gain = -2.0 * s * grad + 2.0 * diag  # q(s with s_i flipped) - q(s), exact for a quadratic model
        i = int(np.argmax(gain))
        if gain[i] <= 1e-12 * (1.0 + np.abs(grad).max()):
            break
        z = z - 2.0 * s[i] * Q[i]
        s = s.copy()
        s[i] = -s[i]
    return s, steps


def _surrogate_vertices(c, Q, T, rng, count):
    """Vertices of the cube ranked by the Lanczos model q(u) = c.u + (Q^T u)^T T (Q^T u) / 2 (free: no evaluations
    of f). Starts: the sign vectors of the leading Ritz vectors (both signs) and random roundings sign(V z) of
    Gaussian combinations z of the Ritz vectors V weighted by the square roots of their positive Ritz values;
    each improved by ``_local_search``."""
    def q_value(s):
        z = Q.T @ s
        return float(c @ s + 0.5 * z @ T @ z)

    theta, S = np.linalg.eigh(T)
    order = np.argsort(-theta)
    ritz = Q @ S[:, order]
    weights = np.sqrt(np.maximum(theta[order], 0.0))
    starts = [sign * _signs(ritz[:, j], 1.0) for j in range(min(ritz.shape[1], 4)) for sign in (1.0, -1.0)]
    starts += [_signs(ritz @ (weights * rng.standard_normal(weights.size)), 1.0)
               for _ in range(_RANDOM_SURROGATE_STARTS)]
    diag = np.einsum("ij,jk,ik->i", Q, T, Q)
    # Steps, each ~2 p k multiply-adds, counted as k >= 10: a step's sign and comparison passes over the p
    # coordinates cost as much as its products when k is small (at F1's p: 38 ms a step for k = 3, 73 ms for
    # k = 10), and a model of fewer Ritz vectors has fewer directions to search; so ~100 steps at F1's size.
    work_left = max(len(starts), int(_MODEL_WORK / (2 * Q.shape[0] * max(Q.shape[1], DEFAULT_LANCZOS_STEPS))))
    found = {}
    for s in starts:
        if work_left <= 0:
            break
        s, steps = _local_search(s, c, Q, T, diag, min(_MAX_MODEL_STEPS, work_left))
        work_left -= steps
        found.setdefault(s.tobytes(), (q_value(s), s))
    ranked = sorted(found.values(), key=lambda item: -item[0])
    return [s for _, s in ranked[:count]]


def _vertex_ascent(objective, c, steps, restarts, limit, rng):
    """Steps 3-5 of ``"default"`` (module docstring), until ``objective.evaluations`` reaches ``limit``; returns
    the number of ascent steps on f."""
    g0 = c

    def hvp(v):
        return objective(v)[1] - g0  # secant over a unit step: M v for a quadratic

    Q, T = lanczos(hvp, rng.standard_normal(c.size), steps)
    ascent_steps = 0
    for s in _surrogate_vertices(c, Q, T, rng, restarts):
        if objective.evaluations >= limit:
            break
        f, g = objective(s)
        while objective.evaluations < limit:
            nxt = _signs(g, s)
            if np.array_equal(nxt, s):
                break
            f_next, g_next = objective(nxt)
            ascent_steps += 1
            if f_next <= f:
                break
            s, f, g = nxt, f_next, g_next
    return ascent_steps
