"""Learning curve of ESIM on real SNLI: full-dev accuracy against the number of training pairs.

Every point is one ``train_nli`` run of a recipe flag file (default ``recipes/esim_snli100k.flags``) with
``--train_limit=N`` (the first N pairs of its training file), ``--seed=S`` and its own ``--model_dir``; sizes up to
``--multi_seed_up_to`` get every seed of ``--seeds``, larger ones the first seed only. Each run is a subprocess
and resumable (``train_nli`` resumes from its checkpoints; a run with a ``results.json`` is read back, not run
again), so a killed curve continues where it stopped. ``--reuse`` maps a size to a finished run directory of the
same recipe (e.g. the shipped model's run for 100,000). Writes ``learning_curve.json`` and ``learning_curve.png``
into ``--output_dir``, the paper's full-data ESIM (Chen et al. 2017, Table 1: 88.0 % test accuracy with 550,152
pairs and GloVe 840B-300d) marked on the plot.

    python bench/esim_learning_curve.py --sizes=5000,10000,25000,50000 --seeds=0,1 \
        --output_dir=runs/learning_curve --reuse=99890:runs/esim_snli100k
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
from absl import flags, logging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[0] = ROOT  # the project, not bench/

from nli_app import cli, papers  # noqa: E402


def define_flags(flag_values=flags.FLAGS):
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("flagfile_recipe", os.path.join(ROOT, "recipes", "esim_snli100k.flags"),
                        "train_nli flag file every point trains with (its --model_dir and --seed are overridden)",
                        **define)
    flags.DEFINE_list("sizes", ["5000", "10000", "25000", "50000"], "training pairs of each point (--train_limit)",
                      **define)
    flags.DEFINE_list("seeds", ["0", "1"], "seeds of the points up to --multi_seed_up_to pairs", **define)
    flags.DEFINE_integer("multi_seed_up_to", 25000, "sizes above this get only the first seed", **define)
    flags.DEFINE_list("reuse", [], "SIZE:RUN_DIR pairs: finished runs of the same recipe to include as they are",
                      **define)
    flags.DEFINE_list("extra_flags", [], "further train_nli flags for every run, e.g. --epochs=8", **define)
    flags.DEFINE_string("output_dir", os.path.join(ROOT, "runs", "learning_curve"), "where runs and results go",
                        **define)


def _run_point(size, seed, model_dir, recipe, extra):
    results = os.path.join(model_dir, "results.json")
    if not os.path.exists(results):
        command = [sys.executable, "-m", "nli_app.bin.train_nli", f"--flagfile={recipe}", f"--train_limit={size}",
                   f"--seed={seed}", f"--model_dir={model_dir}", "--test_path=", *extra]
        logging.info("training %d pairs, seed %d: %s", size, seed, " ".join(command))
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True)
        with open(os.path.join(model_dir, "curve_wall_seconds.txt"), "w") as f:
            f.write(f"{time.perf_counter() - start:.0f}\n")
    return _point(size, seed, model_dir)


def _point(size, seed, model_dir):
    with open(os.path.join(model_dir, "results.json")) as f:
        results = json.load(f)
    wall, wall_seconds = os.path.join(model_dir, "curve_wall_seconds.txt"), None
    if os.path.exists(wall):
        with open(wall) as f:
            wall_seconds = float(f.read())
    history = results.get("history", {})
    return dict(train_pairs=size, seed=seed, model_dir=os.path.relpath(model_dir, ROOT),
                dev_accuracy=results["splits"]["dev"]["accuracy"],
                train_accuracy=results["splits"].get("train", {}).get("accuracy"),
                epochs=len(history.get("val_accuracy", [])), wall_seconds=wall_seconds)


def summarize(points):
    """{size: {"mean", "min", "max", "n"}} of the dev accuracies, sizes ascending."""
    by_size = {}
    for p in points:
        by_size.setdefault(p["train_pairs"], []).append(p["dev_accuracy"])
    return {size: dict(mean=float(np.mean(v)), min=float(np.min(v)), max=float(np.max(v)), n=len(v))
            for size, v in sorted(by_size.items())}


def plot(points, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    summary = summarize(points)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.scatter([p["train_pairs"] for p in points], [100 * p["dev_accuracy"] for p in points], s=18,
               color="tab:blue", alpha=0.6, label="ESIM, GloVe 6B-50d, one run (SNLI dev)")
    ax.plot(list(summary), [100 * s["mean"] for s in summary.values()], color="tab:blue", marker="o",
            label="mean over seeds")
    ax.scatter([papers.CHEN_TRAIN_PAIRS], [papers.CHEN_TABLE_1["ESIM"]["test"]], marker="*", s=160,
               color="tab:red", zorder=3, label="Chen et al. 2017 ESIM (test, all pairs, 840B-300d)")
    ax.set_xscale("log")
    ax.set_xlabel("training pairs")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("ESIM learning curve on SNLI")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    points = []
    for item in FLAGS.reuse:
        size, _, run_dir = item.partition(":")
        points.append(_point(int(size), 0, os.path.abspath(run_dir)))
    seeds = [int(s) for s in FLAGS.seeds]
    for size in sorted(int(s) for s in FLAGS.sizes):
        for seed in seeds if size <= FLAGS.multi_seed_up_to else seeds[:1]:
            model_dir = os.path.join(os.path.abspath(FLAGS.output_dir), f"n{size}_s{seed}")
            points.append(_run_point(size, seed, model_dir, FLAGS.flagfile_recipe, FLAGS.extra_flags))
            logging.info("%d pairs, seed %d: dev accuracy %.4f", size, seed, points[-1]["dev_accuracy"])
    summary = summarize(points)
    with open(os.path.join(FLAGS.output_dir, "learning_curve.json"), "w") as f:
        json.dump(dict(recipe=os.path.relpath(FLAGS.flagfile_recipe, ROOT), points=points,
                       summary={str(k): v for k, v in summary.items()},
                       paper=dict(train_pairs=papers.CHEN_TRAIN_PAIRS,
                                  test_accuracy=papers.CHEN_TABLE_1["ESIM"]["test"])), f, indent=1)
    plot(points, os.path.join(FLAGS.output_dir, "learning_curve.png"))
    for size, s in summary.items():
        print(f"{size:>7} pairs: dev {100 * s['mean']:.2f} % (min {100 * s['min']:.2f}, max {100 * s['max']:.2f}, "
              f"{s['n']} run{'s' if s['n'] > 1 else ''})")


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
