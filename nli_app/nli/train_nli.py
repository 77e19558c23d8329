"""``train_nli``: train ESIM / the tree-LSTM model on SNLI with the paper's recipe, or assemble HIM ensembles.

Chen et al. (2017, Sec. 4) by default (``PAPER_RECIPE``, for the shared trainer flags left unset): Adam (the
project's ``optimizers.get("adam")``) with η = 0.0004, batch 32, gradients clipped to global norm 10, the learning
rate halved and the best weights reloaded whenever dev accuracy
does not improve, early stopping after ``--early_stopping_patience`` epochs without improvement, batches bucketed
by length. Runs under the project's ``Trainer`` (MirroredStrategy over ``--num_cpu_replicas`` logical CPUs, or the
GPUs), checkpoints to ``--model_dir/checkpoints`` and resumes from there, logs to ``--model_dir/logs``.
At the end it keeps the best-dev weights, prints train/dev/test accuracy and the dev/test confusion matrices, and
writes into ``--model_dir`` (the layout ``eval_nli`` and ``export_nli`` read, see ``models``)::

    model.keras  vocab.txt  config.json           the trained model, its vocabulary and how it was built
    results.json                                  accuracies, confusion matrices, dropped '-' rows, history
    confusion_{dev,test}.png  heatmaps/*.png      confusion matrices; Figure 3 attention / input-gate heat maps
    logs/{train,validation,results}               TensorBoard scalars and image summaries

Ensembles (``--model=him`` / ``esim_fulltree``) are not trained: ``--members`` names trained model directories
(ESIM and a tree model) whose probabilities are averaged; the result is evaluated and saved the same way.

Examples::

    train_nli --model_dir=runs/esim                                        # paper sizes, shipped SNLI sample
    train_nli --model_dir=/tmp/tiny --embedding_dim=16 --hidden_units=16 --epochs=2
    train_nli --flagfile=esim.flags --train_path=snli_1.0_train.jsonl --glove_path=glove.840B.300d.txt
"""
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from nli_app.absl_flags import define_once
from nli_app.nli import dataset as dataset_lib
from nli_app.nli import esim, evaluation, glove, heatmaps, models, snli
from nli_app.nli import vocab as vocab_lib
from nli_app.train import flags as train_flags
from nli_app.train.early_stopping import EarlyStopping
from nli_app.train.plateau import ReduceOnPlateau
from nli_app.train.trainer import Trainer

FLAGS = flags.FLAGS

define_once(flags.DEFINE_enum, "model", "esim", sorted(models.MODELS), "which NLI model (see nli_app.nli.models)")
define_once(flags.DEFINE_list, "members", [], "for --model=him / esim_fulltree: trained member model directories")
define_once(flags.DEFINE_string, "train_path", snli.sample_path("train"), "SNLI .jsonl or .txt training file")
define_once(flags.DEFINE_string, "dev_path", snli.sample_path("dev"), "SNLI development file (model selection)")
define_once(flags.DEFINE_string, "test_path", snli.sample_path("test"), "SNLI test file ('' to skip)")
define_once(flags.DEFINE_integer, "train_limit", None, "use only the first N training pairs")
define_once(flags.DEFINE_string, "glove_path", None, "GloVe text file (glove.840B.300d.txt in the paper); "
            "none: random N(0, 0.01^2) embeddings")
define_once(flags.DEFINE_integer, "vocab_min_count", 1, "keep training tokens seen at least this often")
define_once(flags.DEFINE_integer, "max_vocab_size", None, "cap on the vocabulary size (specials included)")
define_once(flags.DEFINE_integer, "embedding_dim", 300, "word embedding size (300 in the paper)")
define_once(flags.DEFINE_integer, "hidden_units", 300, "LSTM / projection / MLP units (300 in the paper)")
define_once(flags.DEFINE_float, "dropout", 0.5, "dropout rate")
define_once(flags.DEFINE_boolean, "trainable_embeddings", True, "update the word embeddings in training")
define_once(flags.DEFINE_list, "ablation", [], f"ESIM ablations of Table 2: any of {', '.join(esim.ABLATIONS)}")
define_once(flags.DEFINE_integer, "plateau_patience", 1, "halve the learning rate after this many epochs without a "
            "dev improvement (and reload the best weights)")
define_once(flags.DEFINE_integer, "early_stopping_patience", 7, "stop after this many epochs without a dev improvement")
define_once(flags.DEFINE_list, "bucket_boundaries", [str(b) for b in dataset_lib.DEFAULT_BUCKET_BOUNDARIES],
            "length-bucket boundaries (token ids incl. _BOS_/_EOS_); empty: plain padded batches")
define_once(flags.DEFINE_integer, "num_heatmaps", 3, "dev pairs rendered as attention / gate-norm heat maps")

# The paper's recipe for the shared trainer flags (nli_app.train.flags) when they are not given.
PAPER_RECIPE = dict(optimizer="adam", learning_rate=4e-4, global_clipnorm=10.0, batch_size=32, epochs=20)


def apply_paper_recipe():
    """Sets the shared trainer flags not given on the command line (or in a flagfile) to ``PAPER_RECIPE``.

    Done at run time rather than with ``set_default`` so other binaries in the same process keep their defaults.
    """
    for name, value in PAPER_RECIPE.items():
        if not FLAGS[name].present:
            FLAGS[name].value = value


def batch_fn_from_flags():
    return dataset_lib.bucket_batch_fn([int(b) for b in FLAGS.bucket_boundaries])


def _read(path, what, limit=None):
    split = snli.read_snli(path, limit=limit)
    if not split.examples:
        raise ValueError(f"{path}: no labelled pairs for {what}")
    logging.info("%s: %d pairs from %s (%d with gold label '-' dropped)", what, len(split), path,
                 split.num_dropped)
    return split


def _vocabulary(model_dir, train):
    path = os.path.join(model_dir, models.VOCAB_FILE)
    if os.path.exists(path):  # resuming: the checkpoint's embedding rows follow this vocabulary
        return vocab_lib.Vocabulary.load(path)
    vocabulary = vocab_lib.Vocabulary.from_examples(train.examples, min_count=FLAGS.vocab_min_count,
                                                    max_size=FLAGS.max_vocab_size)
    os.makedirs(model_dir, exist_ok=True)
    vocabulary.save(path)
    return vocabulary


def _embeddings(vocabulary):
    if not FLAGS.glove_path:
        return None
    start = time.perf_counter()
    matrix, found = glove.load_glove(FLAGS.glove_path, vocabulary, dim=FLAGS.embedding_dim, seed=FLAGS.seed)
    logging.info("GloVe: %d of %d vocabulary words found in %s (%.1f s)", found, len(vocabulary),
                 FLAGS.glove_path, time.perf_counter() - start)
    return matrix


def builder_kwargs_from_flags(vocabulary):
    kwargs = dict(vocab_size=len(vocabulary), embedding_dim=FLAGS.embedding_dim, hidden_units=FLAGS.hidden_units,
                  dropout=FLAGS.dropout, trainable_embeddings=FLAGS.trainable_embeddings)
    if FLAGS.model == "esim":
        kwargs["ablation"] = list(FLAGS.ablation)
    elif FLAGS.ablation:
        raise app.UsageError("--ablation applies to --model=esim only")
    return kwargs


def _evaluate_splits(model, splits, vocabulary, spec, batch_size):
    batch_fn = batch_fn_from_flags()
    results = {}
    for name, split in splits.items():
        data = dataset_lib.make_dataset(split.examples, vocabulary, spec.with_trees, spec.tree_kind)
        results[name] = dict(evaluation.evaluate(model, batch_fn(data, batch_size)), path=split.path,
                             num_dropped=split.num_dropped)
    return results


def _report(model_dir, model, vocabulary, spec, results, extra, dev):
    for name, result in results.items():
        print(f"{name} accuracy: {result['accuracy']:.4f} ({result['num_examples']} pairs)")
    writer = tf.summary.create_file_writer(os.path.join(model_dir, "logs", "results"))
    with writer.as_default(step=0):
        for name, result in results.items():
            tf.summary.scalar(f"{name}_accuracy", result["accuracy"])
    for name in ("dev", "test"):
        if name in results:
            matrix = results[name]["confusion_matrix"]
            print(f"{name} confusion matrix:\n{evaluation.format_confusion(matrix)}")
            png = heatmaps.to_png(heatmaps.confusion_figure(matrix, f"{name} confusion matrix"),
                                  os.path.join(model_dir, f"confusion_{name}.png"))
            heatmaps.write_image_summary(writer, f"confusion_{name}", png)
    if FLAGS.num_heatmaps and FLAGS.model == "esim":
        paths = heatmaps.render_examples(esim.explainer(model), dev.examples[:FLAGS.num_heatmaps], vocabulary,
                                         os.path.join(model_dir, "heatmaps"), writer)
        logging.info("wrote %d heat maps to %s", len(paths), os.path.join(model_dir, "heatmaps"))
    writer.flush()
    with open(os.path.join(model_dir, "results.json"), "w") as f:
        json.dump({"model": FLAGS.model, **extra, "splits": results}, f, indent=1)


def _splits(train=None):
    splits = {} if train is None else {"train": train}
    splits["dev"] = _read(FLAGS.dev_path, "dev")
    if FLAGS.test_path:
        splits["test"] = _read(FLAGS.test_path, "test")
    return splits


def _assemble_ensemble(spec, model_dir):
    if len(FLAGS.members) < 2:
        raise app.UsageError(f"--model={FLAGS.model} needs --members=DIR1,DIR2 (trained member model dirs)")
    loaded = [models.load(d) for d in FLAGS.members]
    vocabulary = loaded[0][1]
    for d, (_, other, _) in zip(FLAGS.members[1:], loaded[1:]):
        if other.tokens != vocabulary.tokens:
            raise ValueError(f"member {d} has a different vocabulary from {FLAGS.members[0]}; members must be "
                             "trained on the same training data")
    model = spec.build([m for m, _, _ in loaded])
    splits = _splits()
    results = _evaluate_splits(model, splits, vocabulary, spec, FLAGS.eval_batch_size or 128)
    config = dict(model=FLAGS.model, builder_kwargs={}, with_trees=spec.with_trees, tree_kind=spec.tree_kind,
                  members=[os.path.abspath(d) for d in FLAGS.members])
    models.save(model_dir, model, vocabulary, config)
    _report(model_dir, model, vocabulary, spec, results, {"members": config["members"]}, splits["dev"])
    return results


def train_and_evaluate(argv):
    """The binary's work; returns the train/dev/test results (``main`` is its absl entry point)."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    if not FLAGS.model_dir:
        raise app.UsageError("--model_dir is required")
    model_dir = FLAGS.model_dir
    apply_paper_recipe()
    spec = models.get(FLAGS.model)
    strategy = train_flags.strategy_from_flags()  # before any TensorFlow op (logical CPU devices)
    if spec.ensemble:
        return _assemble_ensemble(spec, model_dir)
    train = _read(FLAGS.train_path, "train", FLAGS.train_limit)
    splits = _splits(train)
    vocabulary = _vocabulary(model_dir, train)
    embeddings = _embeddings(vocabulary)
    builder_kwargs = builder_kwargs_from_flags(vocabulary)

    def build_model():
        return spec.build(**builder_kwargs, embeddings=embeddings)

    config = train_flags.config_from_flags()
    trainer = Trainer(build_model, config, strategy=strategy, loss=keras.losses.SparseCategoricalCrossentropy(),
                      metrics=("accuracy",), batch_fn=batch_fn_from_flags())
    plateau = ReduceOnPlateau("val_accuracy", factor=0.5, patience=FLAGS.plateau_patience, reload_best_weights=True)
    stopping = EarlyStopping("val_accuracy", patience=FLAGS.early_stopping_patience, restore_best_weights=True)
    make = lambda split: dataset_lib.make_dataset(split.examples, vocabulary, spec.with_trees, spec.tree_kind)
    logging.info("training %s (%d trainable parameters, vocabulary %d) on %d pairs", FLAGS.model,
                 sum(int(np.prod(v.shape)) for v in trainer.model.trainable_weights), len(vocabulary), len(train))
    history = trainer.fit(make(train), validation_data=make(splits["dev"]), callbacks=[plateau, stopping])
    if stopping.snapshot.restore():  # the best-dev weights, as the paper selects its model on dev
        logging.info("kept the weights of the best dev accuracy %.4f", float(stopping.monitor.best.numpy()))
    results = _evaluate_splits(trainer.model, splits, vocabulary, spec, config.eval_batch_size or 128)
    saved_config = dict(model=FLAGS.model, builder_kwargs=builder_kwargs, with_trees=spec.with_trees,
                        tree_kind=spec.tree_kind, glove_path=FLAGS.glove_path, members=[])
    models.save(model_dir, trainer.model, vocabulary, saved_config)
    _report(model_dir, trainer.model, vocabulary, spec, results, {"history": history}, splits["dev"])
    return results


def main(argv):
    train_and_evaluate(argv)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
