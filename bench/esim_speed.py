"""Training and inference speed of ESIM vs the syntactic tree-LSTM model (Chen et al. 2017) on CPU cores.

    python bench/esim_speed.py [--threads=2] [--intra_op_threads=1] [--rounds=3] [--train_batches=20] \
        [--embedding_dim=300]

Paper sizes by default (300-d embeddings, 300 hidden units, batch 32). Real SNLI pairs (the shipped sample, with
their binary parses) in random order, padded per batch as training does. Measured, in pairs/s:
training (compiled train step: forward, backward, the project's ``optimizers.Adam``, lr 4e-4, with global-norm
clip 10) at batch 32; inference (compiled
forward, ``sorted_inference.predict``: length-sorted sub-batches for ESIM, the plain call for the tree model) at batch
32 and 256; and the single-pair latency (batch 1, median). Every shape is traced before timing;
ESIM and the tree model alternate round by round so load on a shared machine hits both alike; each figure is
the median round and the cost ratio the median of the per-round ratios. Target: tree-model training cost per pair
<= 1.5x ESIM's (issue 9; the authors' Theano tree model took 40 h vs 6 h for ESIM). Prints one line per figure and
JSON. ESIM against the PyTorch reference: ``bench/esim_vs_pytorch.py``.
"""
import json
import os
import statistics
import sys
import time

# Import the project from the repository root.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402

import keras  # noqa: E402
from nli_app import cli  # noqa: E402
from nli_app.nli import sorted_inference  # noqa: E402
from nli_app.nli.data import dataset, snli  # noqa: E402
from nli_app.nli.data import vocab as vocab_lib  # noqa: E402
from nli_app.nli.models import esim, tree_model  # noqa: E402
import optimizers  # noqa: E402

FLAGS = flags.FLAGS


def batches(examples, vocabulary, batch_size, count, seed):
    """``count`` padded batches of real pairs (features with tree arrays, labels) in a seeded random order."""
    order = np.random.default_rng(seed).permutation(len(examples))
    chosen = [examples[i] for i in np.resize(order, batch_size * count)]
    data = dataset.make_dataset(chosen, vocabulary, with_trees=True)
    return list(dataset.bucket_batch_fn(())(data, batch_size).take(count))


def for_model(features, with_trees):
    return features if with_trees else {k: features[k] for k in ("premise", "hypothesis")}


class Timed:
    """Compiled train step and forward pass of one model; timing helpers return seconds."""

    def __init__(self, model, with_trees):
        self.model, self.with_trees = model, with_trees
        self.optimizer = optimizers.get("adam", learning_rate=4e-4, global_clipnorm=10.0)
        self.loss = keras.losses.SparseCategoricalCrossentropy()
        self.train_step = tf.function(self._train_step, reduce_retracing=True)
        self.forward = tf.function(lambda x: sorted_inference.predict(model, x), reduce_retracing=True)

    def _train_step(self, x, y):
        with tf.GradientTape() as tape:
            loss = self.loss(y, self.model(x, training=True))
        self.optimizer.apply_gradients(zip(tape.gradient(loss, self.model.trainable_variables),
                                           self.model.trainable_variables))
        return loss

    def train(self, data):
        start = time.perf_counter()
        for x, y in data:
            self.train_step(for_model(x, self.with_trees), y).numpy()
        return time.perf_counter() - start

    def infer(self, data):
        start = time.perf_counter()
        for x, _ in data:
            self.forward(for_model(x, self.with_trees)).numpy()
        return time.perf_counter() - start

    def latencies(self, data):
        times = []
        for x, _ in data:
            start = time.perf_counter()
            self.forward(for_model(x, self.with_trees)).numpy()
            times.append(time.perf_counter() - start)
        return times


def define_flags(flag_values=flags.FLAGS):
    flags.DEFINE_integer("threads", 2, "TensorFlow's inter-op threads, and its intra-op threads unless "
                         "--intra_op_threads.", flag_values=flag_values)
    flags.DEFINE_integer("intra_op_threads", None, "Threads one TensorFlow op may use (none: --threads; the ESIM "
                         "recipe's --tensorflow_intra_op_parallelism=1 is 1).", lower_bound=1, flag_values=flag_values)
    flags.DEFINE_string("data_path", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                  "nli_app", "data", "snli", "snli_1.0_sample_train.jsonl"),
                        "SNLI .jsonl file whose pairs (and parses) are used.", flag_values=flag_values)
    flags.DEFINE_integer("embedding_dim", 300, "Embedding size (paper: 300).", flag_values=flag_values)
    flags.DEFINE_integer("hidden_units", 300, "Hidden units (paper: 300).", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 32, "Training batch size (paper: 32).", flag_values=flag_values)
    flags.DEFINE_list("inference_batch_sizes", ["32", "256"], "Inference batch sizes.", flag_values=flag_values)
    flags.DEFINE_integer("train_batches", 20, "Training batches per round.", flag_values=flag_values)
    flags.DEFINE_integer("single_pairs", 20, "Pairs timed one by one for the latency.", flag_values=flag_values)
    flags.DEFINE_integer("rounds", 3, "Alternating timing rounds.", flag_values=flag_values)
    flags.DEFINE_string("output_json", None, "Optional file for the JSON summary.", flag_values=flag_values)


def main(argv):
    del argv
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.intra_op_threads or FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    examples = snli.read_snli(FLAGS.data_path).examples
    vocabulary = vocab_lib.Vocabulary.from_examples(examples)
    sizes = dict(vocab_size=len(vocabulary), embedding_dim=FLAGS.embedding_dim, hidden_units=FLAGS.hidden_units)
    keras.utils.set_random_seed(0)
    models = {"esim": Timed(esim.build_esim(**sizes), False),
              "tree": Timed(tree_model.build_tree_model(**sizes), True)}
    infer_sizes = [int(b) for b in FLAGS.inference_batch_sizes]
    data = {"train": batches(examples, vocabulary, FLAGS.batch_size, FLAGS.train_batches, 0),
            "single": batches(examples, vocabulary, 1, FLAGS.single_pairs, 2)}
    for b in infer_sizes:
        data[f"infer{b}"] = batches(examples, vocabulary, b, 2, 1)
    nodes = np.mean([x["premise_height"].shape[1] for x, _ in data["train"]])
    print(f"{len(examples)} SNLI pairs from {FLAGS.data_path}; vocabulary {len(vocabulary)}; sizes {sizes}; "
          f"{FLAGS.threads} threads; premise tree slots per training batch ~ {nodes:.0f}")

    for name, timed in models.items():  # trace every shape before timing
        start = time.perf_counter()
        timed.train(data["train"])
        for b in infer_sizes:
            timed.infer(data[f"infer{b}"])
        timed.latencies(data["single"])
        print(f"{name}: warm-up (tracing) {time.perf_counter() - start:.1f} s")

    rounds = {name: {"train": [], **{f"infer{b}": [] for b in infer_sizes}, "latency": []} for name in models}
    for r in range(FLAGS.rounds):
        for name, timed in models.items():
            pairs = FLAGS.batch_size * FLAGS.train_batches
            rounds[name]["train"].append(pairs / timed.train(data["train"]))
            for b in infer_sizes:
                rounds[name][f"infer{b}"].append(2 * b / timed.infer(data[f"infer{b}"]))
            rounds[name]["latency"].append(statistics.median(timed.latencies(data["single"])) * 1000)
        print(f"round {r + 1}/{FLAGS.rounds}: " + ", ".join(
            f"{n} train {v['train'][-1]:.1f} pairs/s" for n, v in rounds.items()))

    summary = {"threads": FLAGS.threads, "intra_op_threads": FLAGS.intra_op_threads or FLAGS.threads, "sizes": sizes,
               "batch_size": FLAGS.batch_size, "models": {}}
    for name in models:
        figures = {k: statistics.median(v) for k, v in rounds[name].items()}
        summary["models"][name] = {"train_pairs_per_s": figures["train"], "latency_ms": figures["latency"],
                                   **{f"inference_pairs_per_s_batch{b}": figures[f"infer{b}"] for b in infer_sizes}}
        print(f"{name:5s} train {figures['train']:8.1f} pairs/s | " + " | ".join(
            f"infer@{b} {figures[f'infer{b}']:8.1f} pairs/s" for b in infer_sizes)
            + f" | single pair {figures['latency']:.1f} ms")
    esim_fig, tree_fig = summary["models"]["esim"], summary["models"]["tree"]
    # Median of the per-round ratios: both models of one round ran under (nearly) the same machine load.
    ratio = statistics.median(e / t for e, t in zip(rounds["esim"]["train"], rounds["tree"]["train"]))
    summary["tree_vs_esim_training_cost_per_pair"] = ratio
    summary["tree_vs_esim_inference_cost_per_pair"] = {
        b: esim_fig[f"inference_pairs_per_s_batch{b}"] / tree_fig[f"inference_pairs_per_s_batch{b}"]
        for b in infer_sizes}
    print(f"tree / ESIM training cost per pair: {ratio:.2f}x (target <= 1.5x: {'met' if ratio <= 1.5 else 'MISSED'})")
    print(json.dumps(summary, indent=1))
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
