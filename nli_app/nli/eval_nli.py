"""``eval_nli``: score a model saved by ``train_nli`` (``--model_dir``) on any SNLI-format file.

Prints accuracy and the confusion matrix (gold rows, predicted columns) and, with ``--output_json``, writes them
as JSON; ``--num_heatmaps`` renders Figure 3 attention / input-gate heat maps of the first pairs (ESIM)::

    eval_nli --model_dir=runs/esim --data_path=snli_1.0_test.jsonl --output_json=test.json
"""
import json
import os

from absl import app, flags

from nli_app.absl_flags import define_once
from nli_app.nli import dataset as dataset_lib
from nli_app.nli import esim, evaluation, heatmaps, models, snli

FLAGS = flags.FLAGS

define_once(flags.DEFINE_string, "model_dir", None,
            "directory written by train_nli (model.keras, vocab.txt, config.json)")
define_once(flags.DEFINE_string, "data_path", None, "SNLI .jsonl or .txt file to score")
define_once(flags.DEFINE_integer, "eval_batch_size", None, "batch size (default 128)")
define_once(flags.DEFINE_list, "bucket_boundaries", [str(b) for b in dataset_lib.DEFAULT_BUCKET_BOUNDARIES],
            "length-bucket boundaries; empty: plain padded batches")
define_once(flags.DEFINE_string, "output_json", None, "also write the results here")
define_once(flags.DEFINE_integer, "num_heatmaps", 0, "render heat maps of the first N pairs (ESIM)")
define_once(flags.DEFINE_string, "heatmap_dir", None, "where heat maps go (default: MODEL_DIR/eval_heatmaps)")


def evaluate_file(argv):
    """The binary's work; returns the results (``main`` is its absl entry point)."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    if not FLAGS.model_dir or not FLAGS.data_path:
        raise app.UsageError("--model_dir and --data_path are required")
    model, vocabulary, config = models.load(FLAGS.model_dir)
    split = snli.read_snli(FLAGS.data_path)
    if not split.examples:
        raise ValueError(f"{FLAGS.data_path}: no labelled pairs")
    data = dataset_lib.make_dataset(split.examples, vocabulary, config["with_trees"], config["tree_kind"])
    batch_fn = dataset_lib.bucket_batch_fn([int(b) for b in FLAGS.bucket_boundaries])
    result = dict(evaluation.evaluate(model, batch_fn(data, FLAGS.eval_batch_size or 128)),
                  model_dir=FLAGS.model_dir, path=FLAGS.data_path, num_dropped=split.num_dropped)
    print(f"accuracy: {result['accuracy']:.4f} ({result['num_examples']} pairs, {split.num_dropped} with gold "
          f"label '-' dropped)")
    print(evaluation.format_confusion(result["confusion_matrix"]))
    if FLAGS.num_heatmaps and config["model"] == "esim":
        out_dir = FLAGS.heatmap_dir or os.path.join(FLAGS.model_dir, "eval_heatmaps")
        result["heatmaps"] = heatmaps.render_examples(esim.explainer(model), split.examples[:FLAGS.num_heatmaps],
                                                      vocabulary, out_dir)
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump(result, f, indent=1)
    return result


def main(argv):
    evaluate_file(argv)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
