"""Step time of each survey optimizer vs the closest Keras built-in, on the same model, in one process.

    python bench/optimizer_speed.py [--models=mlp,lstm] [--optimizers=adam,nadam] [--rounds=5] [--steps=20]

For each model (a 2-layer MLP; an Embedding + LSTM classifier, whose embedding gets sparse gradients) and each
optimizer pair, a compiled (`tf.function`) train step (forward, backward, apply) is timed step by step, ours and
Keras' alternating every step (who goes first alternates too) so that load on a shared machine hits both alike;
the figure is the median step. Also timed the same way: `apply` alone on fixed gradients (the optimizer's own
cost); and counted: the ops in that `apply` graph, a figure no load can disturb. Target: train-step ratio
ours / Keras <= 1.15. Prints one line per pair and a JSON summary at the end.
"""
import json
import statistics
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402

import keras  # noqa: E402

# Import the project from the repository root.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import optimizers  # noqa: E402
from nli_app import cli  # noqa: E402

FLAGS = flags.FLAGS

# The closest Keras built-in of each survey optimizer (same hyperparameters where both have them).
KERAS_TWIN = {
    "sgd": lambda: keras.optimizers.SGD(learning_rate=0.01),
    "momentum": lambda: keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
    "nesterov": lambda: keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True),
    "adagrad": lambda: keras.optimizers.Adagrad(learning_rate=0.01),
    "adadelta": lambda: keras.optimizers.Adadelta(learning_rate=1.0, rho=0.9),
    "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate=0.001, rho=0.9),
    "adam": lambda: keras.optimizers.Adam(learning_rate=0.001),
    "adamax": lambda: keras.optimizers.Adamax(learning_rate=0.002),
    "nadam": lambda: keras.optimizers.Nadam(learning_rate=0.002),
    "amsgrad": lambda: keras.optimizers.Adam(learning_rate=0.001, amsgrad=True),
    "adamw": lambda: keras.optimizers.AdamW(learning_rate=0.001, weight_decay=0.004),
}


def build(model_name):
    keras.utils.set_random_seed(0)
    if model_name == "mlp":
        model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                                  keras.layers.Dense(512, activation="relu"), keras.layers.Dense(10)])
        x = np.random.default_rng(0).normal(size=(FLAGS.batch_size, 784)).astype("float32")
        y = np.random.default_rng(1).integers(0, 10, FLAGS.batch_size)
    elif model_name == "lstm":
        model = keras.Sequential([keras.Input((30,), dtype="int32"), keras.layers.Embedding(20000, 64),
                                  keras.layers.LSTM(64), keras.layers.Dense(3)])
        x = np.random.default_rng(0).integers(1, 20000, (FLAGS.batch_size, 30)).astype("int32")
        y = np.random.default_rng(1).integers(0, 3, FLAGS.batch_size)
    else:
        raise ValueError(f"unknown model {model_name!r}; known: mlp, lstm")
    return model, tf.constant(x), tf.constant(y)


def timers(model_name, optimizer):
    """(train_step_timer, apply_only_timer, ops in the apply graph); a timer runs one step, returns seconds."""
    model, x, y = build(model_name)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = model.trainable_variables

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    fixed_grads = tape.gradient(loss, variables)

    @tf.function
    def apply_only():
        optimizer.apply(fixed_grads, variables)
        return optimizer.iterations

    def runner(fn):
        def run():
            started = time.perf_counter()
            np.asarray(fn())  # wait for the step to finish
            return time.perf_counter() - started
        for _ in range(3):
            fn()  # trace and warm up
        return run

    graph_ops = len(apply_only.get_concrete_function().graph.get_operations())
    return runner(train_step), runner(apply_only), graph_ops


def compare(model_name, name):
    ours = timers(model_name, optimizers.get(name))
    theirs = timers(model_name, KERAS_TWIN[name]())
    samples = {key: [] for key in ("ours_step", "keras_step", "ours_apply", "keras_apply")}
    for step in range(FLAGS.steps):
        for kind, index in (("step", 0), ("apply", 1)):
            order = (("ours", ours), ("keras", theirs)) if step % 2 == 0 else (("keras", theirs), ("ours", ours))
            for who, timer in order:
                samples[f"{who}_{kind}"].append(timer[index]())
    ms = {key: 1000 * statistics.median(values) for key, values in samples.items()}
    ms["ours_apply_ops"], ms["keras_apply_ops"] = ours[2], theirs[2]
    ms["step_ratio"] = ms["ours_step"] / ms["keras_step"]
    ms["apply_ratio"] = ms["ours_apply"] / ms["keras_apply"]
    return ms


def define_flags(flag_values=flags.FLAGS):
    flags.DEFINE_list("models", ["mlp", "lstm"], "Models: mlp, lstm.", flag_values=flag_values)
    flags.DEFINE_list("optimizers", list(optimizers.OPTIMIZERS), "Survey optimizers to time.", flag_values=flag_values)
    flags.DEFINE_integer("steps", 60, "Timed steps per optimizer and pair (after 3 warm-up steps).", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 64, "Batch size.", flag_values=flag_values)
    flags.DEFINE_string("output_json", None, "Optional file for the JSON summary.", flag_values=flag_values)


def main(argv):
    del argv
    results = {}
    print(f"{'model':6} {'optimizer':9} {'ours ms':>8} {'keras ms':>9} {'ratio':>6}   "
          f"{'apply ours':>10} {'apply keras':>11} {'ratio':>6}   {'ops ours/keras':>14}")
    for model_name in FLAGS.models:
        for name in FLAGS.optimizers:
            keras.backend.clear_session()
            r = compare(model_name, name.lower())
            results[f"{model_name}/{name}"] = r
            flag = "" if r["step_ratio"] <= 1.15 else "  > 1.15"
            print(f"{model_name:6} {name:9} {r['ours_step']:8.2f} {r['keras_step']:9.2f} {r['step_ratio']:6.2f}   "
                  f"{r['ours_apply']:10.2f} {r['keras_apply']:11.2f} {r['apply_ratio']:6.2f}   "
                  f"{r['ours_apply_ops']:>6}/{r['keras_apply_ops']:<7}{flag}", flush=True)
    worst = max(results.items(), key=lambda kv: kv[1]["step_ratio"])
    print(f"worst train-step ratio: {worst[0]} {worst[1]['step_ratio']:.2f} (target <= 1.15)")
    summary = json.dumps(results, indent=2)
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            f.write(summary)
    print(summary)


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
