"""PNG figures of the large-batch study (matplotlib, Agg backend): Figures 3, 4, 5 and 6 of Keskar et al."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position
from matplotlib import ticker  # noqa: E402  pylint: disable=wrong-import-position


def _log_axis(axis, values=None):
    """Log scale with plain numbers as labels (and ticks at ``values`` when given)."""
    axis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    axis.set_minor_formatter(ticker.NullFormatter())
    if values is not None:
        axis.set_ticks(list(values))


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def parametric(curve, path, title=None):
    """Figure 3: cross-entropy (left axis, blue) and accuracy (right axis, red) along alpha; solid train, dashed
    test; alpha = 0 is the SB minimiser, alpha = 1 the LB one."""
    fig, left = plt.subplots(figsize=(6, 4))
    right = left.twinx()
    a = curve["alpha"]
    left.plot(a, curve["train_loss"], "b-", label="train loss")
    left.plot(a, curve["test_loss"], "b--", label="test loss")
    right.plot(a, [100 * v for v in curve["train_accuracy"]], "r-", label="train accuracy")
    right.plot(a, [100 * v for v in curve["test_accuracy"]], "r--", label="test accuracy")
    left.set_xlabel("alpha (0 = SB minimiser, 1 = LB minimiser)")
    left.set_ylabel("cross-entropy", color="b")
    right.set_ylabel("accuracy (%)", color="r")
    right.set_ylim(0, 100)
    for x in (0, 1):
        left.axvline(x, color="0.7", lw=0.8)
    lines = left.get_lines()[:2] + right.get_lines()
    left.legend(lines, [ln.get_label() for ln in lines], loc="upper center", fontsize=8)
    left.set_title(title or f"{curve['path']} interpolation")
    return _save(fig, path)


def _accuracy_and_sharpness(x, test_accuracy, sharpness, xlabel, ylabels):
    """A figure with test accuracy (left axis, blue, in %) and sharpness (right axis, red) against ``x``."""
    fig, left = plt.subplots(figsize=(6, 4))
    right = left.twinx()
    left.plot(x, [100 * v for v in test_accuracy], "bo-")
    right.plot(x, sharpness, "rs--")
    left.set_xlabel(xlabel)
    left.set_ylabel(ylabels[0], color="b")
    right.set_ylabel(ylabels[1], color="r")
    return fig, left


def sweep(batch_sizes, test_accuracy, sharpness, path, title="batch-size sweep"):
    """Figure 4: test accuracy (left, blue) and sharpness (right, red) at the final iterate vs batch size."""
    fig, left = _accuracy_and_sharpness(batch_sizes, test_accuracy, sharpness, "batch size",
                                        ("test accuracy (%)", "sharpness"))
    left.set_xscale("log")
    _log_axis(left.xaxis, batch_sizes)
    left.set_title(title)
    return _save(fig, path)


def warm_start(epochs, test_accuracy, sharpness, path, title="warm-started LB"):
    """Figure 5: LB test accuracy (left) and sharpness (right) vs number of SB warm-up epochs."""
    fig, left = _accuracy_and_sharpness(epochs, test_accuracy, sharpness, "SB warm-up epochs",
                                        ("LB test accuracy (%)", "LB sharpness"))
    left.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    left.set_title(title)
    return _save(fig, path)


def trajectory(curves, path, title="sharpness vs cross-entropy along training"):
    """Figure 6: sharpness (y) against training cross-entropy (x, decreasing left to right) for each regime;
    ``curves`` maps regime -> {"loss": [...], "sharpness": [...]}."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for (regime, curve), style in zip(curves.items(), ("bo-", "rs-", "g^-", "kd-")):
        ax.plot(curve["loss"], curve["sharpness"], style, label=regime)
    ax.set_xscale("log")
    _log_axis(ax.xaxis)
    ax.invert_xaxis()
    ax.set_xlabel("training cross-entropy")
    ax.set_ylabel("sharpness")
    ax.legend()
    ax.set_title(title)
    return _save(fig, path)


def regimes(summary, path, title="SB vs LB"):
    """Table 2/3 as a figure: test accuracy (left) and sharpness on a log axis (right) per regime, each the mean
    with error bars of +- one sample std over the trials (the lower bar clipped above 0 on the log axis), every
    trial's value drawn as a dot."""
    names = list(summary)
    fig, (acc, sharp) = plt.subplots(1, 2, figsize=(max(7, 1.6 * len(names)), 3.8))
    for i, name in enumerate(names):
        for ax, stats, scale in ((acc, summary[name]["test_accuracy"], 100), (sharp, summary[name]["sharpness"], 1)):
            mean, std = scale * stats["mean"], scale * stats["std"]
            values = [scale * v for v in stats.get("values", [stats["mean"]])]
            lower = min(std, 0.9 * mean) if ax is sharp else std
            ax.errorbar([i], [mean], yerr=[[lower], [std]], fmt="o", color=f"C{i}", capsize=6, ms=8,
                        label=f"{name} (n={len(values)})")
            ax.plot([i + 0.12] * len(values), values, ".", color=f"C{i}", alpha=0.6)
    n = len(summary[names[0]]["test_accuracy"].get("values", [0]))
    acc.set_ylabel(f"test accuracy (%), mean ± std over {n} trial(s)")
    sharp.set_yscale("log")
    _log_axis(sharp.yaxis)
    sharp.yaxis.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))  # labelled: the range may be < 1 decade
    sharp.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
    sharp.set_ylabel("sharpness φ (log scale)")
    for ax in (acc, sharp):
        ax.set_xticks(range(len(names)), names, rotation=30 if len(names) > 2 else 0, fontsize=8)
        ax.set_xlim(-0.6, len(names) - 0.4)
    fig.suptitle(title)
    return _save(fig, path)


def subspace_sharpness(records, paper, path, title="phi in a random subspace against eps"):
    """Metric 2.1 in a random subspace against eps, log-log (bench/subspace_sharpness.py): per run (one colour) phi
    (solid), its first-order model's maximum (dashed) and phi at that model's vertex (dotted); left A with N(0, 1)
    entries, with ``paper``'s points ({regime: {eps: (mean, std)}}, Keskar et al. Table 4) in black, right A's
    columns scaled to unit norm."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    for ax, scale, name in zip(axes, ("normal", "unit"), ("A: N(0, 1) entries (the paper's)", "A: unit columns")):
        for i, record in enumerate(records):
            label = f"{record['regime']} {record['epochs']} epochs, seed {record['seed']}"
            eps = [row["epsilon"] for row in record[scale]]
            for key, style, suffix in (("phi", "o-", "φ"), ("linear", "--", "first-order"),
                                       ("vertex", "x:", "f at its vertex")):
                values = [row[key] if row[key] > 0 else float("nan") for row in record[scale]]  # log axis
                ax.plot(eps, values, style, color=f"C{i}", label=f"{label}: {suffix}")
        if scale == "normal":
            for regime, marker in (("SB", "s"), ("LB", "^")):
                eps = sorted(paper[regime])
                ax.plot(eps, [paper[regime][e][0] for e in eps], marker, color="k", ms=8, mfc="none",
                        label=f"paper Table 4, {regime}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        _log_axis(ax.xaxis, sorted({row["epsilon"] for record in records for row in record[scale]}))
        ax.set_xlabel("ε")
        ax.set_ylabel("φ (%)")
        ax.set_title(name, fontsize=10)
    axes[1].legend(*axes[0].get_legend_handles_labels(), fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(title)
    return _save(fig, path)
