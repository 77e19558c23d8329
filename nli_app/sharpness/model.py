"""``model_sharpness``: Metric 2.1 of Keskar et al. (ICLR 2017) for any Keras model and dataset.

f is the mean per-example loss (by default the sparse categorical cross-entropy of a softmax output) over the whole
training set or a ``num_examples`` subset, as a function of the model's trainable weights x; the sharpness is
``box_sharpness`` of that f at the model's current weights. The model's weights are restored afterwards.
"""
import numpy as np

from nli_app.sharpness.box import DEFAULT_MAX_EVALUATIONS, box_sharpness, random_subspace


def _as_arrays(data):
    """(features, labels) from a tuple of arrays (features may be a dict) or an unbatched tf.data.Dataset."""
    if isinstance(data, tuple) and len(data) == 2:
        return data
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    if isinstance(data, tf.data.Dataset):
        batches = list(data.batch(4096).as_numpy_iterator())
        if not batches:
            raise ValueError("model_sharpness got an empty dataset")
        cat = lambda *parts: np.concatenate(parts, axis=0)  # noqa: E731
        return tf.nest.map_structure(cat, *batches) if len(batches) > 1 else batches[0]
    raise ValueError(f"data must be a (features, labels) tuple or an unbatched tf.data.Dataset, got {type(data)}")


def _subset(features, labels, num_examples, seed):
    """The examples themselves, or a ``seed``-drawn random subset of ``num_examples`` of them (in data order)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    n = int(np.asarray(labels).shape[0])
    for leaf in tf.nest.flatten(features):
        if np.asarray(leaf).shape[0] != n:
            raise ValueError(f"features have {np.asarray(leaf).shape[0]} rows but labels have {n}")
    if num_examples is None or num_examples >= n:
        return features, labels
    index = np.sort(np.random.default_rng(seed).choice(n, int(num_examples), replace=False))
    take = lambda a: np.asarray(a)[index]  # noqa: E731
    return tf.nest.map_structure(take, features), take(labels)


def _batches(features, labels, batch_size):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    labels = np.asarray(labels)
    return [(tf.nest.map_structure(lambda a, s=s: np.asarray(a)[s:s + batch_size], features),
             labels[s:s + batch_size]) for s in range(0, labels.shape[0], batch_size)]


def flat_objective(model, data, batch_size=4096, num_examples=None, seed=0, loss_fn=None, jit_compile=False):
    """``tf_objective.FlatObjective`` of ``model`` on ``data`` (arguments as ``model_sharpness``)."""
    import keras  # pylint: disable=import-outside-toplevel
    from nli_app.sharpness.tf_objective import FlatObjective  # pylint: disable=import-outside-toplevel
    if loss_fn is None:
        loss_fn = keras.losses.sparse_categorical_crossentropy
    features, labels = _subset(*_as_arrays(data), num_examples, seed)
    return FlatObjective(model, _batches(features, labels, int(batch_size)), loss_fn, jit_compile=jit_compile)


def model_sharpness(model, data, epsilon, subspace_dim=None, method="default", max_iterations=10, seed=0,
                    num_examples=None, batch_size=4096, loss_fn=None, jit_compile=False,
                    max_evaluations=DEFAULT_MAX_EVALUATIONS, search_examples=None):
    """Sharpness phi(eps, A) (percent) of ``model`` at its current weights on ``data``.

    Args:
      model: a built Keras model whose output ``loss_fn`` accepts.
      data: ``(features, labels)`` numpy arrays (features may be a dict, e.g. ESIM's premise/hypothesis) or an
        unbatched ``tf.data.Dataset`` of such pairs.
      epsilon: box size eps.
      subspace_dim: None for the full space (A = I), else p of a random n x p matrix A (seeded by ``seed``).
      method: the maximiser, ``"default"`` (curvature-guided vertex ascent, at most ``max_evaluations`` passes
        over the data) or ``"paper"`` (L-BFGS-B, ``max_iterations`` iterations); see ``nli_app.sharpness.box``.
      max_iterations: L-BFGS-B iterations of ``"paper"``.
      seed: seeds A, the starting point and the subset.
      num_examples: use a random subset of this many examples (None: the whole set).
      batch_size: evaluation batch size (memory only; f is the mean over every example).
      loss_fn: ``loss_fn(labels, predictions) -> per-example losses``; default sparse categorical cross-entropy on
        probabilities.
      jit_compile: XLA-compile the per-batch loss and gradient.
      max_evaluations: ``"default"``: the most evaluations of (f, grad f), each one pass over the examples.
      search_examples: None, or search the maximum on a random subset of this many examples (seeded by ``seed``)
        and evaluate f on all examples only at x and at the point found (``box_sharpness``'s ``search_fun``): the
        cost of a search evaluation falls by n / search_examples.
    Returns:
      ``SharpnessResult`` (``.value``, ``.evaluations``, ...).
    """
    features, labels = _subset(*_as_arrays(data), num_examples, seed)
    objective = flat_objective(model, (features, labels), batch_size, None, seed, loss_fn, jit_compile)
    search = None
    if search_examples is not None and search_examples < objective.count:
        search = flat_objective(model, (features, labels), batch_size, search_examples, seed + 1, loss_fn,
                                jit_compile)
    x0 = objective.x0
    A = None if subspace_dim is None else random_subspace(x0.size, subspace_dim, seed=seed, dtype=np.float32)
    try:
        return box_sharpness(objective, x0, epsilon, A=A, method=method, max_iterations=max_iterations, seed=seed,
                             max_evaluations=max_evaluations, search_fun=search)
    finally:
        objective.assign(x0)
