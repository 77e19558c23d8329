"""F1 small-batch vs large-batch (Keskar et al., Tables 2 and 3) and the cost of one F1 sharpness measurement.

    .venv/bin/python bench/large_batch_f1.py                                  # the shipped MNIST sample
    .venv/bin/python bench/large_batch_f1.py --data_path=/data/mnist.npz      # real MNIST (npz or idx directory)
    .venv/bin/python bench/large_batch_f1.py --part=timing                    # only the 60,000-image timing

Part ``table``: F1 trained with ADAM (lr 1e-3) in the SB and LB regimes, 2 trials each, until the training loss
stops improving or the epoch budget ends; prints train/test accuracy and sharpness (eps 1e-3 and 5e-4, full space,
both maximisers: "default" and the paper's 10 L-BFGS-B iterations) next to the paper's rows, and the LB/SB ratios
(target: LB sharpness >= 10x SB, LB test accuracy below SB). Defaults fit about 30 minutes on 2 idle cores (MNIST:
use --epochs and --num_train to fit).
Part ``timing``: one full sharpness measurement of F1 (eps 1e-3, A = I) on 60,000 examples of 784 features (real
MNIST training images with --data_path, else synthetic), reporting f+gradient evaluations per second and a matmul
throughput measured in the same process, so the figure can be scaled to another machine.
"""
import dataclasses
import os
import sys
import time

import numpy as np
import tensorflow as tf
from absl import flags, logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nli_app import cli, papers, summary  # noqa: E402
from nli_app.bin import large_batch as lb_main  # noqa: E402
from nli_app.large_batch import networks  # noqa: E402
from nli_app.large_batch.experiments import sb_vs_lb  # noqa: E402
from nli_app.sharpness import model_sharpness  # noqa: E402
from nli_app.sharpness.box import METHODS  # noqa: E402
from nli_app.train import flags as train_flags  # noqa: E402
from nli_app.train.strategy import make_strategy  # noqa: E402
from nli_app.train.trainer import TrainerConfig  # noqa: E402

# Keskar et al., Tables 2-3 (F1); the paper's sharpness sits next to both maximisers' rows.
PAPER = {regime: {"train": accuracy["train"][0], "test": accuracy["test"][0],
                  **{summary.sharpness_tag("sharpness", eps, None, method): value[0]
                     for eps, value in papers.KESKAR_TABLE_3["F1"][regime].items() for method in METHODS}}
         for regime, accuracy in papers.KESKAR_TABLE_2["F1"].items()}


def define_flags(flag_values=flags.FLAGS):
    """large_batch's study and trainer flags (with this benchmark's defaults: the paper's ADAM, lr 1e-3, for F1),
    plus the timing part's own."""
    flags.DEFINE_enum("part", "all", ["all", "table", "timing"], "what to run", flag_values=flag_values)
    lb_main.define_study_flags(flag_values, output_dir="/tmp/large_batch_f1_bench", network="F1")
    train_flags.define_trainer_flags(flag_values, per_run=lb_main.PER_RUN, learning_rate=1e-3, epochs=20,
                                     checkpoint_every_steps=200, log_every_steps=50, verbose=0)
    flags.DEFINE_integer("timing_examples", 60000, "examples in the timed sharpness objective", lower_bound=1,
                         flag_values=flag_values)
    flags.DEFINE_integer("timing_batch_size", 4096, "evaluation batch size of the timed objective", lower_bound=1,
                         flag_values=flag_values)


@dataclasses.dataclass(frozen=True)
class Options:
    part: str
    study: lb_main.StudyOptions
    trainer: TrainerConfig
    num_cpu_replicas: int
    timing_examples: int
    timing_batch_size: int


def options_from_flags(flag_values):
    return Options(part=flag_values.part, study=lb_main.study_options(flag_values),
                   trainer=train_flags.trainer_config(flag_values, per_run=lb_main.PER_RUN),
                   num_cpu_replicas=flag_values.num_cpu_replicas, timing_examples=flag_values.timing_examples,
                   timing_batch_size=flag_values.timing_batch_size)


def table(options, trainer_config, num_cpu_replicas):
    study, batches = lb_main.make_study(options, trainer_config, make_strategy(num_cpu_replicas=num_cpu_replicas))
    splits = study.splits
    start = time.perf_counter()
    result = sb_vs_lb.run(study, batches, trials=options.trials)
    elapsed = time.perf_counter() - start
    print(f"\n{options.network} on {splits.source} ({len(splits.y_train)} train / {len(splits.y_test)} test), "
          f"batches {batches}, {options.trials} trials, {elapsed / 60:.1f} min")
    s = result["summary"]
    keys = list(s["SB"]["sharpness_by_setting"])
    print(f"{'':9} {'train acc %':>16} {'test acc %':>16}" + "".join(f" {'sharp ' + k:>24}" for k in keys))
    for regime in ("SB", "LB"):
        r, p = s[regime], PAPER[regime]
        by = r["sharpness_by_setting"]
        print(f"{regime:9} {100 * r['train_accuracy']['mean']:9.2f} +- {100 * r['train_accuracy']['std']:4.2f}"
              f" {100 * r['test_accuracy']['mean']:9.2f} +- {100 * r['test_accuracy']['std']:4.2f}"
              + "".join(f" {by[k]['mean']:14.3f} +- {by[k]['std']:6.2f}" for k in keys))
        print(f"{'  paper':9} {p['train']:9.2f}         {p['test']:9.2f}        "
              + "".join(f" {p[k]:14.2f}          " if k in p else f" {'-':>24}" for k in keys))
    gap = 100 * (s["SB"]["test_accuracy"]["mean"] - s["LB"]["test_accuracy"]["mean"])
    for key in keys:
        print(f"LB/SB sharpness ({key}): {by_ratio(s, key):.1f}x"
              + (f" (paper {PAPER['LB'][key] / PAPER['SB'][key]:.0f}x, target >= 10x)" if key in PAPER["SB"] else ""))
    print(f"SB - LB test accuracy: {gap:+.2f} points (paper +0.22, target > 0)")


def by_ratio(summary, key):
    sb = summary["SB"]["sharpness_by_setting"][key]["mean"]
    lb = summary["LB"]["sharpness_by_setting"][key]["mean"]
    return lb / sb if sb > 0 else float("inf")


def timing(options, num_examples, batch_size):
    if options.data_path:
        splits = lb_main.load_splits(options.dataset, options.data_path)
        x, y, source = splits.x_train[:num_examples], splits.y_train[:num_examples], splits.source
        num_classes = splits.num_classes
    else:
        rng = np.random.default_rng(0)
        x, y = rng.random((num_examples, 784), dtype=np.float32), rng.integers(0, 10, num_examples)
        source, num_classes = "synthetic uniform", 10
    model = networks.build(options.network, input_shape=x.shape[1:], num_classes=num_classes)
    a = tf.random.normal((2048, 2048))
    matmul = tf.function(lambda m: tf.reduce_sum(m @ m))
    float(matmul(a))
    t = time.perf_counter()
    for _ in range(5):
        float(matmul(a))
    gflops = 5 * 2 * 2048 ** 3 / (time.perf_counter() - t) / 1e9
    t = time.perf_counter()
    result = model_sharpness(model, (x, y), 1e-3, method="paper", max_iterations=options.sharpness.max_iterations,
                             batch_size=batch_size)
    elapsed = time.perf_counter() - t
    params = model.count_params()
    work = result.evaluations * 3 * 2 * params * len(y) / 1e9  # forward + backward ~ 3 x 2 flops per weight
    print(f"\n{options.network} sharpness on {len(y)} x {x.shape[1]} ({source}), eps=1e-3, A=I, "
          f"{options.sharpness.max_iterations} L-BFGS-B iterations: {elapsed:.1f} s for {result.evaluations} "
          f"f+grad evaluations ({result.evaluations / elapsed:.3f}/s, {elapsed / result.evaluations:.1f} s each); "
          f"phi = {result.value:.4g}")
    print(f"  ~{work / elapsed:.1f} GFLOP/s achieved vs {gflops:.1f} GFLOP/s for a 2048^2 matmul in this process "
          f"(target: <= 120 s on 2 idle cores; load average now {os.getloadavg()[0]:.1f})")


def main(argv):
    cli.no_arguments(argv)
    logging.set_verbosity(logging.WARNING)
    options = options_from_flags(flags.FLAGS)
    if options.part in ("all", "timing"):
        timing(options.study, options.timing_examples, options.timing_batch_size)
    if options.part in ("all", "table"):
        table(options.study, options.trainer, options.num_cpu_replicas)


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
