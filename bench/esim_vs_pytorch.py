"""ESIM on CPU, ours vs coetaur0/ESIM (PyTorch), side by side on the same seeded SNLI-shaped batches.

    python bench/esim_vs_pytorch.py --reference_dir=/path/to/coetaur0/ESIM --torch_python=/path/to/venv/bin/python \
        [--rounds=3] [--threads=2] [--intra_op_threads=1] [--output_json=esim_vs_pytorch.json]

Paper sizes by default (Chen et al. 2017, Sec. 4): 300-d trainable embeddings, 300 units, vocabulary 42,000,
batch 32, dropout 0.5, Adam 4e-4. Synthetic pairs shaped like SNLI (premise ~ 14 words, hypothesis ~ 8, plus
_BOS_/_EOS_, ids uniform over the vocabulary), or with ``--snli_path`` real pairs drawn from an SNLI file (ids of
a vocabulary of that file's words), written once to an .npz that both contenders read. The CPU recipe's sizes on
real pairs (``recipes/esim_snli100k.flags``)::

    python bench/esim_vs_pytorch.py --reference_dir=... --torch_python=... \
        --snli_path=../shared/data/snli/snli_1.0_train_first100k.jsonl --embedding_dim=50 --hidden_units=200 \
        --train_batch_size=128 --dropout=0.2 --learning_rate=1e-3

Rows:

* ``train``: training pairs/s at ``--train_batch_size``, batches padded to their own longest sentence, random
  order. Ours: the project's ``Trainer.fit`` (its compiled train step, ``optimizers.Adam`` with global-norm clip
  10); the reference: its own step (cross-entropy on logits, ``clip_grad_norm_`` 10, ``torch.optim.Adam``).
* ``train_sorted``: the same pairs sorted by length before batching (what length buckets do), batch order shuffled.
* ``infer32`` / ``infer256`` / ``infer256_sorted``: inference pairs/s. Ours: the compiled predict step of the
  SavedModel export (``sorted_inference.predict`` with ``inference_lstm.FusedKernels``: the
  batch's rows sorted by length into sub-batches of 64, each cut to its own longest sentences, a batch of at most
  16 rows cut and run at once with ``inference_lstm``'s BiLSTM graph; the same outputs as
  ``model(x, training=False)``) as one ``tf.function`` over ``[None, None]`` ids; the reference: ``model.eval()``
  under ``torch.no_grad()`` (it sorts by length and packs its sequences itself).
* ``single``: one pair per call (what the server runs for one pair, less the in-graph tokenisation), median
  latency in ms.

The reference runs as its users run it: PyTorch's default threading (OpenMP threads spin while waiting),
``--threads`` intra-op threads, on a machine that should be otherwise idle. Ours runs as the ESIM recipe trains:
``--threads`` ops at once, each on ``--intra_op_threads`` threads (default 1, the recipe's
``--tensorflow_intra_op_parallelism=1``; 2 gives TensorFlow's default on 2 cores). ``--reference_passive_wait`` sets
``OMP_WAIT_POLICY=PASSIVE`` for it, the option for loaded machines (figures not comparable with the default's).

Each round starts one fresh process per contender (the first to run alternates round by round); each process warms
every shape up, then times every row once. Printed: per-row medians over rounds, spread (min-max) and the ratio
ours / reference (for latency: ours / reference, lower is better) of the medians, plus JSON. With ``--jit`` a third
contender, ours with ``jit_compile=True`` train and predict steps (compiled here, not by the Trainer), runs too.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# Import the project from the repository root.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402

import keras  # noqa: E402
from nli_app import cli  # noqa: E402
from nli_app.nli import inference_lstm, sorted_inference  # noqa: E402
from nli_app.nli.data import dataset as dataset_lib  # noqa: E402
from nli_app.nli.data import snli  # noqa: E402
from nli_app.nli.data import vocab as vocab_lib  # noqa: E402
from nli_app.nli.models import esim  # noqa: E402
from nli_app.train.trainer import Trainer, TrainerConfig  # noqa: E402

FLAGS = flags.FLAGS

ROWS = (("train", "training pairs/s, random order", True), ("train_sorted", "training pairs/s, length-sorted", True),
        ("infer32", "inference pairs/s, batch 32", True), ("infer256", "inference pairs/s, batch 256", True),
        ("infer256_sorted", "inference pairs/s, 256 sorted", True), ("single", "one pair, median ms", False))
PREMISE_MEAN, HYPOTHESIS_MEAN = 14, 8


def make_batches(path):
    """Writes the pairs and each row's batches (index arrays) to ``path``; returns (pairs, vocabulary size, mean
    words per side)."""
    rng = np.random.default_rng(FLAGS.seed)
    n = (FLAGS.train_batch_size * FLAGS.train_batches + 32 * FLAGS.infer32_batches + 256 * FLAGS.infer256_batches
         + FLAGS.single_pairs)
    data = {"label": rng.integers(0, 3, n).astype(np.int32)}
    vocab_size = FLAGS.vocab_size
    if FLAGS.snli_path:
        vocab_size = _real_pairs(data, rng, n)
    else:
        for side, mean, longest in (("premise", PREMISE_MEAN, 60), ("hypothesis", HYPOTHESIS_MEAN, 30)):
            words = np.clip(np.round(rng.gamma(5.0, mean / 5.0, n)), 1, longest).astype(np.int32)
            lengths = words + 2  # _BOS_ ... _EOS_
            ids = rng.integers(4, vocab_size, (n, longest + 2)).astype(np.int32)
            ids[:, 0], ids[np.arange(n), lengths - 1] = 2, 3
            ids[np.arange(longest + 2)[None, :] >= lengths[:, None]] = 0
            data[side], data[f"{side}_length"] = ids, lengths
    order = iter(np.arange(n))

    def take(count):
        return np.array([next(order) for _ in range(count)])

    def sorted_batches(indices, size):
        key = np.maximum(data["premise_length"][indices], data["hypothesis_length"][indices])
        batches = np.asarray(indices)[np.argsort(key, kind="stable")].reshape(-1, size)
        return batches[rng.permutation(len(batches))]

    train = take(FLAGS.train_batch_size * FLAGS.train_batches)
    data["task_train"] = train.reshape(-1, FLAGS.train_batch_size)
    data["task_train_sorted"] = sorted_batches(train, FLAGS.train_batch_size)
    data["task_infer32"] = take(32 * FLAGS.infer32_batches).reshape(-1, 32)
    infer256 = take(256 * FLAGS.infer256_batches)
    data["task_infer256"] = infer256.reshape(-1, 256)
    data["task_infer256_sorted"] = sorted_batches(infer256, 256)
    data["task_single"] = take(FLAGS.single_pairs).reshape(-1, 1)
    data["sizes"] = np.array(json.dumps(dict(vocab_size=vocab_size, embedding_dim=FLAGS.embedding_dim,
                                             hidden_units=FLAGS.hidden_units, dropout=FLAGS.dropout)))
    data["learning_rate"] = np.array(FLAGS.learning_rate)
    np.savez(path, **data)
    words = {s: float(np.mean(data[f"{s}_length"]) - 2) for s in ("premise", "hypothesis")}
    return n, vocab_size, words


def _real_pairs(data, rng, n):
    """``n`` pairs drawn at random from ``--snli_path`` into ``data`` (ids, lengths, gold labels); returns the size
    of the vocabulary of every word of that file."""
    examples = snli.read_snli(FLAGS.snli_path).examples
    if len(examples) < n:
        raise cli.UsageError(f"--snli_path={FLAGS.snli_path} has {len(examples)} labelled pairs; the rows need {n}")
    vocabulary = vocab_lib.Vocabulary.from_examples(examples)
    chosen = [examples[i] for i in rng.choice(len(examples), n, replace=False)]
    data["label"] = np.array([e.label for e in chosen], np.int32)
    for side in ("premise", "hypothesis"):
        rows = [vocabulary.encode(getattr(e, f"{side}_tokens")) for e in chosen]
        lengths = np.array([len(r) for r in rows], np.int32)
        ids = np.full((n, lengths.max()), vocab_lib.PAD_ID, np.int32)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
        data[side], data[f"{side}_length"] = ids, lengths
    return len(vocabulary)


# --------------------------------------------------------------------------------------------- our worker
def run_ours(jit):
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    data = dict(np.load(FLAGS.batches))
    sizes = json.loads(str(data["sizes"]))
    adam = {"learning_rate": float(data["learning_rate"]), "global_clipnorm": 10.0}
    config = TrainerConfig(optimizer="adam", optimizer_kwargs=adam, global_batch_size=data["task_train"].shape[1],
                           epochs=1, shuffle=False, model_dir=None, verbose=0, log_every_steps=10 ** 9)
    trainer = Trainer(lambda: esim.build_esim(**sizes), config, loss=keras.losses.SparseCategoricalCrossentropy())
    model = trainer.model
    spec = {s: tf.TensorSpec([None, None], tf.int32, name=s) for s in ("premise", "hypothesis")}
    if jit:  # XLA compiles Keras' own LSTM loops (not sorted_inference's fused LSTM op, which it has no kernel for)
        predict = tf.function(lambda x: model(x, training=False), input_signature=[spec], jit_compile=True)
    else:  # what the SavedModel export runs: the BiLSTMs' kernels stacked once (stale after the training rows,
        # which changes the numbers, not the time)
        kernels = inference_lstm.FusedKernels(model)
        predict = tf.function(lambda x: sorted_inference.predict(model, x, kernels=kernels), input_signature=[spec])

    def pairs_dataset(indices):
        rows = {s: tf.RaggedTensor.from_row_lengths(
            np.concatenate([data[s][i, :data[f"{s}_length"][i]] for i in indices]),
            data[f"{s}_length"][indices].astype(np.int64)) for s in ("premise", "hypothesis")}
        ds = tf.data.Dataset.from_tensor_slices((rows, data["label"][indices]))
        return ds.map(lambda x, y: ({k: v.to_tensor() if isinstance(v, tf.RaggedTensor) else v
                                     for k, v in x.items()}, y))

    def padded(indices):
        return {s: tf.constant(data[s][indices][:, :int(data[f"{s}_length"][indices].max())])
                for s in ("premise", "hypothesis")}

    if jit:
        step = _jit_train_step(trainer)
        train_batches = {name: [(padded(b), tf.constant(data["label"][b])) for b in data[f"task_{name}"]]
                         for name in ("train", "train_sorted")}

        def train(name):
            start = time.perf_counter()
            for x, y in train_batches[name]:
                step(x, y).numpy()
            return time.perf_counter() - start
    else:
        train_data = {name: pairs_dataset(data[f"task_{name}"].reshape(-1)) for name in ("train", "train_sorted")}
        batch_fn = dataset_lib.bucket_batch_fn(())  # plain per-batch padding: exactly the rows' batches
        trainer.batch_fn = batch_fn

        def train(name):
            trainer.epoch.assign(0)
            trainer.step_in_epoch.assign(0)
            start = time.perf_counter()
            trainer.fit(train_data[name])
            return time.perf_counter() - start

    infer_batches = {name: [padded(b) for b in data[f"task_{name}"]]
                     for name in ("infer32", "infer256", "infer256_sorted", "single")}

    def infer(name):
        times = []
        for x in infer_batches[name]:
            start = time.perf_counter()
            predict(x).numpy()
            times.append(time.perf_counter() - start)
        return times

    start = time.perf_counter()
    for name in ("train", "train_sorted"):
        train(name)
    for name in infer_batches:
        infer(name)
    print(f"ours{' (jit)' if jit else ''}: warm-up {time.perf_counter() - start:.1f} s", flush=True)
    figures = {}
    for name in ("train", "train_sorted"):
        figures[name] = data[f"task_{name}"].size / train(name)
    for name in infer_batches:
        times = infer(name)
        figures[name] = (float(np.median(times)) * 1000 if name == "single"
                         else data[f"task_{name}"].size / sum(times))
    with open(FLAGS.worker_output, "w") as f:
        json.dump(figures, f)


def _jit_train_step(trainer):
    """The Trainer's update (mean cross-entropy, global-norm clip in the optimizer) as one XLA-compiled step."""
    model, optimizer, loss_fn = trainer.model, trainer.optimizer, trainer.loss

    @tf.function(jit_compile=True, reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    return step


# -------------------------------------------------------------------------------------------- orchestrator
def _run_round(contender, batches, output):
    if contender == "reference":
        command = [FLAGS.torch_python, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "esim_reference_worker.py"),
                   f"--reference_dir={FLAGS.reference_dir}", f"--batches={batches}", f"--output={output}",
                   f"--threads={FLAGS.threads}"]
    else:
        command = [sys.executable, os.path.abspath(__file__), f"--worker={contender}", f"--batches={batches}",
                   f"--worker_output={output}", f"--threads={FLAGS.threads}",
                   f"--intra_op_threads={FLAGS.intra_op_threads}"]
    env = dict(os.environ)
    if contender == "reference" and FLAGS.reference_passive_wait:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    with open(output) as f:
        figures = json.load(f)
    print(f"  {contender}: {time.perf_counter() - start:.0f} s, " +
          ", ".join(f"{k} {v:.1f}" for k, v in figures.items()), flush=True)
    return figures


def define_flags(flag_values=flags.FLAGS):
    flags.DEFINE_string("reference_dir", None, "checkout of https://github.com/coetaur0/ESIM", flag_values=flag_values)
    flags.DEFINE_string("torch_python", None, "a Python with PyTorch (CPU) for the reference", flag_values=flag_values)
    flags.DEFINE_integer("rounds", 3, "alternating rounds (fresh processes each)", flag_values=flag_values)
    flags.DEFINE_integer("threads", 2, "the reference's (intra-op) threads; ours: TensorFlow's inter-op threads",
                         flag_values=flag_values)
    flags.DEFINE_integer("intra_op_threads", 1, "ours: TensorFlow's intra-op threads (the recipes' "
                         "--tensorflow_intra_op_parallelism)", lower_bound=1, flag_values=flag_values)
    flags.DEFINE_integer("vocab_size", 42_000, "vocabulary of the synthetic pairs (SNLI with the paper's "
                         "preprocessing: ~42k)", flag_values=flag_values)
    flags.DEFINE_integer("embedding_dim", 300, "embedding size", flag_values=flag_values)
    flags.DEFINE_integer("hidden_units", 300, "hidden units", flag_values=flag_values)
    flags.DEFINE_string("snli_path", None, "real pairs from this SNLI file (.jsonl/.txt/.csv) instead of synthetic "
                        "ones; the vocabulary is that file's words", flag_values=flag_values)
    flags.DEFINE_integer("train_batch_size", 32, "batch size of the training rows", flag_values=flag_values)
    flags.DEFINE_float("dropout", 0.5, "dropout of both models", flag_values=flag_values)
    flags.DEFINE_float("learning_rate", 4e-4, "Adam's learning rate for both", flag_values=flag_values)
    flags.DEFINE_integer("train_batches", 24, "training batches per training row", flag_values=flag_values)
    flags.DEFINE_integer("infer32_batches", 16, "inference batches of 32", flag_values=flag_values)
    flags.DEFINE_integer("infer256_batches", 4, "inference batches of 256", flag_values=flag_values)
    flags.DEFINE_integer("single_pairs", 40, "pairs timed one by one", flag_values=flag_values)
    flags.DEFINE_integer("seed", 0, "seed of the synthetic pairs", flag_values=flag_values)
    flags.DEFINE_bool("reference_passive_wait", False,
                      "run the reference with OMP_WAIT_POLICY=PASSIVE, an option for loaded shared machines only (there "
                      "PyTorch's spinning OpenMP threads stall for 100s of ms per call); it slows the reference on an "
                      "idle machine (b32: -35%), so report such figures separately", flag_values=flag_values)
    flags.DEFINE_bool("jit", False, "also time ours with jit_compile=True train / predict steps", flag_values=flag_values)
    flags.DEFINE_string("output_json", None, "also write the summary here", flag_values=flag_values)
    flags.DEFINE_enum("worker", None, ["ours", "ours_jit"], "internal: run one round of ours in this process", flag_values=flag_values)
    flags.DEFINE_string("batches", None, "internal: the .npz of pairs and batches", flag_values=flag_values)
    flags.DEFINE_string("worker_output", None, "internal: where the worker writes its figures", flag_values=flag_values)


def main(argv):
    del argv
    if FLAGS.worker:
        run_ours(jit=FLAGS.worker == "ours_jit")
        return
    if not FLAGS.reference_dir or not FLAGS.torch_python:
        raise cli.UsageError("--reference_dir (a coetaur0/ESIM checkout) and --torch_python are required")
    if not os.path.isfile(os.path.join(FLAGS.reference_dir, "esim", "model.py")):
        raise cli.UsageError(f"--reference_dir={FLAGS.reference_dir} has no esim/model.py")
    contenders = ["ours", "reference"] + (["ours_jit"] if FLAGS.jit else [])
    with tempfile.TemporaryDirectory() as tmp:
        batches = os.path.join(tmp, "batches.npz")
        n, vocab_size, words = make_batches(batches)
        print(f"{n} {'real' if FLAGS.snli_path else 'synthetic'} pairs, mean words premise {words['premise']:.1f}, "
              f"hypothesis {words['hypothesis']:.1f}; vocabulary {vocab_size}, {FLAGS.embedding_dim}-d, "
              f"{FLAGS.hidden_units} units, training batches of {FLAGS.train_batch_size}; {FLAGS.threads} threads "
              "each", flush=True)
        rounds = {c: [] for c in contenders}
        for r in range(FLAGS.rounds):
            print(f"round {r + 1}/{FLAGS.rounds}", flush=True)
            order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
            for contender in order:
                rounds[contender].append(_run_round(contender, batches, os.path.join(tmp, f"{contender}.json")))
    summary = {"rounds": rounds, "medians": {}, "ratios": {}}
    print(f"\n{'row':34s}" + "".join(f"{c:>26s}" for c in contenders) + "   ours/reference")
    for key, label, _ in ROWS:
        cells = ""
        for c in contenders:
            values = [f[key] for f in rounds[c]]
            median = statistics.median(values)
            summary["medians"].setdefault(c, {})[key] = median
            cells += f"{median:12.1f} ({min(values):6.1f}-{max(values):6.1f})"
        ratio = summary["medians"]["ours"][key] / summary["medians"]["reference"][key]
        summary["ratios"][key] = ratio
        print(f"{label:34s}{cells}   {ratio:5.2f}")
    print(json.dumps(summary["ratios"]))
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
