"""Random dense convex quadratics with exactly known Metric 2.1 maxima (Keskar et al.): the problems on which the
maximisers of ``box`` are measured (tests/test_sharpness.py, bench/sharpness_maximiser.py).

f(z) = F0 + (z - c)^T H (z - c) / 2 with H = B B^T / n (B standard normal) has its minimiser at c; over the box
C_eps (eq. 3 of Keskar et al.) a convex function is largest at a vertex, so enumerating the 2^p vertices of
{y : |y_i| <= b_i} gives max f(c + A y) exactly (numpy only).
"""
import itertools

import numpy as np

from nli_app.sharpness import box_bounds, box_sharpness, random_subspace

F0 = 0.7  # f at the minimiser; Metric 2.1 divides by 1 + f(x)
EPSILON = 1e-2
SPACES = {"full": (14, None), "subspace": (40, 8)}  # space -> (n, p); p None: A = I


def quadratic(H, c):
    """``fun(z) -> (f, grad)`` of F0 + (z - c)^T H (z - c) / 2."""
    return lambda z: (F0 + 0.5 * (z - c) @ H @ (z - c), H @ (z - c))


def exact_sharpness(H, c, epsilon, A=None):
    """Metric 2.1 in percent by enumerating the vertices of C_eps (p <= ~20)."""
    Hp = H if A is None else A.T @ H @ A
    b = box_bounds(c, epsilon, A)
    vertices = np.array(list(itertools.product((-1.0, 1.0), repeat=b.size))) * b
    return 0.5 * float(np.max(np.einsum("vi,ij,vj->v", vertices, Hp, vertices))) / (1 + F0) * 100


def problems(count, space, seed=0):
    """``count`` problems ``(fun, c, A, epsilon, exact_value)`` in ``space`` ("full" or "subspace")."""
    n, p = SPACES[space]
    rng = np.random.default_rng(seed)
    for i in range(count):
        B = rng.standard_normal((n, n))
        H, c = B @ B.T / n, rng.standard_normal(n)
        A = None if p is None else random_subspace(n, p, seed=seed * 1000 + i)
        yield quadratic(H, c), c, A, EPSILON, exact_sharpness(H, c, EPSILON, A)


def found_over_exact(method, space, count=20, seed=0, **kwargs):
    """(ratios found / exact, evaluations) of ``box_sharpness(method=...)`` over ``count`` problems."""
    ratios, evaluations = [], []
    for i, (fun, c, A, eps, exact) in enumerate(problems(count, space, seed)):
        result = box_sharpness(fun, c, eps, A=A, method=method, seed=i, **kwargs)
        ratios.append(result.value / exact)
        evaluations.append(result.evaluations)
    return np.array(ratios), np.array(evaluations)
