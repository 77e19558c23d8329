"""Route logic of the ``nli_app_sharpness`` TensorBoard plugin as plain functions over a ``DataProvider``.

Every function takes a ``tensorboard.data.provider.DataProvider``, the request context and experiment id, and the
request's query parameters (a mapping), and returns a JSON-able dict; bad parameters raise
``tensorboard.errors.InvalidArgumentError`` (400) and unknown runs/tags ``tensorboard.errors.NotFoundError`` (404).
``plugin.py`` only turns these into HTTP responses, so everything here is testable without a server.

The records are those of ``nli_app.summary``: sharpness (Metric 2.1 of Keskar et al., a scalar tensor per step),
curvature (Hessian lambda_max and trace, scalars), surface (Li et al.'s 2-D loss surface, a bordered matrix),
interpolation (Figure 3, a [5, n] tensor) and sweep (Figure 4, a [3, n] tensor).
"""
import math

from tensorboard import errors
from tensorboard.data import provider as provider_lib

from nli_app import summary
from nli_app.stats import STD_LABEL
from nli_app.tensorboard_plugin import table

# Points per time series read from the provider; TensorBoard itself keeps what --samples_per_plugin allows.
MAX_POINTS = 10_000


def _finite_or_none(x):
    x = float(x)
    return x if math.isfinite(x) else None


def _list(provider, ctx, experiment_id, run_tag_filter=None):
    """{run: {tag: settings dict}} for every readable record of this plugin (foreign metadata is skipped)."""
    listing = provider.list_tensors(ctx, experiment_id=experiment_id, plugin_name=summary.PLUGIN_NAME,
                                    run_tag_filter=run_tag_filter)
    out = {}
    for run, tags in listing.items():
        for tag, series in tags.items():
            try:
                settings = summary.parse_content(series.plugin_content)
            except ValueError:
                continue
            if settings["kind"] == "sharpness" and settings.get("version") == 1:
                settings.setdefault("method", "paper")  # version 1 measured with L-BFGS-B only
            out.setdefault(run, {})[tag] = dict(settings, max_step=series.max_step)
    return out


def _read(provider, ctx, experiment_id, run, tag):
    data = provider.read_tensors(ctx, experiment_id=experiment_id, plugin_name=summary.PLUGIN_NAME,
                                 downsample=MAX_POINTS,
                                 run_tag_filter=provider_lib.RunTagFilter(runs=[run], tags=[tag]))
    return data.get(run, {}).get(tag, [])


def _required(args, name):
    value = args.get(name)
    if value is None or value == "":
        raise errors.InvalidArgumentError(f"missing query parameter {name!r}")
    return value


def _lookup(provider, ctx, experiment_id, args, kind):
    """Validate ``run`` and ``tag`` query parameters: both present, and a ``kind`` record exists there."""
    run, tag = _required(args, "run"), _required(args, "tag")
    found = _list(provider, ctx, experiment_id, provider_lib.RunTagFilter(runs=[run], tags=[tag]))
    settings = found.get(run, {}).get(tag)
    if settings is None or settings["kind"] != kind:
        raise errors.NotFoundError(f"no {kind} summary for run {run!r} and tag {tag!r}")
    return run, tag, settings


def tags(provider, ctx, experiment_id, args=None):
    """``/tags``: every run's records by kind: ``{"runs": {run: {kind: [...]}}}`` for every kind of
    ``summary.KINDS``; each entry is the record's settings plus ``tag`` and ``max_step``."""
    del args
    runs = {}
    for run, by_tag in sorted(_list(provider, ctx, experiment_id).items()):
        kinds = {kind: [] for kind in summary.KINDS}
        for tag, settings in sorted(by_tag.items()):
            entry = {k: v for k, v in settings.items() if k not in ("kind", "version")}
            kinds[settings["kind"]].append(dict(entry, tag=tag))
        runs[run] = kinds
    return {"runs": runs}


def sharpness(provider, ctx, experiment_id, args):
    """``/sharpness?run=R&tag=T``: the sharpness time series ``{"run", "tag", "settings", "points": [{"step",
    "wall_time", "value"}]}``."""
    run, tag, settings = _lookup(provider, ctx, experiment_id, args, "sharpness")
    points = [{"step": int(d.step), "wall_time": float(d.wall_time), "value": _finite_or_none(d.numpy)}
              for d in _read(provider, ctx, experiment_id, run, tag)]
    return {"run": run, "tag": tag, "settings": _public(settings), "points": points}


_TABLE_KINDS = ("sharpness", "curvature")
_TABLE_SETTINGS = ("kind", "epsilon", "subspace_dim", "method", "quantity")


def sharpness_table(provider, ctx, experiment_id, args=None):
    """``/sharpness_table``: the latest sharpness and curvature value of every (run, tag) and their mean +- sample
    std (``nli_app.stats.mean_std``) per run group.

    Returns ``{"std": "sample std", "rows": [{run, tag, step, value, kind, epsilon, subspace_dim, method, quantity,
    batch_size, regime, group}], "groups": [{group, tag, mean, std, count, runs, regime, batch_size, kind, epsilon,
    subspace_dim, method, quantity}]}`` (Tables 3-4 of Keskar et al.; settings a kind lacks are None).
    Non-finite latest values are left out of the groups.
    """
    del args
    rows = []
    settings_by_tag = {}
    for run, by_tag in sorted(_list(provider, ctx, experiment_id).items()):
        for tag, settings in sorted(by_tag.items()):
            if settings["kind"] not in _TABLE_KINDS:
                continue
            data = _read(provider, ctx, experiment_id, run, tag)
            if not data:
                continue
            last = max(data, key=lambda d: d.step)
            settings_by_tag.setdefault(tag, settings)
            rows.append({"run": run, "tag": tag, "step": int(last.step), "value": _finite_or_none(last.numpy),
                         **{k: settings.get(k) for k in _TABLE_SETTINGS},
                         "batch_size": settings.get("batch_size"), "regime": settings.get("regime"),
                         "group": table.run_group(run)})
    groups = table.group_rows([r for r in rows if r["value"] is not None])
    for g in groups:
        g.update({k: settings_by_tag[g["tag"]].get(k) for k in _TABLE_SETTINGS})
    return {"std": STD_LABEL, "rows": rows, "groups": groups}


def surface(provider, ctx, experiment_id, args):
    """``/surface?run=R&tag=T[&step=S]``: a 2-D loss surface (latest step unless ``step``) as ``{"run", "tag",
    "step", "alphas": [...], "betas": [...], "loss": [[...]]}`` (rows: beta, columns: alpha)."""
    run, tag, _ = _lookup(provider, ctx, experiment_id, args, "surface")
    datum = _pick_step(_read(provider, ctx, experiment_id, run, tag), args, run, tag)
    tensor = datum.numpy
    if tensor.ndim != 2 or min(tensor.shape) < 2:
        raise errors.NotFoundError(f"run {run!r} tag {tag!r} holds a tensor of shape {tensor.shape}, expected a "
                                   "[1 + len(betas), 1 + len(alphas)] surface")
    return {"run": run, "tag": tag, "step": int(datum.step),
            "alphas": [_finite_or_none(v) for v in tensor[0, 1:]],
            "betas": [_finite_or_none(v) for v in tensor[1:, 0]],
            "loss": [[_finite_or_none(v) for v in row] for row in tensor[1:, 1:]]}


def interpolation(provider, ctx, experiment_id, args):
    """``/interpolation?run=R&tag=T[&step=S]``: one parametric curve (latest step unless ``step``) as
    ``{"run", "tag", "path", "step", "alpha": [...], "train_loss": [...], "test_loss": [...],
    "train_accuracy": [...], "test_accuracy": [...]}``."""
    run, tag, settings = _lookup(provider, ctx, experiment_id, args, "interpolation")
    datum = _pick_step(_read(provider, ctx, experiment_id, run, tag), args, run, tag)
    out = {"run": run, "tag": tag, "path": settings.get("path"), "step": int(datum.step)}
    out.update(_named_rows(datum.numpy, summary.INTERPOLATION_ROWS, run, tag))
    return out


def sweep(provider, ctx, experiment_id, args):
    """``/sweep?run=R&tag=T[&step=S]``: a batch-size sweep as ``{"run", "tag", "step", "batch_size": [...],
    "test_accuracy": [...], "sharpness": [...]}`` sorted by batch size."""
    run, tag, _ = _lookup(provider, ctx, experiment_id, args, "sweep")
    datum = _pick_step(_read(provider, ctx, experiment_id, run, tag), args, run, tag)
    rows = _named_rows(datum.numpy, summary.SWEEP_ROWS, run, tag)
    order = sorted(range(len(rows["batch_size"])), key=lambda i: rows["batch_size"][i])
    out = {"run": run, "tag": tag, "step": int(datum.step)}
    out.update({name: [values[i] for i in order] for name, values in rows.items()})
    return out


def _public(settings):
    return {k: v for k, v in settings.items() if k not in ("kind", "version", "max_step")}


def _pick_step(data, args, run, tag):
    if not data:
        raise errors.NotFoundError(f"no data for run {run!r} and tag {tag!r}")
    step = args.get("step")
    if step is None or step == "":
        return max(data, key=lambda d: d.step)
    try:
        step = int(step)
    except ValueError:
        raise errors.InvalidArgumentError(f"query parameter 'step' must be an integer, got {step!r}") from None
    for d in data:
        if d.step == step:
            return d
    raise errors.NotFoundError(f"no step {step} for run {run!r} and tag {tag!r}")


def _named_rows(tensor, names, run, tag):
    if tensor.ndim != 2 or tensor.shape[0] != len(names):
        raise errors.NotFoundError(
            f"run {run!r} tag {tag!r} holds a tensor of shape {tensor.shape}, expected [{len(names)}, n]")
    return {name: [_finite_or_none(v) for v in row] for name, row in zip(names, tensor)}
