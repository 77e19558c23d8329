"""Paired comparison of trained NLI models on one SNLI-format file: is a model's accuracy above a baseline's by more
than the file's size can tell?

Scores ``--baseline`` and every model of ``--models`` (``train_nli`` model directories: ESIM, the tree model, HIM)
on the same labelled pairs of ``--data_path`` and prints, for each model, its accuracy and its difference from the
baseline with the paired standard error, a 95% bootstrap interval over the pairs, the pairs only one of the two
gets right and McNemar's exact p (``nli_app/nli/significance.py``). With ``--output_json`` the figures go there too.

    python bench/nli_compare.py --baseline=runs/esim_snli100k --models=runs/tree_snli100k,runs/him_snli100k \
        --data_path=../shared/data/snli/snli_1.0_dev_subset.jsonl
"""
import dataclasses
import json
import os
import sys

from absl import flags

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the project, not bench/

from nli_app import cli  # noqa: E402


def define_flags(flag_values=flags.FLAGS):
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("baseline", None, "model directory the others are compared with (required)", **define)
    flags.DEFINE_list("models", [], "model directories to compare with the baseline (required)", **define)
    flags.DEFINE_string("data_path", None, "SNLI-format file every model scores (required; parses if a model "
                        "needs them)", **define)
    flags.DEFINE_integer("eval_batch_size", 128, "batch size", lower_bound=1, **define)
    flags.DEFINE_integer("num_resamples", 10000, "bootstrap resamples of the pairs", lower_bound=100, **define)
    flags.DEFINE_string("output_json", None, "also write the figures here", **define)


def compare(baseline, model_dirs, data_path, batch_size=128, num_resamples=10000):
    """``{"baseline", "data_path", "num_examples", "models": {dir: significance.paired_difference(...)}}``."""
    # pylint: disable=import-outside-toplevel
    from nli_app.nli import evaluation, models, significance
    from nli_app.nli.data import dataset as dataset_lib
    from nli_app.nli.data import snli
    # pylint: enable=import-outside-toplevel
    loaded = {d: models.load(d) for d in [baseline, *model_dirs]}
    need_parses = any(models.needs_parses(c["with_trees"], c["tree_kind"]) for _, _, c in loaded.values())
    split = snli.read_snli(data_path, require_parses=need_parses)
    predicted, labels = {}, None
    for model_dir, (model, vocabulary, config) in loaded.items():
        data = dataset_lib.make_dataset(split.examples, vocabulary, config["with_trees"], config["tree_kind"])
        labels, probabilities = evaluation.predictions(model, dataset_lib.bucket_batch_fn(())(data, batch_size))
        predicted[model_dir] = probabilities.argmax(-1)  # plain batches: the file's order for every model
    return {"baseline": baseline, "data_path": data_path, "num_examples": len(labels),
            "models": {d: significance.paired_difference(labels, predicted[baseline], predicted[d], num_resamples)
                       for d in model_dirs}}


def format_table(result):
    first = next(iter(result["models"].values()))
    lines = [f"{result['num_examples']} pairs of {result['data_path']}; baseline {result['baseline']}: "
             f"{100 * first['baseline_accuracy']:.2f} %",
             "| model | accuracy % | − baseline (points) | paired SE | 95 % bootstrap "
             "| only it right / only baseline | McNemar p |", "|---|---|---|---|---|---|---|"]
    for model_dir, r in result["models"].items():
        lo, hi = r["interval_95"]
        lines.append(f"| {model_dir} | {100 * r['candidate_accuracy']:.2f} | {100 * r['difference']:+.2f} | "
                     f"{100 * r['standard_error']:.2f} | [{100 * lo:+.2f}, {100 * hi:+.2f}] | "
                     f"{r['only_candidate_right']} / {r['only_baseline_right']} | {r['mcnemar_p']:.2f} |")
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class Options:
    baseline: str
    models: tuple
    data_path: str
    eval_batch_size: int
    num_resamples: int
    output_json: str | None


def options_from_flags(flag_values):
    """Options from the parsed flags; UsageError naming a missing directory or file."""
    for model_dir in flag_values.models:
        if not os.path.isdir(model_dir):
            raise cli.UsageError(f"--models: {model_dir}: no such directory")
    if not flag_values.models:
        raise cli.UsageError("--models: give at least one model directory")
    return Options(baseline=cli.existing_path(flag_values, "baseline", directory=True),
                   models=tuple(flag_values.models), data_path=cli.existing_path(flag_values, "data_path"),
                   eval_batch_size=flag_values.eval_batch_size, num_resamples=flag_values.num_resamples,
                   output_json=flag_values.output_json)


def main(argv):
    cli.no_arguments(argv)
    options = options_from_flags(flags.FLAGS)
    result = compare(options.baseline, options.models, options.data_path, options.eval_batch_size,
                     options.num_resamples)
    print(format_table(result))
    if options.output_json:
        with open(options.output_json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
