"""Where one ESIM training step's (or one served pair's) time goes on CPU: its matrix-product FLOPs and the
TensorFlow profiler's op times.

    python bench/esim_step_profile.py [--embedding_dim=50 --hidden_units=200 --batch_size=128] [--steps=8]
    python bench/esim_step_profile.py --step=predict --batch_size=1 --embedding_dim=300 --hidden_units=300 \
        --vocab_size=42000 --steps=40

The CPU recipe's sizes by default (``recipes/esim_snli100k.flags``: 50-d embeddings, 200 units, dropout 0.2, batch
128, vocabulary 19,615) on batches of ``--premise_length`` / ``--hypothesis_length`` ids (no padding), the
project's Adam (global-norm clip 10) in one compiled step, as ``Trainer.fit`` runs it less its metrics. Prints the
step's wall time (median of ``--rounds``), the multiply-adds of its matrix products (forward; the backward pass
does twice as many) and the FLOP rate they imply, then the profiler's busy time per op type summed over the
threads (a trace of ``--steps`` steps), as ms per step and as a share of all op time. ``--step=predict`` profiles
the predict step of the SavedModel export instead (``sorted_inference.predict`` with the BiLSTMs' kernels stacked
once, ``inference_lstm.FusedKernels``; at most 16 rows: one call with the fused BiLSTM op); its products are the
forward pass's only.
"""
import collections
import glob
import os
import statistics
import sys
import tempfile
import time

# Import the project from the repository root.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

import keras  # noqa: E402
import optimizers  # noqa: E402
from nli_app import cli  # noqa: E402
from nli_app.nli import inference_lstm, sorted_inference  # noqa: E402
from nli_app.nli.models import esim  # noqa: E402

FLAGS = flags.FLAGS
# Profiler events that enclose ops (the function call, the executor) rather than being one.
_ENCLOSING = ("Process", "step", "TFE_", "Eager", "__inference", "Run", "ParallelFor", "FunctionRun",
              "KernelAndDeviceFunc", "ThreadpoolListener", "ValidateInputTypeAndPlacement")


def forward_multiply_adds(batch, premise, hypothesis, embedding_dim, hidden_units):
    """Multiply-adds of ESIM's matrix products in one forward pass (eq. 1-2 and 17-21's BiLSTMs, F, the MLP)."""
    steps = 2 * (premise + hypothesis)  # both directions over both sentences
    encoder = batch * steps * (embedding_dim + hidden_units) * 4 * hidden_units
    projection = batch * (premise + hypothesis) * 8 * hidden_units * hidden_units
    composition = batch * steps * 2 * hidden_units * 4 * hidden_units
    mlp = batch * (8 * hidden_units * hidden_units + hidden_units * 3)
    return {"encoder BiLSTM": encoder, "composition projection F": projection,
            "composition BiLSTM": composition, "MLP": mlp}


def op_times(trace_dir):
    """{op type: busy ps summed over threads} from the host plane of the profiler trace in ``trace_dir``."""
    space = xplane_pb2.XSpace()
    with open(glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)[0], "rb") as f:
        space.ParseFromString(f.read())
    times = collections.Counter()
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name.split(":")[-1].strip()
                if not name.startswith(_ENCLOSING):
                    times[name.removeprefix("_Mkl")] += event.duration_ps
    return times


def main(argv):
    del argv
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    model = esim.build_esim(FLAGS.vocab_size, embedding_dim=FLAGS.embedding_dim, hidden_units=FLAGS.hidden_units,
                            dropout=FLAGS.dropout)
    optimizer = optimizers.get("adam", learning_rate=1e-3, global_clipnorm=10.0)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    spec = ({side: tf.TensorSpec([None, None], tf.int32) for side in ("premise", "hypothesis")},
            tf.TensorSpec([None], tf.int32))

    if FLAGS.step == "train":
        @tf.function(input_signature=spec)
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
            return loss
    else:
        kernels = inference_lstm.FusedKernels(model)

        @tf.function(input_signature=spec)
        def step(x, y):
            del y
            return sorted_inference.predict(model, x, kernels=kernels)

    def batch():
        x = {side: tf.constant(rng.integers(4, FLAGS.vocab_size, (FLAGS.batch_size, length)), tf.int32)
             for side, length in (("premise", FLAGS.premise_length), ("hypothesis", FLAGS.hypothesis_length))}
        return x, tf.constant(rng.integers(0, 3, FLAGS.batch_size), tf.int32)

    batches = [batch() for _ in range(FLAGS.steps)]

    def run():
        start = time.perf_counter()
        for x, y in batches:
            step(x, y).numpy()
        return (time.perf_counter() - start) / len(batches)

    run()  # traces
    seconds = statistics.median(run() for _ in range(FLAGS.rounds))
    macs = forward_multiply_adds(FLAGS.batch_size, FLAGS.premise_length, FLAGS.hypothesis_length,
                                 FLAGS.embedding_dim, FLAGS.hidden_units)
    passes = 3 if FLAGS.step == "train" else 1  # training: forward, then backward (twice the forward's products)
    flop = passes * 2 * sum(macs.values())
    print(f"{FLAGS.step} step: {seconds * 1000:.2f} ms (median of {FLAGS.rounds} rounds of {FLAGS.steps}), "
          f"{FLAGS.batch_size / seconds:.1f} pairs/s")
    print(f"matrix products: {flop / 1e9:.1f} GFLOP a step (forward multiply-adds: " +
          ", ".join(f"{k} {v / 1e9:.2f} G" for k, v in macs.items()) + f"), {flop / seconds / 1e9:.0f} GFLOP/s")
    with tempfile.TemporaryDirectory() as trace_dir:
        tf.profiler.experimental.start(trace_dir)
        run()
        tf.profiler.experimental.stop()
        times = op_times(trace_dir)
    total = sum(times.values())
    print(f"op time summed over threads: {total / 1e9 / FLAGS.steps:.2f} ms a step, {len(times)} op types; by type:")
    for name, ps in times.most_common(FLAGS.top):
        print(f"  {ps / 1e9 / FLAGS.steps:8.2f} ms  {100 * ps / total:5.1f} %  {name}")


def define_flags(flag_values=flags.FLAGS):
    flags.DEFINE_enum("step", "train", ["train", "predict"], "the compiled step profiled", flag_values=flag_values)
    flags.DEFINE_integer("threads", 2, "intra- and inter-op threads", flag_values=flag_values)
    flags.DEFINE_integer("vocab_size", 19_615, "vocabulary (the recipe's on the 100k pairs)", flag_values=flag_values)
    flags.DEFINE_integer("embedding_dim", 50, "embedding size", flag_values=flag_values)
    flags.DEFINE_integer("hidden_units", 200, "hidden units", flag_values=flag_values)
    flags.DEFINE_float("dropout", 0.2, "dropout", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 128, "pairs a step", flag_values=flag_values)
    flags.DEFINE_integer("premise_length", 16, "premise ids a row (SNLI's mean 14 words + _BOS_/_EOS_)",
                         flag_values=flag_values)
    flags.DEFINE_integer("hypothesis_length", 10, "hypothesis ids a row (mean 8 words + 2)", flag_values=flag_values)
    flags.DEFINE_integer("steps", 8, "steps a round (and in the profiler's trace)", flag_values=flag_values)
    flags.DEFINE_integer("rounds", 3, "timed rounds", flag_values=flag_values)
    flags.DEFINE_integer("top", 15, "op types listed", flag_values=flag_values)


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
