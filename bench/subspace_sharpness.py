"""Why F1's LB/SB ratio of Metric 2.1 (Keskar et al., ICLR 2017) in a random 100-dimensional subspace (Table 4) is
3x where the paper's is 84x: phi(eps, A) against its first-order part, across eps, for two scales of A's columns.

    nice -n 10 python bench/subspace_sharpness.py --output_dir=/tmp/subspace_sharpness   # ../shared/data MNIST

Trains F1 on MNIST with ADAM (lr 1e-3; the trainer flags of large_batch_repro.py), no early stop: SB (batch 256)
once for the longest of --sb_epochs, keeping its iterate after every epoch, and LB (10% of the training set) for
--epochs; --trials seeds each. At every minimiser x (SB after each of --sb_epochs, LB at the end), on
--sharpness_examples training examples with BatchNorm on each evaluation batch's statistics (as README's Tables 3
and 4), it measures f0 = f(x), ||grad f(x)||, the full-space phi at --full_epsilon and, for every eps of
--epsilons, in a random n x p subspace (p = --subspace_dim) with A = the paper's N(0, 1) matrix (drawn as
``model_sharpness`` draws it from the run's seed) and with A's columns scaled to unit norm ("unit": orthonormal to
within ~1/sqrt(n)):
  phi     Metric 2.1 with the paper's maximiser (L-BFGS-B, 10 iterations), as model_sharpness(method="paper");
  linear  phi of the first-order model f0 + grad f(x)^T A y, maximised exactly (``box.linear_sharpness``):
          100 sum_i b_i |(A^T grad f(x))_i| / (1 + f0), ~ 100 eps p sqrt(2 / pi) ||grad f(x)|| / (1 + f0) for N(0, 1);
  vertex  phi at that model's best vertex y_lin = b * sign(A^T grad f(x)) (one evaluation of f; ``linear_vertex``):
          where it is near linear, f is near linear across the box;
  slope   the first-order part of phi at the point y* the maximiser found: 100 grad f(x)^T A y* / (1 + f0);
  step    ||A y*||, that point's distance from x in weight space.
Prints the table, each run's eps exponent (least-squares slope of log phi on log eps: 1 where the slope of f
dominates, 2 for a quadratic minimum) and the LB/SB ratios next to the paper's; writes subspace_sharpness.json and
subspace_sharpness.png (log-log phi against eps, the paper's Table 4 points marked) into --output_dir. Resumable:
finished runs are reused (``Study``) and each minimiser's measurements are cached next to its run.
"""
import dataclasses
import functools
import json
import os
import sys

import numpy as np
from absl import flags, logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nli_app import cli, papers  # noqa: E402
from nli_app.bin import large_batch as lb_main  # noqa: E402
from nli_app.train import flags as train_flags  # noqa: E402
from nli_app.train.trainer import TrainerConfig  # noqa: E402

MNIST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "mnist",
                     "mnist.npz")
SCALES = ("normal", "unit")  # A's columns: N(0, 1) entries (the paper's) or scaled to unit norm
CACHE_FORMAT = 2


def define_flags(flag_values=flags.FLAGS):
    """The measurement's flags and the trainer flags (ADAM, lr 1e-3, as large_batch_repro.py)."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("data_path", MNIST, "MNIST .npz or idx directory", **define)
    flags.DEFINE_string("output_dir", "/tmp/subspace_sharpness", "runs, measurements, JSON and PNG", **define)
    flags.DEFINE_integer("trials", 1, "seeds per regime (0..N-1)", **define)
    flags.DEFINE_list("sb_epochs", ["10", "30"], "SB epochs at which the iterate is measured (one run, as long as "
                      "the largest)", **define)
    flags.DEFINE_integer("sharpness_examples", 2000, "training examples in f (0 = all)", **define)
    flags.DEFINE_list("epsilons", ["2.5e-4", "5e-4", "1e-3", "2e-3"], "box sizes in the subspace", **define)
    flags.DEFINE_float("full_epsilon", 1e-3, "box size of the full-space reference", **define)
    flags.DEFINE_integer("subspace_dim", papers.KESKAR_TABLE_4_SUBSPACE_DIM, "p of the random n x p matrix A",
                         **define)
    flags.DEFINE_integer("sharpness_iterations", 10, "L-BFGS-B iterations (the paper's 10)", **define)
    train_flags.define_trainer_flags(flag_values, per_run=lb_main.PER_RUN, learning_rate=1e-3, epochs=10,
                                     log_every_steps=50, verbose=0)


@dataclasses.dataclass(frozen=True)
class Options:
    data_path: str
    output_dir: str
    trials: int
    sb_epochs: tuple
    epsilons: tuple
    full_epsilon: float
    subspace_dim: int
    sharpness: object  # study.SharpnessSettings: the objective's settings
    trainer: TrainerConfig
    num_cpu_replicas: int


def options_from_flags(flag_values):
    from nli_app.large_batch.study import SharpnessSettings  # pylint: disable=import-outside-toplevel
    return Options(
        data_path=flag_values.data_path, output_dir=flag_values.output_dir, trials=flag_values.trials,
        sb_epochs=cli.increasing_ints(flag_values, "sb_epochs"),
        epsilons=tuple(sorted(float(e) for e in flag_values.epsilons)), full_epsilon=flag_values.full_epsilon,
        subspace_dim=flag_values.subspace_dim,
        sharpness=SharpnessSettings(max_iterations=flag_values.sharpness_iterations, batchnorm="batch",
                                    num_examples=flag_values.sharpness_examples or None),
        trainer=train_flags.trainer_config(flag_values, per_run=lb_main.PER_RUN),
        num_cpu_replicas=flag_values.num_cpu_replicas)


@functools.lru_cache(maxsize=1)
def subspaces(n, p, seed):
    """{scale: A}: the n x p N(0, 1) matrix ``model_sharpness`` draws for ``seed``, and it with unit-norm columns
    (float32, ~0.6 GB each for F1; kept for the next minimiser of the same seed)."""
    from nli_app.sharpness import random_subspace  # pylint: disable=import-outside-toplevel
    normal = random_subspace(n, p, seed=seed, dtype=np.float32)
    return {"normal": normal, "unit": normal / np.linalg.norm(normal, axis=0)}


def measure(study, weights, seed, options):
    """f0, ||grad f||, accuracy, full-space phi and, per scale of A and eps, phi / linear / vertex / slope / step."""
    # pylint: disable=import-outside-toplevel
    from nli_app.sharpness import (box_coordinates, box_sharpness, linear_sharpness, linear_vertex,
                                   sharpness_objective)
    s = study.sharpness_settings
    data = (study.splits.x_train, study.splits.y_train)
    with sharpness_objective(study.scratch_model(weights), data, s.num_examples, seed=seed, batch_size=s.batch_size,
                             reduction=s.reduction, batchnorm=s.batchnorm, dtype=s.dtype) as (f, _):
        x = f.x0
        f0, grad = f(x)
        paper = dict(method="paper", max_iterations=s.max_iterations, seed=seed)
        result = {**study.accuracy(weights), "f0": f0, "grad_norm": float(np.linalg.norm(grad)),
                  "weight_norm": float(np.linalg.norm(x)),
                  "full_phi": box_sharpness(f, x, options.full_epsilon, **paper).value}
        for scale, A in subspaces(x.size, options.subspace_dim, seed).items():
            coordinates = box_coordinates(x, A)
            result[scale] = []
            for eps in options.epsilons:
                r = box_sharpness(f, x, eps, A=A, coordinates=coordinates, **paper)
                step = A @ r.y.astype(A.dtype)
                f_vertex = f(x + A @ linear_vertex(grad, x, eps, A, coordinates).astype(A.dtype))[0]
                result[scale].append({"epsilon": eps, "phi": r.value, "evaluations": r.evaluations,
                                      "linear": linear_sharpness(f0, grad, x, eps, A, coordinates),
                                      "vertex": 100.0 * (f_vertex - f0) / (1.0 + f0),
                                      "slope": 100.0 * float(grad @ step) / (1.0 + f0),
                                      "step": float(np.linalg.norm(step))})
                logging.info("%s eps=%g: phi %.4g, linear %.4g", scale, eps, r.value, result[scale][-1]["linear"])
    return result


def cached_measure(study, weights, seed, options, path):
    from nli_app.large_batch.io import atomic_json  # pylint: disable=import-outside-toplevel
    key = json.dumps({"format": CACHE_FORMAT, "epsilons": options.epsilons, "full_epsilon": options.full_epsilon,
                      "p": options.subspace_dim, **dataclasses.asdict(study.sharpness_settings)}, sort_keys=True)
    if os.path.exists(path):
        with open(path) as f:
            cached = json.load(f)
        if cached.get("settings") == key:
            return cached["result"]
    result = measure(study, weights, seed, options)
    atomic_json(path, {"settings": key, "result": result})
    return result


def minimisers(study, batches, options):
    """(regime, epochs, seed, weights, run directory) of every minimiser: SB after each of ``sb_epochs`` (one run
    keeping its iterates), LB after ``trainer.epochs``."""
    # pylint: disable=import-outside-toplevel
    from nli_app.large_batch.experiments.sb_vs_lb import run_name
    from nli_app.large_batch.experiments.warm_start import KeepIterates
    from nli_app.large_batch.io import load_weights
    # pylint: enable=import-outside-toplevel
    for seed in range(options.trials):
        sb_epochs = options.sb_epochs[-1]
        name = f"{run_name(batches['SB'], seed)}_{sb_epochs}ep"
        iterates = os.path.join(study.output_dir, "runs", name, "iterates")
        run = study.train(name, batches["SB"], seed=seed, epochs=sb_epochs, callbacks=[KeepIterates(iterates)])
        for epochs in options.sb_epochs:
            weights = study.measurable(load_weights(os.path.join(iterates, f"epoch_{epochs}.npz")))
            yield "SB", epochs, seed, weights, run.directory
        epochs = options.trainer.epochs
        run = study.train(f"{run_name(batches['LB'], seed)}_{epochs}ep", batches["LB"], seed=seed, epochs=epochs)
        yield "LB", epochs, seed, run.weights, run.directory


def _label(record):
    return f"{record['regime']} {record['epochs']}ep s{record['seed']}"


def exponent(rows):
    """Least-squares slope of log phi on log eps over the rows with phi > 0 (None with fewer than two)."""
    points = [(np.log(r["epsilon"]), np.log(r["phi"])) for r in rows if r["phi"] > 0]
    return float(np.polyfit(*zip(*points), 1)[0]) if len(points) > 1 else None


def report(records, options):
    """The table, the eps exponents and the LB/SB ratios (mean over trials) next to the paper's Table 4."""
    lines = []
    for r in records:
        lines.append(f"{_label(r)}: train {100 * r['train_accuracy']:.2f}% test {100 * r['test_accuracy']:.2f}%  "
                     f"f0 {r['f0']:.4g}  ||grad f|| {r['grad_norm']:.4g}  ||x|| {r['weight_norm']:.4g}  "
                     f"full-space phi(eps={options.full_epsilon:g}) {r['full_phi']:.4g}")
    lines += ["", f"{'run':14s} {'A':7s} {'eps':>8s} {'phi':>9s} {'linear':>9s} {'vertex':>9s} {'slope':>9s} "
              f"{'||Ay*||':>9s}"]
    for scale in SCALES:
        for r in records:
            for row in r[scale]:
                lines.append(f"{_label(r):14s} {scale:7s} {row['epsilon']:8.2g} {row['phi']:9.4g} "
                             f"{row['linear']:9.4g} {row['vertex']:9.4g} {row['slope']:9.4g} {row['step']:9.4g}")
    lines += ["", "eps exponent of phi (1: slope-dominated, 2: quadratic): " + ", ".join(
        f"{_label(r)} {scale} {exponent(r[scale]):.2f}" for scale in SCALES for r in records
        if exponent(r[scale]) is not None)]
    paper = papers.KESKAR_TABLE_4["F1"]
    lines.append("paper Table 4 (F1, p = 100): " + ", ".join(
        f"{regime} {e:g}: {paper[regime][e][0]}" for regime in ("SB", "LB") for e in sorted(paper[regime])))

    def mean(regime, epochs, scale, i):
        values = [r[scale][i]["phi"] for r in records if r["regime"] == regime and r["epochs"] == epochs]
        return float(np.mean(values))

    lb_epochs = options.trainer.epochs
    for sb_epochs in options.sb_epochs:
        for scale in SCALES:
            ratios = [f"eps {e:g}: {mean('LB', lb_epochs, scale, i) / max(mean('SB', sb_epochs, scale, i), 1e-12):.3g}x"
                      + (f" (paper {paper['LB'][e][0] / paper['SB'][e][0]:.0f}x)" if e in paper["SB"] else "")
                      for i, e in enumerate(options.epsilons)]
            lines.append(f"LB {lb_epochs}ep / SB {sb_epochs}ep, {scale}: " + ", ".join(ratios))
    return "\n".join(lines)


def main(argv):
    cli.no_arguments(argv)
    logging.set_verbosity(logging.INFO)
    options = options_from_flags(flags.FLAGS)
    # pylint: disable=import-outside-toplevel
    from nli_app.large_batch.data import mnist
    from nli_app.large_batch.experiments import plots
    from nli_app.large_batch.io import atomic_json
    from nli_app.large_batch.study import Study, regime_batch_sizes
    from nli_app.train.strategy import make_strategy
    # pylint: enable=import-outside-toplevel
    splits = mnist.load(options.data_path)
    study = Study(splits, "F1", options.output_dir, options.trainer, options.sharpness,
                  strategy=make_strategy(num_cpu_replicas=options.num_cpu_replicas), patience=None)
    batches = regime_batch_sizes(len(splits.y_train), 256, 0)
    records = []
    for regime, epochs, seed, weights, directory in minimisers(study, batches, options):
        result = cached_measure(study, weights, seed, options, os.path.join(directory, f"subspace_{epochs}ep.json"))
        records.append({"regime": regime, "epochs": epochs, "seed": seed, "batch_size": batches[regime], **result})
    atomic_json(study.path("subspace_sharpness.json"), {"options": repr(options), "records": records,
                                                        "paper_table_4": papers.KESKAR_TABLE_4["F1"]})
    plots.subspace_sharpness(records, papers.KESKAR_TABLE_4["F1"], study.path("subspace_sharpness.png"),
                             title=f"F1, p = {options.subspace_dim}: phi and its first-order part against eps")
    print(f"\nF1 on {splits.source}: batches {batches}, phi on {options.sharpness.num_examples or 'all'} training "
          f"examples, p = {options.subspace_dim}\n")
    print(report(records, options))


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
