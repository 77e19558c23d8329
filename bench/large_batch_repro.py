"""Keskar et al. (ICLR 2017) Tables 2, 3 and 4 on real data, with trials: F1 on full MNIST and C1 on CIFAR-10.

    python bench/large_batch_repro.py --network=F1 --output_dir=/tmp/lb_repro/f1        # ../shared/data MNIST
    python bench/large_batch_repro.py --network=C1 --output_dir=/tmp/lb_repro/c1        # ../shared/data CIFAR-10

SB (batch 256) and LB (10% of the training set) runs of ADAM (lr 1e-3), ``--trials`` seeds each, trained until the
training loss stops improving for ``--patience`` epochs, an epoch's training accuracy reaches
``--target_train_accuracy`` or ``--epochs`` ends; then train/test accuracy (Table 2) and
sharpness (Metric 2.1) at eps 1e-3 and 5e-4 in the full space (Table 3) and a random n x 100 subspace (Table 4),
on a fixed random subset of ``--sharpness_examples`` training examples, BatchNorm on each evaluation batch's
statistics (``--sharpness_batchnorm``; README: the scale of phi), with each maximiser of ``--sharpness_methods``
("default" and the paper's L-BFGS-B; keys ``summary.sharpness_tag``: ``sharpness/eps=<e>/<space>/<method>``).
Prints our mean +- std (sample std, ddof=1, over the trials) next to the paper's rows and the LB/SB ratios against
the targets (LB/SB sharpness >= 10x; SB test accuracy above LB by more than the trials' spread).
The flags are ``large_batch``'s study and trainer flags with the defaults above; the data follows ``--network``
(``--data_path`` defaults to ../shared/data's MNIST or CIFAR-10) and ``--output_dir`` to /tmp/lb_repro/<network>.
Resumable: rerun the same command after a kill (finished runs and measurements are reused; a run is named by its
batch size and seed only, so runs trained by ``large_batch`` into the same directory are reused too).
"""
import dataclasses
import os
import sys
import time

from absl import flags, logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nli_app import cli, papers  # noqa: E402
from nli_app.bin import large_batch as lb_main  # noqa: E402
from nli_app.train import flags as train_flags  # noqa: E402
from nli_app.train.trainer import TrainerConfig  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")
# The paper's network -> its dataset and where ../shared/data holds it.
DATA = {"F1": ("mnist", os.path.join(SHARED, "mnist", "mnist.npz")),
        "C1": ("cifar10", os.path.join(SHARED, "cifar10", "cifar-10-batches-py"))}


def define_flags(flag_values=flags.FLAGS):
    """large_batch's study and trainer flags, with this reproduction's defaults: F1, SB batch 256, 3 trials, phi in
    the full space and a 100-dimensional one on 10,000 examples with BatchNorm on batch statistics (the authors'
    code), the paper's ADAM (lr 1e-3) for at most 10 epochs."""
    lb_main.define_study_flags(flag_values, network="F1", output_dir=None, sb_batch_size=256, trials=3,
                               subspace_dims=["full", "100"], sharpness_examples=10000, sharpness_batchnorm="batch")
    train_flags.define_trainer_flags(flag_values, per_run=lb_main.PER_RUN, learning_rate=1e-3, epochs=10,
                                     log_every_steps=50, verbose=0)


@dataclasses.dataclass(frozen=True)
class Options:
    study: lb_main.StudyOptions
    trainer: TrainerConfig
    num_cpu_replicas: int


def options_from_flags(flag_values):
    """The study group's options, its data following --network (F1: MNIST, C1: CIFAR-10 in ../shared/data unless
    --data_path says otherwise) and --output_dir defaulting to /tmp/lb_repro/<network>."""
    network = flag_values.network.upper()
    if network not in DATA:
        raise cli.UsageError(f"--network={flag_values.network}: this reproduction runs {' or '.join(DATA)}")
    dataset, data_path = DATA[network]
    if flag_values["dataset"].present and flag_values.dataset != dataset:
        raise cli.UsageError(f"--dataset={flag_values.dataset}: {network} trains on {dataset}")
    study = dataclasses.replace(lb_main.study_options(flag_values), dataset=dataset, network=network,
                                data_path=flag_values.data_path or data_path,
                                output_dir=flag_values.output_dir or f"/tmp/lb_repro/{network.lower()}")
    return Options(study=study,
                   trainer=train_flags.trainer_config(flag_values, per_run=lb_main.PER_RUN),
                   num_cpu_replicas=flag_values.num_cpu_replicas)


def _paper(network):
    """{"train" | "test" | "eps=<e>/<space>": (mean, std)}: Tables 2, 3 and 4 for ``network``."""
    rows = {}
    for regime, accuracy in papers.KESKAR_TABLE_2[network].items():
        rows[regime] = dict(accuracy)
        for space, dim in (("full", None), (f"p={papers.KESKAR_TABLE_4_SUBSPACE_DIM}",
                                            papers.KESKAR_TABLE_4_SUBSPACE_DIM)):
            for eps in (1e-3, 5e-4):
                rows[regime][f"eps={eps:g}/{space}"] = papers.keskar_sharpness(network, regime, eps, dim)
    return rows


def _cell(stats, scale=1.0):
    return f"{scale * stats['mean']:.4g} ± {scale * stats['std']:.2g}"


def tables(network, result):
    """Markdown rows of Tables 2-4, ours (mean ± sample std over trials) next to the paper's."""
    s, paper = result["summary"], _paper(network)
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
    cli.no_arguments(argv)
    logging.set_verbosity(logging.INFO)
    options = options_from_flags(flags.FLAGS)
    # pylint: disable=import-outside-toplevel
    from nli_app.large_batch.experiments import sb_vs_lb
    from nli_app.train.strategy import make_strategy
    # pylint: enable=import-outside-toplevel
    study, batches = lb_main.make_study(options.study, options.trainer,
                                        make_strategy(num_cpu_replicas=options.num_cpu_replicas))
    start = time.perf_counter()
    result = sb_vs_lb.run(study, batches, trials=options.study.trials)
    splits, examples = study.splits, options.study.sharpness.num_examples or "all"
    print(f"\n{options.study.network} on {splits.source}: {len(splits.y_train)} train / {len(splits.y_test)} test, "
          f"batches {batches}, {options.study.trials} trials, sharpness on {examples} training examples, "
          f"{(time.perf_counter() - start) / 60:.1f} min (finished runs reused)\n")
    print(tables(options.study.network, result))


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
