"""A 2-D loss surface around a minimiser along filter-normalised random directions (Li et al., NeurIPS 2018,
"Visualizing the Loss Landscape of Neural Nets", Section 4).

    f(alpha, beta) = L(theta + alpha delta + beta eta)                                    (Li et al., eq. 1)

delta and eta are Gaussian random directions with one entry per parameter, rescaled filter by filter:

    d_{i,j} <- d_{i,j} / ||d_{i,j}|| * ||theta_{i,j}||                                       (Li et al., Section 4)

where (i, j) is the j-th filter of layer i: for a Keras kernel (Dense ``[in, out]``, Conv ``[h, w, in, out]``) the
slice along the last axis, one per output unit / channel. As in the paper, one-dimensional parameters (biases,
BatchNorm's gamma and beta) get a zero direction (``ignore_bias_bn=True``, their "ignore biasbn" setting) or,
with ``ignore_bias_bn=False``, are normalised as one filter; BatchNorm's moving statistics are not trainable and stay
fixed, and the network runs in inference mode. Without normalisation the scale of a surface depends on the scale of
the weights (ReLU networks are scale invariant), which makes flatness incomparable across networks.
"""
import numpy as np

from nli_app.sharpness.model import flat_objective


def filter_normalized_direction(weights, rng, ignore_bias_bn=True):
    """A random direction shaped like ``weights`` (a list of arrays), filter-normalised to the weights' norms."""
    direction = []
    for w in weights:
        w = np.asarray(w, dtype=np.float64)
        if w.ndim <= 1:
            d = np.zeros_like(w) if ignore_bias_bn else _rescale(rng.standard_normal(w.shape), w, axes=None)
        else:
            d = _rescale(rng.standard_normal(w.shape), w, axes=tuple(range(w.ndim - 1)))
        direction.append(d)
    return direction


def _rescale(d, w, axes):
    norm_d = np.sqrt(np.sum(d * d, axis=axes, keepdims=axes is not None))
    norm_w = np.sqrt(np.sum(w * w, axis=axes, keepdims=axes is not None))
    return d / np.maximum(norm_d, 1e-30) * norm_w


def surface(loss, x, delta, eta, alphas, betas):
    """f(alpha, beta) = loss(x + alpha delta + beta eta) on the grid: a [len(betas), len(alphas)] array (rows:
    beta, columns: alpha; ``loss`` on flat float64 vectors)."""
    alphas, betas = np.asarray(alphas, np.float64), np.asarray(betas, np.float64)
    if alphas.ndim != 1 or betas.ndim != 1 or not alphas.size or not betas.size:
        raise ValueError(f"alphas and betas must be non-empty 1-D, got shapes {alphas.shape} and {betas.shape}")
    return np.array([[loss(x + a * delta + b * eta) for a in alphas] for b in betas])


def model_loss_surface(model, data, resolution=21, span=1.0, seed=0, ignore_bias_bn=True, num_examples=None,
                       batch_size=4096, loss_fn=None):
    """The filter-normalised 2-D loss surface of ``model`` around its current weights.

    Args:
      model, data, num_examples, batch_size, loss_fn: as ``model_sharpness``.
      resolution: grid points per axis (resolution**2 forward passes over the examples).
      span: alpha and beta run over [-span, span] (1.0 as in Li et al.'s figures).
      seed: seeds the two directions (and the subset).
      ignore_bias_bn: zero direction for 1-D parameters (biases, BatchNorm), as in the paper.
    Returns:
      ``{"alphas": [...], "betas": [...], "loss": [[...]] (rows: beta, columns: alpha)}``.
    """
    if int(resolution) != resolution or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
    if not (np.isfinite(span) and span > 0):
        raise ValueError(f"span must be a finite positive number, got {span!r}")
    objective = flat_objective(model, data, batch_size, num_examples, seed, loss_fn)
    x0 = objective.x0
    rng = np.random.default_rng(seed)
    weights = [np.asarray(v) for v in model.trainable_variables]
    delta, eta = (np.concatenate([d.ravel() for d in filter_normalized_direction(weights, rng, ignore_bias_bn)])
                  for _ in range(2))
    grid = np.linspace(-span, span, int(resolution))
    try:
        loss = surface(objective.loss, x0, delta, eta, grid, grid)
    finally:
        objective.assign(x0)
    return {"alphas": grid.tolist(), "betas": grid.tolist(), "loss": loss.tolist()}
