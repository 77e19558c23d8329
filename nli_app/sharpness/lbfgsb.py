"""scipy's L-BFGS-B on a symmetric box, without ``scipy.optimize.minimize``'s per-coordinate bound handling.

``minimize(method="L-BFGS-B", bounds=...)`` converts the bounds between scipy's two formats and classifies every
coordinate in Python loops before the first iteration: about 5 s of CPU per call at F1's 1.46M weights, where one
evaluation of the sharpness objective on the end-to-end test's 64 examples takes 0.1 s. ``minimize_in_box`` hands
the same arrays, built by numpy in one pass, to the same reverse-communication routine (``setulb``, which
``minimize`` drives the same way), so the iterates and the iteration count are ``minimize``'s
(``tests/test_sharpness.py`` compares them). ``setulb`` is scipy's private entry point; ``setup.cfg`` pins the
scipy whose signature this follows.
"""
import numpy as np
from scipy.optimize import _lbfgsb

# scipy.optimize.minimize's L-BFGS-B defaults: corrections kept, ftol, gtol, line-search steps per iteration.
_MAXCOR = 10
_FTOL = 2.2204460492503131e-09
_GTOL = 1e-5
_MAXLS = 20
# setulb's task codes (scipy/optimize/_lbfgsb_py.py): evaluate f and g at x; a new iterate; stop.
_FG, _NEW_X, _STOP = 3, 1, 5
_ITERATION_LIMIT = 504


def minimize_in_box(fun, x0, bound, max_iterations):
    """Minimises ``fun`` over the box ``-bound <= x <= bound`` from ``x0`` (inside it) for at most
    ``max_iterations`` iterations, as ``scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B",
    bounds=Bounds(-bound, bound), options={"maxiter": max_iterations})`` does; returns the number of iterations.

    ``fun(x) -> (f, grad)`` is called on a fresh float64 copy of each point L-BFGS-B asks for.
    """
    bound = np.asarray(bound, dtype=np.float64)
    n = bound.size
    x = np.array(x0, dtype=np.float64)
    lower, upper = -bound, bound.copy()
    both_bounded = np.full(n, 2, dtype=np.int32)
    f, g = 0.0, np.zeros(n)
    wa = np.zeros(2 * _MAXCOR * n + 5 * n + 11 * _MAXCOR * _MAXCOR + 8 * _MAXCOR)
    iwa = np.zeros(3 * n, dtype=np.int32)
    task, ln_task = np.zeros(2, dtype=np.int32), np.zeros(2, dtype=np.int32)
    lsave, isave, dsave = np.zeros(4, dtype=np.int32), np.zeros(44, dtype=np.int32), np.zeros(29)
    factr = _FTOL / np.finfo(float).eps
    iterations = 0
    while True:
        g = np.asarray(g, dtype=np.float64)
        _lbfgsb.setulb(_MAXCOR, x, lower, upper, both_bounded, f, g, factr, _GTOL, wa, iwa, task, lsave, isave,
                       dsave, _MAXLS, ln_task)
        if task[0] == _FG:
            f, g = fun(x.copy())
        elif task[0] == _NEW_X:
            iterations += 1
            if iterations >= max_iterations:
                task[0], task[1] = _STOP, _ITERATION_LIMIT
        else:
            return iterations
