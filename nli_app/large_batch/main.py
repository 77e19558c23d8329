"""``large_batch``: the experiments of Keskar et al. (ICLR 2017) on the project's tf.distribute trainer.

    large_batch --experiment=sb_vs_lb,parametric --output_dir=/tmp/lb          # shipped 10,000-image MNIST sample
    large_batch sweep --dataset=mnist --data_path=/data/mnist.npz --output_dir=/tmp/lb
    large_batch perf_model                                                     # Appendix C table only

Experiments (a positional sub-command or ``--experiment``, comma-separated, or ``all``): ``sb_vs_lb`` (Tables 2-4),
``parametric`` (Figure 3 and Appendix D), ``sweep`` (Figure 4), ``warm_start`` (Figure 5), ``trajectory``
(Figure 6 and the distance ratio), ``remedies`` (Section 4 / Appendix E), ``perf_model`` (Appendix C). Each writes
``<name>.json`` and PNGs into ``--output_dir`` and TensorBoard summaries under ``--output_dir/logs``. Rerunning the
same command after a kill resumes: finished runs are reused, unfinished ones continue from their checkpoints.
"""
import json
import os

from absl import app, flags, logging

from nli_app.absl_flags import define_once
from nli_app.large_batch import mnist, perf_model
from nli_app.train import flags as train_flags
from nli_app.large_batch.study import regime_batch_sizes
from nli_app.sharpness.box import METHODS

EXPERIMENTS = ("sb_vs_lb", "parametric", "sweep", "warm_start", "trajectory", "remedies", "perf_model")
DEFAULT_NETWORK = {"mnist": "F1", "timit": "F2", "cifar10": "C1", "cifar100": "C3"}
PAPER = {"F1": {"SB": "train 99.66 +- 0.05%  test 98.03 +- 0.07%  sharpness eps=1e-3: 1.23 +- 0.83, "
                      "eps=5e-4: 0.61 +- 0.27",
                "LB": "train 99.92 +- 0.01%  test 97.81 +- 0.07%  sharpness eps=1e-3: 205.14 +- 69.52, "
                      "eps=5e-4: 42.90 +- 17.14"}}

FLAGS = flags.FLAGS
# The trainer's shared flags (--optimizer, --learning_rate, --epochs, --max_steps, --num_cpu_replicas,
# --checkpoint_every_steps, --verbose, ...) come from nli_app.train.flags; this binary's own are defined below,
# each only if no other module of the process defined it first (absl flags are process-global).
DEFAULTS = {"epochs": 10, "verbose": 0}  # this binary's defaults for shared flags the user did not set


define_once(flags.DEFINE_list, "experiment", [], f"experiments to run: {', '.join(EXPERIMENTS)} or 'all'")
define_once(flags.DEFINE_enum, "dataset", "mnist", sorted(DEFAULT_NETWORK), "data format of --data_path")
define_once(flags.DEFINE_string, "data_path", None, "MNIST .npz or idx directory, CIFAR pickle directory, TIMIT .npz; "
            "default: the shipped MNIST sample (10,000 train + 2,000 test images)")
define_once(flags.DEFINE_string, "network", None, "F1, F2, C1-C4 (default: the paper's network for --dataset)")
define_once(flags.DEFINE_integer, "num_train", 0, "use the first N training examples (0 = all)")
define_once(flags.DEFINE_integer, "num_test", 0, "use the first N test examples (0 = all)")
define_once(flags.DEFINE_string, "output_dir", None, "where JSON, PNG, TensorBoard logs and checkpoints go "
            "(default: runs/large_batch)")
define_once(flags.DEFINE_integer, "sb_batch_size", -1, "small batch; -1: 256, or N/64 (at least 8) when the training "
            "set has fewer than 16,384 examples")
define_once(flags.DEFINE_integer, "lb_batch_size", 0, "large batch; 0: 10% of the training set (the paper's LB)")
define_once(flags.DEFINE_integer, "trials", 2, "trials per regime (seeds 0..N-1)")
define_once(flags.DEFINE_integer, "patience", 3, "stop when the training loss has not improved for this many epochs "
            "(0 = never)")
define_once(flags.DEFINE_bool, "recalibrate_bn", True, "recompute BatchNorm statistics on the training set before "
            "measuring")
define_once(flags.DEFINE_list, "epsilons", ["1e-3", "5e-4"], "sharpness box sizes (Table 3)")
define_once(flags.DEFINE_list, "subspace_dims", ["full"],
            "sharpness spaces: 'full' (A = I) and/or p (a random n x p A, Table 4)")
define_once(flags.DEFINE_list, "sharpness_methods", ["default", "paper"], "sharpness maximisers, each reported: "
            "'default' (curvature-guided vertex ascent) and/or 'paper' (L-BFGS-B); the first is the primary")
define_once(flags.DEFINE_integer, "sharpness_iterations", 10, "L-BFGS-B iterations of the 'paper' maximiser")
define_once(flags.DEFINE_integer, "sharpness_max_evaluations", 40, "(f, grad) evaluations of the 'default' maximiser")
define_once(flags.DEFINE_integer, "sharpness_examples", 0, "training examples in the sharpness objective (0 = all)")
define_once(flags.DEFINE_enum, "sharpness_reduction", "mean", ["mean", "sum"], "sharpness objective f: mean or sum of "
            "the per-example training losses")
define_once(flags.DEFINE_enum, "sharpness_batchnorm", "inference", ["inference", "batch"], "BatchNorm in the "
            "sharpness objective: moving statistics, or each evaluation batch's own (the authors' Keras mode=2)")
define_once(flags.DEFINE_integer, "sharpness_batch_size", 4096, "evaluation batch of the sharpness objective")
define_once(flags.DEFINE_enum, "sharpness_dtype", "float32", ["float32", "float64"], "float type of the sharpness "
            "objective")
define_once(flags.DEFINE_integer, "num_alphas", 25, "points on the parametric paths, alpha in [-1, 2]")
define_once(flags.DEFINE_list, "sweep_batch_sizes", [], "batch sizes of the sweep (default: SB, 4 sizes between, LB)")
define_once(flags.DEFINE_integer, "warm_epochs", 3, "SB warm-up epochs for the warm-start experiment")
define_once(flags.DEFINE_list, "remedies", ["augmentation", "conservative", "adversarial", "dynamic_sampling"],
            "remedies to run")
define_once(flags.DEFINE_float, "proximal_lambda", 1e-3, "conservative training: lambda of the proximal term")
define_once(flags.DEFINE_integer, "inner_steps", 3, "conservative training: optimizer steps per batch")
define_once(flags.DEFINE_float, "adversarial_epsilon", 0.02, "adversarial training: FGSM step")
define_once(flags.DEFINE_integer, "max_shift", -1, "data augmentation: largest translation in pixels; -1: image side / "
            "14 (2 for MNIST and CIFAR)")
define_once(flags.DEFINE_integer, "stage_epochs", 1, "dynamic sampling: epochs per batch-size stage")
define_once(flags.DEFINE_list, "perf_batch_ratios", ["0.01", "0.05", "0.1", "0.5"], "Appendix C: B_s / B_l values")
define_once(flags.DEFINE_list, "perf_efficiencies", ["0.1", "0.2", "0.5", "1.0"], "Appendix C: f_s(P) values")


def _shared(name):
    """A shared trainer flag's value, with this binary's default when the user did not set it."""
    return FLAGS[name].value if FLAGS[name].present or name not in DEFAULTS else DEFAULTS[name]


def load_splits(dataset, path):
    """Splits of ``dataset`` read from ``path`` with the real-format loaders."""
    from nli_app.large_batch import cifar, timit  # pylint: disable=import-outside-toplevel
    if dataset == "mnist":
        return mnist.load(path)
    if dataset == "cifar10":
        return cifar.load_cifar10(path)
    if dataset == "cifar100":
        return cifar.load_cifar100(path)
    return timit.load(path)


def sweep_sizes(sb, lb, values):
    if values:
        return [int(v) for v in values]
    import numpy as np  # pylint: disable=import-outside-toplevel
    return sorted({int(round(b)) for b in np.geomspace(sb, lb, 6)})


def _experiments(argv):
    names = list(FLAGS.experiment) + list(argv[1:])
    if not names:
        raise app.UsageError(f"name an experiment: one of {', '.join(EXPERIMENTS)} or 'all'")
    if "all" in names:
        return list(EXPERIMENTS)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise app.UsageError(f"unknown experiment(s) {unknown}; choose from {', '.join(EXPERIMENTS)}")
    return names


def run_perf_model(output_dir):
    from nli_app.large_batch.study import atomic_json  # pylint: disable=import-outside-toplevel
    rows = perf_model.table([float(v) for v in FLAGS.perf_batch_ratios], [float(v) for v in FLAGS.perf_efficiencies])
    print(perf_model.format_table(rows))
    atomic_json(os.path.join(output_dir, "perf_model.json"), {"rows": rows})
    return {"rows": rows}


def main(argv):
    names = _experiments(argv)
    output_dir = FLAGS.output_dir or "runs/large_batch"
    os.makedirs(output_dir, exist_ok=True)
    results = {}
    if "perf_model" in names:
        results["perf_model"] = run_perf_model(output_dir)
        names.remove("perf_model")
    if not names:
        return
    # pylint: disable=import-outside-toplevel
    from nli_app.large_batch import parametric_plots, remedies, sb_vs_lb, sweep, trajectory, warm_start
    from nli_app.large_batch.study import SharpnessSettings, Study, TrainSettings
    # pylint: enable=import-outside-toplevel

    unknown = sorted(set(FLAGS.sharpness_methods) - set(METHODS))
    if unknown or not FLAGS.sharpness_methods:
        raise app.UsageError(f"--sharpness_methods: {unknown or 'none'}; choose from {', '.join(METHODS)}")
    strategy = train_flags.strategy_from_flags()
    splits = load_splits(FLAGS.dataset, FLAGS.data_path or mnist.SAMPLE_PATH)
    splits = splits.subset(FLAGS.num_train or None, FLAGS.num_test or None)
    network = FLAGS.network or DEFAULT_NETWORK[FLAGS.dataset]
    logging.info("%s: %d train / %d test examples of shape %s, %d classes, network %s", splits.source,
                 len(splits.y_train), len(splits.y_test), splits.input_shape, splits.num_classes, network)
    study = Study(
        splits, network, output_dir,
        TrainSettings(optimizer=FLAGS.optimizer,
                      optimizer_kwargs=tuple(sorted(train_flags.optimizer_kwargs_from_flags().items())),
                      epochs=_shared("epochs"), max_steps=FLAGS.max_steps or None,
                      checkpoint_every_steps=FLAGS.checkpoint_every_steps or None,
                      log_every_steps=FLAGS.log_every_steps, patience=FLAGS.patience or None,
                      verbose=_shared("verbose"), recalibrate_bn=FLAGS.recalibrate_bn),
        SharpnessSettings(epsilons=tuple(float(e) for e in FLAGS.epsilons),
                          subspace_dims=tuple(None if d == "full" else int(d) for d in FLAGS.subspace_dims),
                          max_iterations=FLAGS.sharpness_iterations, methods=tuple(FLAGS.sharpness_methods),
                          max_evaluations=FLAGS.sharpness_max_evaluations,
                          num_examples=FLAGS.sharpness_examples or None, reduction=FLAGS.sharpness_reduction,
                          batchnorm=FLAGS.sharpness_batchnorm, batch_size=FLAGS.sharpness_batch_size,
                          dtype=FLAGS.sharpness_dtype),
        strategy=strategy)
    batches = regime_batch_sizes(len(splits.y_train), FLAGS.sb_batch_size, FLAGS.lb_batch_size)
    logging.info("regimes: %s", batches)
    for name in names:
        logging.info("experiment %s", name)
        if name == "sb_vs_lb":
            results[name] = sb_vs_lb.run(study, batches, trials=FLAGS.trials)
            print(sb_vs_lb.format_rows(results[name], PAPER.get(network)))
        elif name == "parametric":
            results[name] = parametric_plots.run(study, batches, num_alphas=FLAGS.num_alphas)
        elif name == "sweep":
            results[name] = sweep.run(study, sweep_sizes(batches["SB"], batches["LB"], FLAGS.sweep_batch_sizes))
        elif name == "warm_start":
            results[name] = warm_start.run(study, batches["SB"], batches["LB"], warm_epochs=FLAGS.warm_epochs)
        elif name == "trajectory":
            results[name] = trajectory.run(study, batches)
            print(f"distance ratio ||x_s - x0|| / ||x_l - x0|| = {results[name]['distance_ratio_sb_over_lb']:.3f}")
        elif name == "remedies":
            from nli_app.large_batch.augmentation import image_shape_of  # pylint: disable=C0415
            shift = FLAGS.max_shift if FLAGS.max_shift >= 0 else max(1, image_shape_of(splits.input_shape)[0] // 14)
            settings = remedies.RemedySettings(max_shift=shift, proximal_lambda=FLAGS.proximal_lambda,
                                               inner_steps=FLAGS.inner_steps,
                                               adversarial_epsilon=FLAGS.adversarial_epsilon,
                                               stage_epochs=FLAGS.stage_epochs)
            results[name] = remedies.run(study, batches, remedies=FLAGS.remedies, settings=settings)
    with open(os.path.join(output_dir, "results_index.json"), "w") as f:
        json.dump({"experiments": sorted(results), "network": network, "data": splits.source,
                   "batch_sizes": batches}, f, indent=2)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
