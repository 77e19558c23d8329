"""How close each Metric 2.1 maximiser gets to the exact box maximum (Keskar et al., ICLR 2017, Metric 2.1).

On random dense convex quadratics at their minimiser (``nli_app.sharpness.quadratics``: full space n = 14, and
random n x 8 subspaces of n = 40), whose box maximum is known exactly by vertex enumeration, prints per method
the mean and worst ratio found / exact and the mean and largest number of evaluations of (f, grad f).

    PYTHONPATH=$PWD python bench/sharpness_maximiser.py [--problems=20] [--seed=0]
"""
from absl import flags

from nli_app import cli
from nli_app.sharpness.box import METHODS
from nli_app.sharpness.quadratics import SPACES, found_over_exact

FLAGS = flags.FLAGS


def define_flags(flag_values=flags.FLAGS):
    flags.DEFINE_integer("problems", 20, "random quadratics per method and space", flag_values=flag_values)
    flags.DEFINE_integer("seed", 0, "seed of the problems", flag_values=flag_values)


def main(argv):
    del argv
    print(f"{FLAGS.problems} problems, seed {FLAGS.seed}")
    print(f"{'method':8s} {'space':9s} {'mean found/exact':>17s} {'worst':>6s} {'mean evals':>11s} {'max evals':>10s}")
    for method in METHODS:
        for space in SPACES:
            ratios, evaluations = found_over_exact(method, space, FLAGS.problems, FLAGS.seed)
            print(f"{method:8s} {space:9s} {ratios.mean():17.3f} {ratios.min():6.3f} {evaluations.mean():11.1f} "
                  f"{evaluations.max():10d}")


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
