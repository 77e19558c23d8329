"""Time of one Metric 2.1 measurement (Keskar et al.) of F1 on all 60,000 MNIST training images, per maximiser.

Target: <= 2 min on 2 CPU cores. Trains F1 (``nli_app.large_batch.networks``) for ``--epochs`` with Adam, then
measures phi(eps = 1e-3, full space) with ``method="paper"``, ``"default"`` and ``"default"`` searching on a
``--search_examples`` subset, printing the value, evaluations, wall time and process CPU time / cores (the wall time
an otherwise idle machine would take; the CPU is shared with other work when the two differ).

    PYTHONPATH=$PWD python bench/sharpness_f1.py --mnist=../shared/data/mnist/mnist.npz
"""
import os
import time

import keras
import numpy as np
from absl import flags

from nli_app import cli
from nli_app.large_batch.networks import build_f1
from nli_app.sharpness import model_sharpness

FLAGS = flags.FLAGS


def define_flags(flag_values=flags.FLAGS):
    flags.DEFINE_string("mnist", "../shared/data/mnist/mnist.npz", "MNIST in Keras' npz layout", flag_values=flag_values)
    flags.DEFINE_integer("epochs", 1, "Adam epochs (batch 256) before measuring", flag_values=flag_values)
    flags.DEFINE_integer("search_examples", 10000, "subset the third contender searches on", flag_values=flag_values)
    flags.DEFINE_float("epsilon", 1e-3, "box size", flag_values=flag_values)


def main(argv):
    del argv
    with np.load(FLAGS.mnist) as d:
        x, y = d["x_train"].reshape(-1, 784).astype(np.float32) / 255.0, d["y_train"]
    keras.utils.set_random_seed(0)
    model = build_f1()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=256, epochs=FLAGS.epochs, verbose=0)
    cores = len(os.sched_getaffinity(0))
    print(f"F1 on {len(y)} images, {cores} cores")
    contenders = [("paper", {"method": "paper"}), ("default", {}),
                  (f"default search_examples={FLAGS.search_examples}", {"search_examples": FLAGS.search_examples})]
    for name, kwargs in contenders:
        wall, cpu = time.perf_counter(), time.process_time()
        r = model_sharpness(model, (x, y), FLAGS.epsilon, **kwargs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"{name:32s} phi {r.value:10.4g}  evaluations {r.evaluations:3d} (+{r.search_evaluations:3d} on the "
              f"subset)  wall {wall:6.1f} s  cpu/cores {cpu / cores:6.1f} s", flush=True)


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
