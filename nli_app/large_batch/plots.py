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
    """Table 2/3 as bars: test accuracy (left panel) and sharpness (right panel), mean +- std per regime."""
    names = list(summary)
    colors = [f"C{i}" for i in range(len(names))]
    fig, (acc, sharp) = plt.subplots(1, 2, figsize=(max(7, 1.6 * len(names)), 3.8))
    acc.bar(names, [100 * summary[n]["test_accuracy"]["mean"] for n in names],
            yerr=[100 * summary[n]["test_accuracy"]["std"] for n in names], color=colors)
    acc.set_ylabel("test accuracy (%)")
    sharp.bar(names, [summary[n]["sharpness"]["mean"] for n in names],
              yerr=[summary[n]["sharpness"]["std"] for n in names], color=colors)
    sharp.set_ylabel("sharpness")
    for ax in (acc, sharp):
        ax.tick_params(axis="x", labelrotation=30 if len(names) > 2 else 0, labelsize=8)
    low = min(100 * summary[n]["test_accuracy"]["mean"] for n in names)
    acc.set_ylim(max(0, low - 10), 100)
    fig.suptitle(title)
    return _save(fig, path)
