"""Why our F1 sharpness is larger than Keskar et al.'s: phi of the same trained minimisers under each choice the
paper leaves open (README.md, large-batch section, "the absolute scale of phi").

    python bench/large_batch_scale.py --output_dir=/tmp/lbdata/f1 --runs=b256_seed0,b6000_seed0

Reads finished runs of a study (``<output_dir>/runs/<run>/final_weights.npz``, e.g. from
``bench/large_batch_repro.py`` or ``large_batch --experiment=sb_vs_lb``) and measures phi (eps 1e-3, full space,
the paper's 10 L-BFGS-B iterations, or ``--method=default``) with one setting changed at a time from the study's
default objective: mean loss over a fixed 10,000-example training subset, BatchNorm in inference mode with
statistics recalibrated on the training set, float32. Prints phi per run and setting, the seconds each took, and
the box's make-up (the fraction of weights with |x_i| < 1, for which eps (|x_i| + 1) is essentially the absolute
eps).
Writes ``scale.json`` into --output_dir.
"""
import json
import os
import sys
import time

from absl import flags, logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nli_app import cli  # noqa: E402

FLAGS = flags.FLAGS

BASE = {"num_examples": 10000, "reduction": "mean", "batchnorm": "inference", "batch_size": 4096,
        "dtype": "float32"}
VARIANTS = {  # name -> (what changes, model_sharpness overrides)
    "default": ("the study's objective", {}),
    "examples=1000": ("f on 1,000 training examples", {"num_examples": 1000}),
    "examples=60000": ("f on all 60,000 training examples", {"num_examples": None}),
    "float64": ("objective in float64", {"dtype": "float64"}),
    "sum": ("f = sum of the losses, not the mean", {"reduction": "sum"}),
    "bn=batch/4096": ("BatchNorm with batch statistics, batches of 4,096", {"batchnorm": "batch"}),
    "bn=batch/256": ("BatchNorm with batch statistics, batches of 256", {"batchnorm": "batch", "batch_size": 256}),
    "bn=batch/60000": ("BatchNorm with batch statistics on all 60,000", {"batchnorm": "batch", "num_examples": None,
                                                                         "batch_size": 60000}),
}


def define_flags(flag_values=flags.FLAGS):
    flags.DEFINE_string("data_path", "../shared/data/mnist/mnist.npz", "the MNIST the runs were trained on", flag_values=flag_values)
    flags.DEFINE_string("output_dir", "/tmp/lbdata/f1", "study directory holding runs/<run>/final_weights.npz", flag_values=flag_values)
    flags.DEFINE_list("runs", ["b256_seed0", "b6000_seed0"], "runs to measure (SB first, then LB)", flag_values=flag_values)
    flags.DEFINE_list("variants", [], "subset of the variants to run (default: all)", flag_values=flag_values)
    flags.DEFINE_float("epsilon", 1e-3, "box size", flag_values=flag_values)
    flags.DEFINE_enum("method", "paper", ["paper", "default"], "sharpness maximiser", flag_values=flag_values)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import numpy as np  # pylint: disable=import-outside-toplevel
    from nli_app.large_batch import networks  # pylint: disable=import-outside-toplevel
    from nli_app.large_batch.data import mnist  # pylint: disable=import-outside-toplevel
    from nli_app.large_batch.study import load_weights  # pylint: disable=import-outside-toplevel
    from nli_app.sharpness import model_sharpness  # pylint: disable=import-outside-toplevel
    splits = mnist.load(FLAGS.data_path)
    names = FLAGS.variants or list(VARIANTS)
    path = os.path.join(FLAGS.output_dir, "scale.json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    for run in FLAGS.runs:
        model = networks.build("F1", splits.input_shape, splits.num_classes)
        model.set_weights(load_weights(os.path.join(FLAGS.output_dir, "runs", run, "final_weights.npz")))
        x = np.concatenate([np.ravel(v.numpy()) for v in model.trainable_variables])
        small = float(np.mean(np.abs(x) < 1))
        print(f"{run}: n = {x.size} trainable weights (BatchNorm moving statistics excluded: "
              f"{sum(int(np.prod(v.shape)) for v in model.non_trainable_variables)}), {100 * small:.3f}% with "
              f"|x_i| < 1, median |x_i| = {np.median(np.abs(x)):.4f}", flush=True)
        for name in names:
            key = f"{run}/{name}" + ("" if FLAGS.method == "paper" else f"/{FLAGS.method}")
            if key not in results:
                t = time.perf_counter()
                r = model_sharpness(model, (splits.x_train, splits.y_train), FLAGS.epsilon,
                                    method=FLAGS.method, **{**BASE, **VARIANTS[name][1]})
                results[key] = {**r.to_json(), "seconds": time.perf_counter() - t}
                with open(path + ".tmp", "w") as f:
                    json.dump(results, f, indent=2)
                os.replace(path + ".tmp", path)
            r = results[key]
            print(f"  {name:16} phi = {r['value']:10.4g}  f0 = {r['f0']:.4g}  f_max = {r['f_max']:.4g}  "
                  f"({r['evaluations']} evaluations, {r['seconds']:.0f} s)  {VARIANTS[name][0]}", flush=True)


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
