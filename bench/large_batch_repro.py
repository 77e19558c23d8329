"""Keskar et al. (ICLR 2017) Tables 2, 3 and 4 on real data, with trials: F1 on full MNIST and C1 on CIFAR-10.

    python bench/large_batch_repro.py --network=F1 --output_dir=/tmp/lb_repro/f1        # ../shared/data MNIST
    python bench/large_batch_repro.py --network=C1 --output_dir=/tmp/lb_repro/c1        # ../shared/data CIFAR-10

SB (batch 256) and LB (10% of the training set) runs of ADAM (lr 1e-3), ``--trials`` seeds each, trained until the
training loss stops improving for ``--patience`` epochs or ``--epochs`` ends; then train/test accuracy (Table 2) and
sharpness (Metric 2.1) at eps 1e-3 and 5e-4 in the full space (Table 3) and a random n x 100 subspace (Table 4),
on a fixed random subset of ``--sharpness_examples`` training examples, BatchNorm on each evaluation batch's
statistics (``--sharpness_batchnorm``; README: the scale of phi), with each maximiser of ``--methods``
("default" and the paper's L-BFGS-B; keys ``summary.sharpness_tag``: ``sharpness/eps=<e>/<space>/<method>``).
Prints our mean +- std (sample std, ddof=1, over the trials) next to the paper's rows and the LB/SB ratios against
the targets (LB/SB sharpness >= 10x; SB test accuracy above LB by more than the trials' spread).
Resumable: rerun the same command after a kill (finished runs and measurements are reused; a run is named by its
batch size and seed only, so runs trained by ``large_batch`` into the same directory are reused too).
"""
import os
import sys
import time

from absl import app, flags, logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_enum("network", "F1", ["F1", "C1"], "F1 on MNIST or C1 on CIFAR-10")
flags.DEFINE_string("data_path", None, "MNIST .npz / idx directory or CIFAR-10 pickle directory "
                    "(default: ../shared/data/mnist/mnist.npz or ../shared/data/cifar10/cifar-10-batches-py)")
flags.DEFINE_string("output_dir", None, "runs, measurements and JSON (default /tmp/lb_repro/<network>)")
flags.DEFINE_integer("trials", 3, "trials per regime (seeds 0..N-1)")
flags.DEFINE_integer("epochs", 10, "epoch budget per run")
flags.DEFINE_integer("patience", 3, "stop after this many epochs without training-loss improvement")
flags.DEFINE_integer("sharpness_examples", 10000, "training examples in the sharpness objective (0 = all)")
flags.DEFINE_integer("sharpness_iterations", 10, "L-BFGS-B iterations (the paper's 10)")
flags.DEFINE_list("subspace_dims", ["full", "100"], "full space (Table 3) and/or p of a random subspace (Table 4)")
flags.DEFINE_list("epsilons", ["1e-3", "5e-4"], "box sizes (the paper's two)")
flags.DEFINE_list("methods", ["default", "paper"], "sharpness maximisers, each reported")
flags.DEFINE_integer("max_evaluations", 40, "evaluation budget of the 'default' maximiser")
flags.DEFINE_enum("sharpness_batchnorm", "batch", ["batch", "inference"], "BatchNorm in the sharpness objective: "
                  "'batch' statistics as the authors' Keras code (BatchNormalization(mode=2)), or 'inference' "
                  "(moving statistics recalibrated on the training set, the study's default)")

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")
DATA = {"F1": os.path.join(SHARED, "mnist", "mnist.npz"), "C1": os.path.join(SHARED, "cifar10", "cifar-10-batches-py")}
# Keskar et al. 2017, Tables 2 (accuracy %), 3 (full space) and 4 (random 100-dimensional subspace): (mean, std).
PAPER = {
    "F1": {"SB": {"train": (99.66, 0.05), "test": (98.03, 0.07), "eps=0.001/full": (1.23, 0.83),
                  "eps=0.0005/full": (0.61, 0.27), "eps=0.001/p=100": (0.11, 0.00), "eps=0.0005/p=100": (0.05, 0.00)},
           "LB": {"train": (99.92, 0.01), "test": (97.81, 0.07), "eps=0.001/full": (205.14, 69.52),
                  "eps=0.0005/full": (42.90, 17.14), "eps=0.001/p=100": (9.22, 0.56),
                  "eps=0.0005/p=100": (9.17, 0.14)}},
    "C1": {"SB": {"train": (99.89, 0.02), "test": (80.04, 0.12), "eps=0.001/full": (28.58, 3.13),
                  "eps=0.0005/full": (7.08, 0.88), "eps=0.001/p=100": (2.18, 0.23), "eps=0.0005/p=100": (0.71, 0.15)},
           "LB": {"train": (99.66, 0.2), "test": (77.26, 0.42), "eps=0.001/full": (707.23, 43.04),
                  "eps=0.0005/full": (227.31, 23.23), "eps=0.001/p=100": (137.25, 21.60),
                  "eps=0.0005/p=100": (29.50, 7.48)}},
}


def _cell(stats, scale=1.0):
    return f"{scale * stats['mean']:.4g} ± {scale * stats['std']:.2g}"


def tables(network, result):
    """Markdown rows of Tables 2-4, ours (mean ± sample std over trials) next to the paper's."""
    s, paper = result["summary"], PAPER[network]
    keys = list(s["SB"]["sharpness_by_setting"])
    lines = ["| | train % | test % | " + " | ".join(f"φ {k}" for k in keys) + " |",
             "|---|---|---|" + "---|" * len(keys)]
    for regime in ("SB", "LB"):
        r, p = s[regime], paper[regime]
        lines.append(f"| {network} {regime} ({result['batch_sizes'][regime]}), ours | "
                     f"{_cell(r['train_accuracy'], 100)} | {_cell(r['test_accuracy'], 100)} | "
                     + " | ".join(_cell(r["sharpness_by_setting"][k]) for k in keys) + " |")
        paper_keys = [k.split("/", 1)[1].rsplit("/", 1)[0] for k in keys]  # sharpness/eps=<e>/<space>/<method>
        lines.append(f"| {network} {regime}, paper | {p['train'][0]} ± {p['train'][1]} | {p['test'][0]} ± "
                     f"{p['test'][1]} | " + " | ".join(
                         f"{p[k][0]} ± {p[k][1]}" if k in p else "–" for k in paper_keys) + " |")
    ratios = {k: s["LB"]["sharpness_by_setting"][k]["mean"] / max(s["SB"]["sharpness_by_setting"][k]["mean"], 1e-12)
              for k in keys}
    gap = 100 * (s["SB"]["test_accuracy"]["mean"] - s["LB"]["test_accuracy"]["mean"])
    spread = 100 * max(s["SB"]["test_accuracy"]["std"], s["LB"]["test_accuracy"]["std"])
    lines.append("")
    lines.append("LB/SB sharpness (target >= 10x): " + ", ".join(f"{k}: {v:.1f}x" for k, v in ratios.items()))
    trials = len(s["SB"]["test_accuracy"]["values"])
    verdict = ("met" if gap > spread else "NOT met") if trials > 1 else "undecided: one trial has no spread"
    lines.append(f"SB - LB test accuracy: {gap:+.2f} points; larger trial std: {spread:.2f} points "
                 f"(target: gap > spread) -> {verdict}")
    return "\n".join(lines)


def main(argv):
    del argv
    logging.set_verbosity(logging.INFO)
    # pylint: disable=import-outside-toplevel
    from nli_app.large_batch import cifar, mnist, sb_vs_lb
    from nli_app.large_batch.study import SharpnessSettings, Study, TrainSettings, regime_batch_sizes
    from nli_app.train.strategy import make_strategy
    # pylint: enable=import-outside-toplevel
    path = FLAGS.data_path or DATA[FLAGS.network]
    splits = mnist.load(path) if FLAGS.network == "F1" else cifar.load_cifar10(path)
    study = Study(splits, FLAGS.network, FLAGS.output_dir or f"/tmp/lb_repro/{FLAGS.network.lower()}",
                  TrainSettings(optimizer="adam", optimizer_kwargs=(("learning_rate", 1e-3),), epochs=FLAGS.epochs,
                                patience=FLAGS.patience, checkpoint_every_steps=100, log_every_steps=50),
                  SharpnessSettings(epsilons=tuple(float(e) for e in FLAGS.epsilons),
                                    methods=tuple(FLAGS.methods), max_evaluations=FLAGS.max_evaluations,
                                    subspace_dims=tuple(None if d == "full" else int(d) for d in FLAGS.subspace_dims),
                                    max_iterations=FLAGS.sharpness_iterations,
                                    num_examples=FLAGS.sharpness_examples or None,
                                    batchnorm=FLAGS.sharpness_batchnorm),
                  strategy=make_strategy())
    batches = regime_batch_sizes(len(splits.y_train), 256, 0)
    start = time.perf_counter()
    result = sb_vs_lb.run(study, batches, trials=FLAGS.trials)
    print(f"\n{FLAGS.network} on {splits.source}: {len(splits.y_train)} train / {len(splits.y_test)} test, batches "
          f"{batches}, {FLAGS.trials} trials, sharpness on {FLAGS.sharpness_examples or 'all'} training examples, "
          f"{(time.perf_counter() - start) / 60:.1f} min (finished runs reused)\n")
    print(tables(FLAGS.network, result))


if __name__ == "__main__":
    app.run(main)
