"""Curvature of the loss at a minimiser beyond Metric 2.1: the Hessian's largest eigenvalue and its trace.

Both need only Hessian-vector products ``hvp(v) -> H v`` on flat float64 vectors (numpy only here; ``model_curvature``
builds exact products for a Keras model by double backpropagation in ``tf_objective``):

* lambda_max: the largest Ritz value of ``steps`` Lanczos steps (``lanczos``); Ritz values converge to the extreme
  eigenvalues first, so 20 steps usually give lambda_max to several digits.
* trace: Hutchinson's estimator tr(H) = E[v^T H v] over Rademacher vectors v (Hutchinson 1990), the mean over
  ``samples`` probes, with its standard error.

Keskar et al. (ICLR 2017) relate large-batch generalisation to large positive eigenvalues of the Hessian at the
minimiser (Section 2.2); Metric 2.1 is their cheaper proxy, these are the direct measures.
"""
import dataclasses

import numpy as np

from nli_app.sharpness.box import positive_int
from nli_app.sharpness.lanczos import lanczos
from nli_app.sharpness.model import flat_objective


def top_eigenvalue(hvp, n, steps=20, seed=0):
    """(lambda_max, unit eigenvector estimate) of the symmetric H given by ``hvp``, from ``steps`` Lanczos steps
    (``steps`` calls of ``hvp``) started at a ``seed``-drawn Gaussian vector."""
    n, steps = positive_int("the number of parameters", n), positive_int("steps", steps)
    Q, T = lanczos(hvp, np.random.default_rng(seed).standard_normal(n), min(steps, n))
    theta, S = np.linalg.eigh(T)
    return float(theta[-1]), Q @ S[:, -1]


def hutchinson_trace(hvp, n, samples=20, seed=0):
    """(estimate, standard error) of tr(H) = E[v^T H v], v with independent +-1 entries (``samples`` calls of
    ``hvp``); the standard error is 0 for one sample."""
    n, samples = positive_int("the number of parameters", n), positive_int("samples", samples)
    rng = np.random.default_rng(seed)
    quads = []
    for _ in range(samples):
        v = rng.choice([-1.0, 1.0], size=n)
        quads.append(float(v @ hvp(v)))
    quads = np.array(quads)
    stderr = float(quads.std(ddof=1) / np.sqrt(quads.size)) if quads.size > 1 else 0.0
    return float(quads.mean()), stderr


@dataclasses.dataclass(frozen=True)
class Curvature:
    """lambda_max and trace of the Hessian of the mean loss at the model's weights; hvps: products used."""
    lambda_max: float
    trace: float
    trace_stderr: float
    hvps: int

    def to_json(self):
        return dataclasses.asdict(self)


def model_curvature(model, data, lanczos_steps=20, trace_samples=20, seed=0, num_examples=None, batch_size=4096,
                    loss_fn=None):
    """Hessian top eigenvalue and trace of the mean loss of ``model`` on ``data`` w.r.t. its trainable weights.

    Arguments ``data``, ``num_examples``, ``batch_size``, ``loss_fn`` as ``model_sharpness`` (layers in inference
    mode: BatchNorm uses its moving statistics, which are not differentiated). Each product is one pass over the
    examples (exact, by double backpropagation). Returns ``Curvature``.
    """
    objective = flat_objective(model, data, batch_size, num_examples, seed, loss_fn)
    x0 = objective.x0
    count = [0]

    def hvp(v):
        count[0] += 1
        return objective.hvp(x0, v)

    try:
        lam, _ = top_eigenvalue(hvp, x0.size, lanczos_steps, seed)
        trace, stderr = hutchinson_trace(hvp, x0.size, trace_samples, seed)
    finally:
        objective.assign(x0)
    return Curvature(lambda_max=lam, trace=trace, trace_stderr=stderr, hvps=count[0])
