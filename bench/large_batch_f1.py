"""F1 small-batch vs large-batch (Keskar et al., Tables 2 and 3) and the cost of one F1 sharpness measurement.

    .venv/bin/python bench/large_batch_f1.py                                  # the shipped MNIST sample
    .venv/bin/python bench/large_batch_f1.py --data_path=/data/mnist.npz      # real MNIST (npz or idx directory)
    .venv/bin/python bench/large_batch_f1.py --part=timing                    # only the 60,000-image timing

Part ``table``: F1 trained with ADAM (lr 1e-3) in the SB and LB regimes, 2 trials each, until the training loss
stops improving or the epoch budget ends; prints train/test accuracy and sharpness (eps 1e-3 and 5e-4, full space,
both maximisers: "default" and the paper's 10 L-BFGS-B iterations) next to the paper's rows, and the LB/SB ratios
(target: LB sharpness >= 10x SB, LB test accuracy below SB). Defaults fit about 30 minutes on 2 idle cores (MNIST:
use --epochs and --num_train to fit).
Part ``timing``: one full sharpness measurement of F1 (eps 1e-3, A = I) on 60,000 examples of 784 features (real
MNIST training images with --data_path, else synthetic), reporting f+gradient evaluations per second and a matmul
throughput measured in the same process, so the figure can be scaled to another machine.
"""
import os
import sys
import time

from absl import app, flags, logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_enum("part", "all", ["all", "table", "timing"], "what to run")
flags.DEFINE_string("data_path", None, "MNIST (.npz or idx directory); default: the shipped 10,000-image sample")
flags.DEFINE_string("output_dir", "/tmp/large_batch_f1_bench", "runs and JSON (resumable)")
flags.DEFINE_integer("trials", 2, "trials per regime")
flags.DEFINE_integer("epochs", 20, "epoch budget per run")
flags.DEFINE_integer("patience", 3, "stop after this many epochs without training-loss improvement")
flags.DEFINE_integer("num_train", 0, "first N training examples (0 = all)")
flags.DEFINE_integer("sb_batch_size", -1, "-1: 256, or N/64 for small sets")
flags.DEFINE_integer("lb_batch_size", 0, "0: 10% of the training set")
flags.DEFINE_integer("sharpness_iterations", 10, "L-BFGS-B iterations")
flags.DEFINE_integer("timing_examples", 60000, "examples in the timed sharpness objective")
flags.DEFINE_integer("timing_batch_size", 4096, "evaluation batch size of the timed objective")

PAPER = {"SB": {"train": 99.66, "test": 98.03, "eps=0.001/full": 1.23, "eps=0.0005/full": 0.61},
         "LB": {"train": 99.92, "test": 97.81, "eps=0.001/full": 205.14, "eps=0.0005/full": 42.90}}


def table():
    from nli_app.large_batch import mnist, sb_vs_lb  # pylint: disable=import-outside-toplevel
    from nli_app.large_batch.study import regime_batch_sizes  # pylint: disable=C0415
    from nli_app.large_batch.study import SharpnessSettings, Study, TrainSettings  # pylint: disable=C0415
    from nli_app.train.strategy import make_strategy  # pylint: disable=import-outside-toplevel
    splits = mnist.load(FLAGS.data_path or mnist.SAMPLE_PATH).subset(FLAGS.num_train or None)
    study = Study(splits, "F1", FLAGS.output_dir,
                  TrainSettings(optimizer="adam", optimizer_kwargs=(("learning_rate", 1e-3),), epochs=FLAGS.epochs,
                                patience=FLAGS.patience, checkpoint_every_steps=200, log_every_steps=50),
                  SharpnessSettings(epsilons=(1e-3, 5e-4), max_iterations=FLAGS.sharpness_iterations),
                  strategy=make_strategy())
    batches = regime_batch_sizes(len(splits.y_train), FLAGS.sb_batch_size, FLAGS.lb_batch_size)
    start = time.perf_counter()
    result = sb_vs_lb.run(study, batches, trials=FLAGS.trials)
    elapsed = time.perf_counter() - start
    print(f"\nF1 on {splits.source} ({len(splits.y_train)} train / {len(splits.y_test)} test), batches {batches}, "
          f"{FLAGS.trials} trials, {elapsed / 60:.1f} min")
    print(f"{'':4} {'train acc %':>16} {'test acc %':>16} {'sharp eps=1e-3':>20} {'sharp eps=5e-4':>20}"
          "   (mean +- sample std, ddof=1)")
    s = result["summary"]
    for method in ("default", "paper"):
        suffix = "" if method == "default" else f"/method={method}"
        print(f"maximiser {method!r}:")
        for regime in ("SB", "LB"):
            r, p = s[regime], PAPER[regime]
            by = r["sharpness_by_setting"]
            print(f"{regime:4} {100 * r['train_accuracy']['mean']:9.2f} +- {100 * r['train_accuracy']['std']:4.2f}"
                  f" {100 * r['test_accuracy']['mean']:9.2f} +- {100 * r['test_accuracy']['std']:4.2f}"
                  f" {by['eps=0.001/full' + suffix]['mean']:11.3f} +- {by['eps=0.001/full' + suffix]['std']:6.2f}"
                  f" {by['eps=0.0005/full' + suffix]['mean']:11.3f} +- {by['eps=0.0005/full' + suffix]['std']:6.2f}")
            print(f"{'  paper':9} {p['train']:9.2f}         {p['test']:9.2f}         {p['eps=0.001/full']:11.2f}"
                  f"           {p['eps=0.0005/full']:11.2f}")
        ratio = by_ratio(s, "eps=0.001/full" + suffix)
        print(f"LB/SB sharpness (eps=1e-3, {method}): {ratio:.1f}x (paper {205.14 / 1.23:.0f}x, target >= 10x)")
    gap = 100 * (s["SB"]["test_accuracy"]["mean"] - s["LB"]["test_accuracy"]["mean"])
    print(f"SB - LB test accuracy: {gap:+.2f} points (paper +0.22, target > 0)")


def by_ratio(summary, key):
    sb = summary["SB"]["sharpness_by_setting"][key]["mean"]
    lb = summary["LB"]["sharpness_by_setting"][key]["mean"]
    return lb / sb if sb > 0 else float("inf")


def timing():
    import numpy as np  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from nli_app.large_batch import mnist, networks  # pylint: disable=import-outside-toplevel
    from nli_app.sharpness import model_sharpness  # pylint: disable=import-outside-toplevel
    n = FLAGS.timing_examples
    if FLAGS.data_path:
        splits = mnist.load(FLAGS.data_path)
        x, y, source = splits.x_train[:n], splits.y_train[:n], splits.source
    else:
        rng = np.random.default_rng(0)
        x, y, source = rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n), "synthetic uniform"
    model = networks.build_f1(input_shape=x.shape[1:])
    a = tf.random.normal((2048, 2048))
    matmul = tf.function(lambda m: tf.reduce_sum(m @ m))
    float(matmul(a))
    t = time.perf_counter()
    for _ in range(5):
        float(matmul(a))
    gflops = 5 * 2 * 2048 ** 3 / (time.perf_counter() - t) / 1e9
    t = time.perf_counter()
    result = model_sharpness(model, (x, y), 1e-3, method="paper", max_iterations=10,
                             batch_size=FLAGS.timing_batch_size)
    elapsed = time.perf_counter() - t
    params = model.count_params()
    work = result.evaluations * 3 * 2 * params * len(y) / 1e9  # forward + backward ~ 3 x 2 flops per weight
    print(f"\nF1 sharpness on {len(y)} x {x.shape[1]} ({source}), eps=1e-3, A=I, 10 L-BFGS-B iterations: "
          f"{elapsed:.1f} s for {result.evaluations} f+grad evaluations ({result.evaluations / elapsed:.3f}/s, "
          f"{elapsed / result.evaluations:.1f} s each); phi = {result.value:.4g}")
    print(f"  ~{work / elapsed:.1f} GFLOP/s achieved vs {gflops:.1f} GFLOP/s for a 2048^2 matmul in this process "
          f"(target: <= 120 s on 2 idle cores; load average now {os.getloadavg()[0]:.1f})")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if FLAGS.part in ("all", "timing"):
        timing()
    if FLAGS.part in ("all", "table"):
        table()


if __name__ == "__main__":
    app.run(main)
