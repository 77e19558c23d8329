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
import dataclasses
import json
import os

import numpy as np
from absl import flags, logging

from nli_app import cli, papers
from nli_app.large_batch import perf_model
from nli_app.large_batch.data import cifar, mnist, timit
from nli_app.large_batch.data.augmentation import image_shape_of
from nli_app.large_batch.experiments import parametric_plots, remedies, sb_vs_lb, sweep, trajectory, warm_start
from nli_app.large_batch.io import atomic_json
from nli_app.large_batch.networks import NETWORKS
from nli_app.large_batch.study import SharpnessSettings, Study, regime_batch_sizes
from nli_app.sharpness.box import METHODS
from nli_app.train import flags as train_flags
from nli_app.train.strategy import make_strategy
from nli_app.train.trainer import TrainerConfig

EXPERIMENTS = ("sb_vs_lb", "parametric", "sweep", "warm_start", "trajectory", "remedies", "perf_model")
DEFAULT_NETWORK = {"mnist": "F1", "timit": "F2", "cifar10": "C1", "cifar100": "C3"}
# The TrainerConfig fields the study sets for every run itself (their flags say so and are refused).
PER_RUN = {"global_batch_size": "--sb_batch_size, --lb_batch_size and the experiments' own sizes",
           "seed": "each run's own, trial i of a regime: seed i", "model_dir": "--output_dir/runs/<run>"}


def paper_rows(network):
    """{regime: the paper's Table 2 and 3 values as one line} for ``network``, or None if the paper has none."""
    if network not in papers.KESKAR_TABLE_2:
        return None
    rows = {}
    for regime, accuracy in papers.KESKAR_TABLE_2[network].items():
        sharpness = ", ".join(f"eps={eps:.0e}: {mean:.2f} +- {std:.2f}".replace("e-0", "e-")
                              for eps, (mean, std) in papers.KESKAR_TABLE_3[network][regime].items())
        rows[regime] = (f"train {accuracy['train'][0]:.2f} +- {accuracy['train'][1]:.2f}%  test "
                        f"{accuracy['test'][0]:.2f} +- {accuracy['test'][1]:.2f}%  sharpness {sharpness}")
    return rows


def define_study_flags(flag_values=flags.FLAGS, **defaults):
    """The data, regimes and sharpness settings of a study (shared with ``bench/large_batch_f1.py`` and
    ``bench/large_batch_repro.py``, which give their own defaults)."""
    cli.define_group(flag_values, defaults, [
        (flags.DEFINE_enum, "dataset", "mnist", "data format of --data_path",
         dict(enum_values=sorted(DEFAULT_NETWORK))),
        (flags.DEFINE_string, "data_path", None, "MNIST .npz or idx directory, CIFAR pickle directory, TIMIT .npz; "
         "none: the shipped MNIST sample (10,000 train + 2,000 test images)", {}),
        (flags.DEFINE_enum, "network", None, "network (none: the paper's network for --dataset)",
         dict(enum_values=list(NETWORKS), case_sensitive=False)),
        (flags.DEFINE_integer, "num_train", 0, "use the first N training examples (0 = all)", dict(lower_bound=0)),
        (flags.DEFINE_integer, "num_test", 0, "use the first N test examples (0 = all)", dict(lower_bound=0)),
        (flags.DEFINE_string, "output_dir", "runs/large_batch",
         "where JSON, PNG, TensorBoard logs and checkpoints go (a rerun resumes from them)", {}),
        (flags.DEFINE_integer, "sb_batch_size", -1, "small batch; -1: 256, or N/64 (at least 8) when the training "
         "set has fewer than 16,384 examples", dict(lower_bound=-1)),
        (flags.DEFINE_integer, "lb_batch_size", 0, "large batch; 0: 10% of the training set (the paper's LB)",
         dict(lower_bound=0)),
        (flags.DEFINE_integer, "trials", 2, "trials per regime (seeds 0..N-1)", dict(lower_bound=1)),
        (flags.DEFINE_integer, "patience", 3, "stop when the training loss has not improved for this many epochs "
         "(0 = never)", dict(lower_bound=0)),
        (flags.DEFINE_float, "target_train_accuracy", 0.0, "also stop at the end of the first epoch whose training "
         "accuracy (no dropout, BatchNorm recalibrated, 2,000 examples) reaches this (0 = never; e.g. 0.99)",
         dict(lower_bound=0.0, upper_bound=1.0)),
        (flags.DEFINE_bool, "recalibrate_bn", True, "recompute BatchNorm statistics on the training set before "
         "measuring", {}),
        (flags.DEFINE_list, "epsilons", ["1e-3", "5e-4"], "sharpness box sizes (Table 3)", {}),
        (flags.DEFINE_list, "subspace_dims", ["full"],
         "sharpness spaces: 'full' (A = I) and/or p (a random n x p A, Table 4)", {}),
        (flags.DEFINE_list, "sharpness_methods", list(METHODS), "sharpness maximisers, each reported: 'default' "
         "(curvature-guided vertex ascent) and/or 'paper' (L-BFGS-B); the first is the primary", {}),
        (flags.DEFINE_integer, "sharpness_iterations", 10, "L-BFGS-B iterations of the 'paper' maximiser",
         dict(lower_bound=1)),
        (flags.DEFINE_integer, "sharpness_max_evaluations", 40, "(f, grad) evaluations of the 'default' maximiser "
         "after the paper's run that it starts with",
         dict(lower_bound=2)),
        (flags.DEFINE_integer, "sharpness_examples", 0, "training examples in the sharpness objective (0 = all)",
         dict(lower_bound=0)),
        (flags.DEFINE_enum, "sharpness_reduction", "mean", "sharpness objective f: mean (the paper's) or sum of the "
         "per-example training losses", dict(enum_values=["mean", "sum"])),
        (flags.DEFINE_enum, "sharpness_batchnorm", "inference", "BatchNorm in the sharpness objective: the moving "
         "statistics, or each evaluation batch's own (the authors' Keras BatchNormalization(mode=2))",
         dict(enum_values=["inference", "batch"])),
        (flags.DEFINE_integer, "sharpness_batch_size", 4096, "evaluation batch of the sharpness objective",
         dict(lower_bound=1)),
        (flags.DEFINE_enum, "sharpness_dtype", "float32", "float type of the sharpness objective",
         dict(enum_values=["float32", "float64"])),
    ])


def define_flags(flag_values=flags.FLAGS):
    """large_batch's own flags, the study group and the trainer flags (10 epochs, no progress bar)."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_list("experiment", [], f"experiments to run: {', '.join(EXPERIMENTS)} or 'all' (or give them as "
                      "positional arguments)", **define)
    define_study_flags(flag_values)
    flags.DEFINE_integer("num_alphas", 25, "parametric: points on the paths, alpha in [-1, 2]", lower_bound=2,
                         **define)
    flags.DEFINE_list("sweep_batch_sizes", [], "sweep: batch sizes (default: SB, 4 sizes between, LB)", **define)
    flags.DEFINE_integer("warm_epochs", 3, "warm_start: SB warm-up epochs", lower_bound=0, **define)
    flags.DEFINE_list("remedies", list(remedies.REMEDIES), "remedies to run", **define)
    flags.DEFINE_float("proximal_lambda", 1e-3, "remedies, conservative training: lambda of the proximal term",
                       lower_bound=0.0, **define)
    flags.DEFINE_integer("inner_steps", 3, "remedies, conservative training: optimizer steps per batch",
                         lower_bound=1, **define)
    flags.DEFINE_float("adversarial_epsilon", 0.02, "remedies, adversarial training: FGSM step", lower_bound=0.0,
                       **define)
    flags.DEFINE_integer("max_shift", -1, "remedies, data augmentation: largest translation in pixels; -1: image "
                         "side / 14 (2 for MNIST and CIFAR)", lower_bound=-1, **define)
    flags.DEFINE_integer("stage_epochs", 1, "remedies, dynamic sampling: epochs per batch-size stage",
                         lower_bound=1, **define)
    flags.DEFINE_list("perf_batch_ratios", ["0.01", "0.05", "0.1", "0.5"], "perf_model (Appendix C): B_s / B_l values",
                      **define)
    flags.DEFINE_list("perf_efficiencies", ["0.1", "0.2", "0.5", "1.0"], "perf_model (Appendix C): f_s(P) values",
                      **define)
    train_flags.define_trainer_flags(flag_values, per_run=PER_RUN, epochs=10, verbose=0)


@dataclasses.dataclass(frozen=True)
class StudyOptions:
    """The study group's values (see ``define_study_flags``)."""
    dataset: str
    data_path: str | None
    network: str
    num_train: int
    num_test: int
    output_dir: str
    sb_batch_size: int
    lb_batch_size: int
    trials: int
    patience: int
    target_train_accuracy: float
    recalibrate_bn: bool
    sharpness: SharpnessSettings


@dataclasses.dataclass(frozen=True)
class LargeBatchOptions:
    """Everything large_batch is told on its command line (defaults: ``define_flags``)."""
    experiments: tuple
    study: StudyOptions
    trainer: TrainerConfig  # of every run, less the PER_RUN fields
    num_cpu_replicas: int
    num_alphas: int
    sweep_batch_sizes: tuple
    warm_epochs: int
    remedies: tuple
    remedy_settings: remedies.RemedySettings
    max_shift: int  # -1: image side / 14
    perf_batch_ratios: tuple
    perf_efficiencies: tuple


def _floats(flag_values, name, positive=True):
    try:
        values = tuple(float(v) for v in flag_values[name].value)
    except ValueError:
        raise cli.UsageError(f"--{name}: expected numbers, got {','.join(flag_values[name].value)}") from None
    if not values or (positive and min(values) <= 0):
        raise cli.UsageError(f"--{name}: expected positive numbers, got {','.join(flag_values[name].value)}")
    return values


def _subspace_dims(flag_values):
    dims = []
    for value in flag_values.subspace_dims:
        if value == "full":
            dims.append(None)
        elif value.isdigit() and int(value) > 0:
            dims.append(int(value))
        else:
            raise cli.UsageError(f"--subspace_dims: expected 'full' or a positive integer, got {value!r}")
    if not dims:
        raise cli.UsageError("--subspace_dims: give 'full' and/or positive integers")
    return tuple(dims)


def _sharpness_methods(flag_values):
    methods = tuple(flag_values.sharpness_methods)
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise cli.UsageError(f"--sharpness_methods: {unknown or 'none given'}; choose from {', '.join(METHODS)}")
    return methods


def study_options(flag_values=flags.FLAGS):
    """StudyOptions from the study group; UsageError for a bad value or a missing --data_path."""
    data_path = flag_values.data_path
    if data_path and not os.path.exists(data_path):
        raise cli.UsageError(f"--data_path={data_path}: no such file or directory")
    return StudyOptions(
        dataset=flag_values.dataset, data_path=data_path,
        network=flag_values.network or DEFAULT_NETWORK[flag_values.dataset], num_train=flag_values.num_train,
        num_test=flag_values.num_test, output_dir=flag_values.output_dir, sb_batch_size=flag_values.sb_batch_size,
        lb_batch_size=flag_values.lb_batch_size, trials=flag_values.trials, patience=flag_values.patience,
        target_train_accuracy=flag_values.target_train_accuracy,
        recalibrate_bn=flag_values.recalibrate_bn,
        sharpness=SharpnessSettings(epsilons=_floats(flag_values, "epsilons"),
                                    subspace_dims=_subspace_dims(flag_values),
                                    methods=_sharpness_methods(flag_values),
                                    max_iterations=flag_values.sharpness_iterations,
                                    max_evaluations=flag_values.sharpness_max_evaluations,
                                    num_examples=flag_values.sharpness_examples or None,
                                    reduction=flag_values.sharpness_reduction,
                                    batchnorm=flag_values.sharpness_batchnorm,
                                    batch_size=flag_values.sharpness_batch_size,
                                    dtype=flag_values.sharpness_dtype))


def _experiments(flag_values, args):
    names = list(flag_values.experiment) + list(args)
    if not names:
        raise cli.UsageError(f"name an experiment: one of {', '.join(EXPERIMENTS)} or 'all'")
    if "all" in names:
        return EXPERIMENTS
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise cli.UsageError(f"unknown experiment(s) {unknown}; choose from {', '.join(EXPERIMENTS)}")
    return tuple(dict.fromkeys(names))


def options_from_flags(flag_values=flags.FLAGS, args=()):
    """LargeBatchOptions from the parsed flags and the positional experiment names ``args``."""
    unknown = sorted(set(flag_values.remedies) - set(remedies.REMEDIES))
    if unknown:
        raise cli.UsageError(f"--remedies: unknown {unknown}; choose from {', '.join(remedies.REMEDIES)}")
    return LargeBatchOptions(
        experiments=_experiments(flag_values, args), study=study_options(flag_values),
        trainer=train_flags.trainer_config(flag_values, per_run=PER_RUN),
        num_cpu_replicas=flag_values.num_cpu_replicas, num_alphas=flag_values.num_alphas,
        sweep_batch_sizes=cli.increasing_ints(flag_values, "sweep_batch_sizes"), warm_epochs=flag_values.warm_epochs,
        remedies=tuple(flag_values.remedies),
        remedy_settings=remedies.RemedySettings(proximal_lambda=flag_values.proximal_lambda,
                                                inner_steps=flag_values.inner_steps,
                                                adversarial_epsilon=flag_values.adversarial_epsilon,
                                                stage_epochs=flag_values.stage_epochs),
        max_shift=flag_values.max_shift, perf_batch_ratios=_floats(flag_values, "perf_batch_ratios"),
        perf_efficiencies=_floats(flag_values, "perf_efficiencies"))


def load_splits(dataset, path):
    """Splits of ``dataset`` read from ``path`` with the real-format loaders."""
    if dataset == "mnist":
        return mnist.load(path)
    if dataset == "cifar10":
        return cifar.load_cifar10(path)
    if dataset == "cifar100":
        return cifar.load_cifar100(path)
    return timit.load(path)


def make_study(options: StudyOptions, trainer_config: TrainerConfig, strategy):
    """``(study, {"SB": b_s, "LB": b_l})`` for the study group's options, training with ``trainer_config``."""
    splits = load_splits(options.dataset, options.data_path or mnist.SAMPLE_PATH)
    splits = splits.subset(options.num_train or None, options.num_test or None)
    logging.info("%s: %d train / %d test examples of shape %s, %d classes, network %s", splits.source,
                 len(splits.y_train), len(splits.y_test), splits.input_shape, splits.num_classes, options.network)
    study = Study(splits, options.network, options.output_dir, trainer_config, options.sharpness, strategy=strategy,
                  patience=options.patience or None, recalibrate_bn=options.recalibrate_bn,
                  target_train_accuracy=options.target_train_accuracy or None)
    batches = regime_batch_sizes(len(splits.y_train), options.sb_batch_size, options.lb_batch_size)
    logging.info("regimes: %s", batches)
    return study, batches


def sweep_sizes(sb, lb, values):
    return list(values) if values else sorted({int(round(b)) for b in np.geomspace(sb, lb, 6)})


def run_perf_model(options: LargeBatchOptions):
    rows = perf_model.table(list(options.perf_batch_ratios), list(options.perf_efficiencies))
    print(perf_model.format_table(rows))
    atomic_json(os.path.join(options.study.output_dir, "perf_model.json"), {"rows": rows})
    return {"rows": rows}


def _run_experiment(name, options, study, batches):
    if name == "sb_vs_lb":
        result = sb_vs_lb.run(study, batches, trials=options.study.trials)
        print(sb_vs_lb.format_rows(result, paper_rows(options.study.network)))
    elif name == "parametric":
        result = parametric_plots.run(study, batches, num_alphas=options.num_alphas)
    elif name == "sweep":
        result = sweep.run(study, sweep_sizes(batches["SB"], batches["LB"], options.sweep_batch_sizes))
    elif name == "warm_start":
        result = warm_start.run(study, batches["SB"], batches["LB"], warm_epochs=options.warm_epochs)
    elif name == "trajectory":
        result = trajectory.run(study, batches)
        print(f"distance ratio ||x_s - x0|| / ||x_l - x0|| = {result['distance_ratio_sb_over_lb']:.3f}")
    else:  # remedies
        shift = options.max_shift
        if shift < 0:
            shift = max(1, image_shape_of(study.splits.input_shape)[0] // 14)
        settings = dataclasses.replace(options.remedy_settings, max_shift=shift)
        result = remedies.run(study, batches, remedies=options.remedies, settings=settings)
    return result


def run_experiments(options: LargeBatchOptions):
    """The binary's work: runs ``options.experiments``; returns ``{experiment: results}``."""
    output_dir = options.study.output_dir
    os.makedirs(output_dir, exist_ok=True)
    results = {}
    names = [n for n in options.experiments if n != "perf_model"]
    if "perf_model" in options.experiments:
        results["perf_model"] = run_perf_model(options)
    if not names:
        return results
    strategy = make_strategy(num_cpu_replicas=options.num_cpu_replicas)
    study, batches = make_study(options.study, options.trainer, strategy)
    for name in names:
        logging.info("experiment %s", name)
        try:
            results[name] = _run_experiment(name, options, study, batches)
        except KeyboardInterrupt:
            raise cli.Interrupted(f"in experiment {name} (finished runs and checkpoints are in {output_dir})") from None
    with open(os.path.join(output_dir, "results_index.json"), "w") as f:
        json.dump({"experiments": sorted(results), "network": options.study.network, "data": study.splits.source,
                   "batch_sizes": batches}, f, indent=2)
    return results


def main(argv):
    run_experiments(options_from_flags(flags.FLAGS, argv[1:]))


def run():
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
