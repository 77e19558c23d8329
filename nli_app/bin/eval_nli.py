"""``eval_nli``: score a model saved by ``train_nli`` (``--model_dir``) on any SNLI-format file.

Prints accuracy and the confusion matrix (gold rows, predicted columns) and, with ``--output_json``, writes them
as JSON; ``--num_heatmaps`` renders Figure 3 attention / input-gate heat maps of the first pairs (ESIM)::

    eval_nli --model_dir=runs/esim --data_path=nli_app/data/snli/snli_1.0_sample_test.jsonl --output_json=test.json
"""
import dataclasses
import json
import os

from absl import flags

from nli_app import cli, threads
from nli_app.nli import evaluation, heatmaps, models
from nli_app.nli.data import dataset as dataset_lib
from nli_app.nli.data import snli
from nli_app.nli.models import esim


def define_flags(flag_values=flags.FLAGS):
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("model_dir", None, "directory written by train_nli (model.keras, vocab.txt, config.json); "
                        "required", **define)
    flags.DEFINE_string("data_path", None, "SNLI .jsonl or .txt file to score (required)", **define)
    flags.DEFINE_integer("eval_batch_size", 128, "batch size", lower_bound=1, **define)
    flags.DEFINE_list("bucket_boundaries", [str(b) for b in dataset_lib.DEFAULT_BUCKET_BOUNDARIES],
                      "length-bucket boundaries; empty: plain padded batches", **define)
    flags.DEFINE_string("output_json", None, "also write the results here", **define)
    flags.DEFINE_integer("num_heatmaps", 0, "render heat maps of the first N pairs (ESIM)", lower_bound=0, **define)
    flags.DEFINE_string("heatmap_dir", None, "where heat maps go (default: MODEL_DIR/eval_heatmaps)", **define)
    threads.define_flags(flag_values)


@dataclasses.dataclass(frozen=True)
class EvalNliOptions:
    """Everything eval_nli is told on its command line (defaults: ``define_flags``)."""
    model_dir: str
    data_path: str
    eval_batch_size: int
    bucket_boundaries: tuple
    output_json: str | None
    num_heatmaps: int
    heatmap_dir: str | None
    tensorflow_threads: tuple = (0, 0)  # (intra-op, inter-op); 0: TensorFlow's choice


def options_from_flags(flag_values=flags.FLAGS):
    """EvalNliOptions from the parsed flags; UsageError for a missing directory or file."""
    return EvalNliOptions(
        model_dir=cli.existing_path(flag_values, "model_dir", directory=True),
        data_path=cli.existing_path(flag_values, "data_path"), eval_batch_size=flag_values.eval_batch_size,
        bucket_boundaries=cli.increasing_ints(flag_values, "bucket_boundaries"), output_json=flag_values.output_json,
        num_heatmaps=flag_values.num_heatmaps, heatmap_dir=flag_values.heatmap_dir,
        tensorflow_threads=threads.from_flags(flag_values))


def evaluate_file(options: EvalNliOptions):
    """The binary's work; returns the results."""
    threads.set_tensorflow_threads(*options.tensorflow_threads)  # before any TensorFlow op
    model, vocabulary, config = models.load(options.model_dir)
    split = snli.read_snli(options.data_path,
                           require_parses=models.needs_parses(config["with_trees"], config["tree_kind"]))
    if not split.examples:
        raise ValueError(f"{options.data_path}: no labelled pairs")
    data = dataset_lib.make_dataset(split.examples, vocabulary, config["with_trees"], config["tree_kind"])
    batch_fn = dataset_lib.bucket_batch_fn(options.bucket_boundaries)
    result = dict(evaluation.evaluate(model, batch_fn(data, options.eval_batch_size)),
                  model_dir=options.model_dir, path=options.data_path, num_dropped=split.num_dropped)
    print(f"accuracy: {result['accuracy']:.4f} ({result['num_examples']} pairs, {split.num_dropped} with gold "
          f"label '-' dropped)")
    print(evaluation.format_confusion(result["confusion_matrix"]))
    if options.num_heatmaps and config["model"] == "esim":
        out_dir = options.heatmap_dir or os.path.join(options.model_dir, "eval_heatmaps")
        result["heatmaps"] = heatmaps.render_examples(esim.explainer(model), split.examples[:options.num_heatmaps],
                                                      vocabulary, out_dir)
    if options.output_json:
        with open(options.output_json, "w") as f:
            json.dump(result, f, indent=1)
    return result


def main(argv):
    cli.no_arguments(argv)
    evaluate_file(options_from_flags())


def run():
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
