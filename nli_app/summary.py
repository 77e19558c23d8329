"""TensorBoard summaries for the large-batch study (Keskar et al., ICLR 2017), read by the ``nli_app_sharpness`` plugin.

Five kinds of record, each written into the default ``tf.summary`` writer with ``tf.summary.write``, a
``SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME, content=<JSON of the settings>)`` and
``data_class=DATA_CLASS_TENSOR`` (so ``DataProvider.list_tensors`` lists them):

* ``sharpness``: one value of Metric 2.1, phi(eps, A) in percent (Tables 3-4, Figure 6), a float64 scalar tensor,
  with the maximiser that found it (``method``: "default" or "paper", see ``nli_app.sharpness.box``). Also written
  as a plain scalar so the stock Scalars dashboard shows it.
* ``curvature``: the Hessian's largest eigenvalue and its trace at the minimiser (``nli_app.sharpness.curvature``),
  one float64 scalar record per ``quantity`` (``CURVATURE_QUANTITIES``), also as plain scalars.
* ``surface``: a filter-normalised 2-D loss surface f(alpha, beta) (Li et al. 2018, ``nli_app.sharpness.landscape``),
  a float64 tensor of shape [1 + len(betas), 1 + len(alphas)]: row 0 holds the alphas from column 1, column 0 the
  betas from row 1, and the rest the losses (rows: beta, columns: alpha).
* ``interpolation``: one 1-D parametric curve between two minimisers (Figure 3, Appendix D): the linear path
  f(alpha x_l + (1 - alpha) x_s) or the curved path f(sin(alpha pi/2) x_l + cos(alpha pi/2) x_s); a float64
  tensor of shape [5, n] whose rows are ``INTERPOLATION_ROWS``.
* ``sweep``: test accuracy and sharpness at the final iterate against batch size (Figure 4); a float64 tensor of
  shape [3, n] whose rows are ``SWEEP_ROWS``.

TensorBoard keeps one metadata record per (run, tag), so the settings that tell curves apart are part of the tag:
``sharpness`` writes to ``sharpness_tag(name, epsilon, subspace_dim, method)`` (e.g.
``sharpness/eps=0.001/full/default``, ``sharpness/eps=0.0005/p=100/paper``), ``curvature`` to ``name + "/" +
quantity`` and ``interpolation`` to ``name + "/" + path``. The plain scalar goes to the same tag
plus ``SCALAR_SUFFIX``.
"""
import json
import math

import numpy as np
import tensorflow as tf
from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "nli_app_sharpness"
SCHEMA_VERSION = 2  # 2: sharpness tags and settings carry the maximiser (version 1: L-BFGS-B, "paper")
SCALAR_SUFFIX = "/scalar"
INTERPOLATION_ROWS = ("alpha", "train_loss", "test_loss", "train_accuracy", "test_accuracy")
SWEEP_ROWS = ("batch_size", "test_accuracy", "sharpness")
INTERPOLATION_PATHS = ("linear", "curved")
SHARPNESS_METHODS = ("default", "paper")  # as nli_app.sharpness.METHODS (this module does not import the metric)
CURVATURE_QUANTITIES = ("lambda_max", "trace")
KINDS = ("sharpness", "curvature", "surface", "interpolation", "sweep")


def sharpness_tag(name, epsilon, subspace_dim=None, method="default"):
    """The tag a sharpness measurement is written under: ``name/eps=<epsilon>/(full | p=<subspace_dim>)/<method>``."""
    if method not in SHARPNESS_METHODS:
        raise ValueError(f"method must be one of {SHARPNESS_METHODS}, got {method!r}")
    space = "full" if subspace_dim is None else f"p={int(subspace_dim)}"
    return f"{name}/eps={float(epsilon):g}/{space}/{method}"


def metadata(kind, **settings):
    """``SummaryMetadata`` for this plugin: the settings as JSON in ``plugin_data.content``, tensor data class."""
    if kind not in KINDS:
        raise ValueError(f"summary kind must be one of {KINDS}, got {kind!r}")
    content = {"version": SCHEMA_VERSION, "kind": kind, **settings}
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=json.dumps(content, sort_keys=True).encode("utf-8")),
        data_class=summary_pb2.DATA_CLASS_TENSOR)


def parse_content(content):
    """Inverse of the JSON in ``metadata``: bytes from ``plugin_data.content`` -> dict (raises ValueError)."""
    try:
        settings = json.loads(content.decode("utf-8") if isinstance(content, bytes) else content)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{PLUGIN_NAME} summary metadata is not JSON: {e}") from e
    if not isinstance(settings, dict) or settings.get("kind") not in KINDS:
        raise ValueError(f"{PLUGIN_NAME} summary metadata has no valid 'kind' field: {settings!r}")
    return settings


def _finite_positive(field, value):
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{field} must be a finite positive number, got {value!r}")
    return value


def _optional_positive_int(field, value):
    if value is None:
        return None
    if int(value) != value or value <= 0:
        raise ValueError(f"{field} must be a positive integer or None, got {value!r}")
    return int(value)


def _rows(fields, arrays):
    """Stack equally long 1-D float arrays into a [len(fields), n] float64 matrix, naming the offending field."""
    rows = [np.asarray(a, dtype=np.float64) for a in arrays]
    n = None
    for field, row in zip(fields, rows):
        if row.ndim != 1:
            raise ValueError(f"{field} must be 1-D, got shape {row.shape}")
        if n is None:
            n = row.shape[0]
        elif row.shape[0] != n:
            raise ValueError(f"{field} has {row.shape[0]} values, expected {n} (as {fields[0]})")
    if not n:
        raise ValueError(f"{fields[0]} must not be empty")
    return np.stack(rows)


def _write(tag, tensor, step, summary_metadata):
    return tf.summary.write(tag=tag, tensor=tf.constant(tensor, dtype=tf.float64), step=step,
                            metadata=summary_metadata)


def sharpness(name, value, step, epsilon, subspace_dim=None, batch_size=None, regime=None, method="default"):
    """Write one sharpness measurement phi(epsilon, A) (Metric 2.1, in percent) and the matching plain scalar.

    Args:
      name: tag prefix, e.g. ``"sharpness"``; the tag is ``sharpness_tag(name, epsilon, subspace_dim, method)``.
      value: phi in percent, as Tables 3-4.
      step: the training step (int).
      epsilon: box size epsilon of C_eps.
      subspace_dim: p for a random n x p matrix A, None for the full space (A = I).
      batch_size: the training batch size of the run (optional, shown by the plugin).
      regime: a label such as ``"SB"`` or ``"LB"`` (optional; the plugin's table groups by it).
      method: the maximiser that found the value, ``"default"`` or ``"paper"``.
    Returns:
      A boolean tensor: True if both records were written, False without a default writer (as
      ``tf.summary.write``).
    """
    tag = sharpness_tag(name, epsilon, subspace_dim, method)
    settings = {"epsilon": _finite_positive("epsilon", epsilon),
                "subspace_dim": _optional_positive_int("subspace_dim", subspace_dim), "method": method,
                **_run_settings(batch_size, regime)}
    return _scalar_record(tag, value, step, metadata("sharpness", **settings))


def curvature(name, lambda_max, trace, step, batch_size=None, regime=None):
    """Write the Hessian's largest eigenvalue and trace at the minimiser: tags ``name/lambda_max`` and
    ``name/trace`` (settings ``quantity``, ``batch_size``, ``regime``), each with a plain scalar."""
    written = [_scalar_record(f"{name}/{quantity}", value, step,
                              metadata("curvature", quantity=quantity, **_run_settings(batch_size, regime)))
               for quantity, value in zip(CURVATURE_QUANTITIES, (lambda_max, trace))]
    return tf.logical_and(*written)


def loss_surface(name, alphas, betas, loss, step=0, batch_size=None, regime=None):
    """Write a 2-D loss surface ``loss[i][j] = f(alphas[j], betas[i])`` (Li et al. 2018) under tag ``name``."""
    axes = _rows(("alphas",), (alphas,))[0], _rows(("betas",), (betas,))[0]
    loss = np.asarray(loss, dtype=np.float64)
    if loss.shape != (axes[1].size, axes[0].size):
        raise ValueError(f"loss must have shape [len(betas), len(alphas)] = {[axes[1].size, axes[0].size]}, "
                         f"got {list(loss.shape)}")
    tensor = np.zeros((axes[1].size + 1, axes[0].size + 1))
    tensor[0, 1:], tensor[1:, 0], tensor[1:, 1:] = axes[0], axes[1], loss
    return _write(name, tensor, step, metadata("surface", **_run_settings(batch_size, regime)))


def _run_settings(batch_size, regime):
    return {"batch_size": _optional_positive_int("batch_size", batch_size),
            "regime": None if regime is None else str(regime)}


def _scalar_record(tag, value, step, summary_metadata):
    written = _write(tag, float(value), step, summary_metadata)
    scalar_written = tf.summary.scalar(tag + SCALAR_SUFFIX, float(value), step=step)
    return tf.logical_and(written, scalar_written)


def interpolation(name, alphas, train_loss, test_loss, train_acc, test_acc, path="linear", step=0):
    """Write one 1-D parametric curve between the small-batch x_s and large-batch x_l minimisers (Figure 3).

    ``path="linear"``: f(alpha x_l + (1 - alpha) x_s); ``path="curved"``: f(sin(alpha pi/2) x_l + cos(alpha pi/2)
    x_s). The tag is ``name + "/" + path``; the tensor rows are ``INTERPOLATION_ROWS``.
    """
    if path not in INTERPOLATION_PATHS:
        raise ValueError(f"path must be one of {INTERPOLATION_PATHS}, got {path!r}")
    tensor = _rows(INTERPOLATION_ROWS, (alphas, train_loss, test_loss, train_acc, test_acc))
    return _write(f"{name}/{path}", tensor, step, metadata("interpolation", path=path, rows=list(INTERPOLATION_ROWS)))


def sweep(name, batch_sizes, test_accuracy, sharpness, step=0):  # pylint: disable=redefined-outer-name
    """Write a batch-size sweep (Figure 4): test accuracy and sharpness at the final iterate per batch size."""
    tensor = _rows(SWEEP_ROWS, (batch_sizes, test_accuracy, sharpness))
    if np.any(tensor[0] <= 0):
        raise ValueError(f"batch_sizes must be positive, got {tensor[0].tolist()}")
    return _write(name, tensor, step, metadata("sweep", rows=list(SWEEP_ROWS)))
