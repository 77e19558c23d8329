"""Grouping of runs for the sharpness table (Keskar et al., Tables 3-4: mean +- sample std over the trials of one
setting, ``nli_app.stats.mean_std``).

Trials of one configuration are runs whose names differ only in a trial index that ends one path component of the
run name: ``F1/SB/trial_0`` and ``F1/SB/trial_1`` (group ``F1/SB``), ``lb_seed3`` (group ``lb``), ``C1/LB/2`` (group
``C1/LB``), ``F1/LB/trial_1/train`` (group ``F1/LB/train``). The last component carrying an index loses it; a run
without one is its own group.
"""
import re

from nli_app.stats import mean_std

# A path component's trailing index: separator or start, an optional word naming the index, separator, digits.
_TRIAL_SUFFIX = re.compile(r"(?:^|[_.\-]+)(?:trial|seed|run|rep)?[_=\-]?\d+$", re.IGNORECASE)


def run_group(run):
    """The group name of ``run``: the run name without the trial index of its last indexed path component."""
    parts = run.split("/")
    for i in reversed(range(len(parts))):
        stripped = _TRIAL_SUFFIX.sub("", parts[i])
        if stripped != parts[i]:
            group = "/".join(parts[:i] + ([stripped] if stripped else []) + parts[i + 1:])
            return group or run
    return run


def group_rows(rows):
    """Aggregate per-run rows into per-(group, tag) rows with mean +- std of their latest values.

    Args:
      rows: dicts with at least ``run``, ``tag`` and ``value`` (one per run and tag), plus optional ``regime`` and
        ``batch_size``.
    Returns:
      A list of dicts ``{group, tag, mean, std, count, runs, regime, batch_size}`` sorted by group then tag;
      ``regime`` / ``batch_size`` are the common value of the runs or None when they differ.
    """
    buckets = {}
    for row in rows:
        buckets.setdefault((run_group(row["run"]), row["tag"]), []).append(row)
    out = []
    for (group, tag), members in sorted(buckets.items()):
        mean, std, n = mean_std(r["value"] for r in members)
        regimes = {r.get("regime") for r in members}
        batch_sizes = {r.get("batch_size") for r in members}
        out.append({"group": group, "tag": tag, "mean": mean, "std": std, "count": n,
                    "runs": sorted(r["run"] for r in members),
                    "regime": regimes.pop() if len(regimes) == 1 else None,
                    "batch_size": batch_sizes.pop() if len(batch_sizes) == 1 else None})
    return out
