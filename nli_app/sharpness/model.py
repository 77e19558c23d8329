"""``model_sharpness``: Metric 2.1 of Keskar et al. (ICLR 2017) for any Keras model and dataset.

f is the mean per-example loss (by default the sparse categorical cross-entropy of a softmax output) over the whole
training set or a ``num_examples`` subset, as a function of the model's trainable weights x; the sharpness is
``box_sharpness`` of that f at the model's current weights. The model's weights are restored afterwards.
``sharpness_objective`` yields that f itself, for other measurements at the same x (e.g. grad f(x) for
``box.linear_sharpness``).

Choices the paper leaves open are arguments (their effect on F1/MNIST is measured in README.md, "Why our phi is
larger than the paper's"): the loss ``reduction`` (mean or sum), how BatchNorm normalises (``batchnorm``:
"inference" = the stored moving statistics, "batch" = each evaluation batch's own statistics, as the authors' public
Keras code does with ``BatchNormalization(mode=2)``), the evaluation ``batch_size`` (it matters with "batch"), the
examples f is evaluated on (``num_examples``) and the objective's float ``dtype``. x is always the trainable weights
only: BatchNorm moving statistics are not coordinates of x.
"""
import contextlib

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


def _all_layers(layer):
    """``layer``'s sublayers, nested models' included, depth first (Keras' public ``layers`` attribute)."""
    for sub in getattr(layer, "layers", ()):
        yield sub
        yield from _all_layers(sub)


@contextlib.contextmanager
def batch_statistics(model, momentum):
    """Within the block, ``model(x, training=True)`` is the inference-mode function except that every BatchNorm
    layer normalises with the batch's statistics: Dropout rates are 0 and each BatchNorm's moving-average momentum
    is ``momentum`` (1.0 leaves the moving statistics untouched, 0.0 overwrites them with the batch's)."""
    import keras  # pylint: disable=import-outside-toplevel
    layers = list(_all_layers(model))
    norms = [(layer, layer.momentum) for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    drops = [(layer, layer.rate) for layer in layers if isinstance(layer, keras.layers.Dropout)]
    try:
        for layer, _ in norms:
            layer.momentum = momentum
        for layer, _ in drops:
            layer.rate = 0.0
        yield model
    finally:
        for layer, value in norms:
            layer.momentum = value
        for layer, value in drops:
            layer.rate = value


def _in_dtype(model, dtype):
    """``model`` itself when its weights already have ``dtype``, else a copy whose layers compute in ``dtype``."""
    import keras  # pylint: disable=import-outside-toplevel
    if all(v.dtype == dtype for v in model.weights):
        return model

    def clone(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": dtype})

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights([np.asarray(w, dtype) for w in model.get_weights()])
    return copy


def flat_objective(model, data, batch_size=4096, num_examples=None, seed=0, loss_fn=None, jit_compile=False,
                   reduction="mean", training=False):
    """``tf_objective.FlatObjective`` of ``model`` on ``data`` (arguments as ``model_sharpness``)."""
    import keras  # pylint: disable=import-outside-toplevel
    from nli_app.sharpness.tf_objective import FlatObjective  # pylint: disable=import-outside-toplevel
    if loss_fn is None:
        loss_fn = keras.losses.sparse_categorical_crossentropy
    features, labels = _subset(*_as_arrays(data), num_examples, seed)
    return FlatObjective(model, _batches(features, labels, int(batch_size)), loss_fn, jit_compile=jit_compile,
                         reduction=reduction, training=training)


@contextlib.contextmanager
def sharpness_objective(model, data, num_examples=None, search_examples=None, seed=0, batch_size=4096, loss_fn=None,
                        jit_compile=False, reduction="mean", batchnorm="inference", dtype="float32"):
    """Within the block: ``(objective, search)``, the f of Metric 2.1 as ``model_sharpness`` measures it (a
    ``tf_objective.FlatObjective``; ``objective.x0`` the weights x) and its ``search_examples`` subset estimate (None
    without one). Arguments as ``model_sharpness``; the model's weights are restored on exit."""
    if batchnorm not in ("inference", "batch"):
        raise ValueError(f"batchnorm must be 'inference' or 'batch', got {batchnorm!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    measured = _in_dtype(model, dtype)
    features, labels = _subset(*_as_arrays(data), num_examples, seed)
    options = dict(loss_fn=loss_fn, jit_compile=jit_compile, reduction=reduction, training=batchnorm == "batch")
    with batch_statistics(measured, momentum=1.0) if batchnorm == "batch" else contextlib.nullcontext():
        objective = flat_objective(measured, (features, labels), batch_size, None, seed, **options)
        search = None
        if search_examples is not None and search_examples < objective.count:
            search = flat_objective(measured, (features, labels), batch_size, search_examples, seed + 1, **options)
        x0 = objective.x0
        try:
            yield objective, search
        finally:
            objective.assign(x0)


def model_sharpness(model, data, epsilon, subspace_dim=None, method="default", max_iterations=10, seed=0,
                    num_examples=None, batch_size=4096, loss_fn=None, jit_compile=False,
                    max_evaluations=DEFAULT_MAX_EVALUATIONS, search_examples=None, reduction="mean",
                    batchnorm="inference", dtype="float32"):
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
      batch_size: evaluation batch size (memory only with batchnorm="inference": f is over every example).
      loss_fn: ``loss_fn(labels, predictions) -> per-example losses``; default sparse categorical cross-entropy on
        probabilities.
      jit_compile: XLA-compile the per-batch loss and gradient.
      max_evaluations: ``"default"``: the most evaluations of (f, grad f), each one pass over the examples.
      search_examples: None, or search the maximum on a random subset of this many examples (seeded by ``seed``)
        and evaluate f on all examples only at x and at the point found (``box_sharpness``'s ``search_fun``): the
        cost of a search evaluation falls by n / search_examples.
      reduction: "mean" (the paper's average training loss) or "sum" of the per-example losses.
      batchnorm: "inference" (moving statistics) or "batch" (each batch's statistics; see the module docstring).
      dtype: "float32" or "float64": the objective runs on a copy of the model in that dtype when it differs.
    Returns:
      ``SharpnessResult`` (``.value``, ``.evaluations``, ...).
    """
    with sharpness_objective(model, data, num_examples, search_examples, seed, batch_size, loss_fn, jit_compile,
                             reduction, batchnorm, dtype) as (objective, search):
        x0 = objective.x0
        A = None if subspace_dim is None else random_subspace(x0.size, subspace_dim, seed=seed, dtype=np.float32)
        return box_sharpness(objective, x0, epsilon, A=A, method=method, max_iterations=max_iterations, seed=seed,
                             max_evaluations=max_evaluations, search_fun=search)
