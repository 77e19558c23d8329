"""`optimizer_paths`: the survey's optimizer visualisation (Ruder, 2016, section 4.9, Figure 4).

Runs the chosen optimizers from one start point on Beale's function and on the saddle z = x^2 - y^2 and writes,
per surface, `<surface>.png` (paths over the contours), `<surface>.gif` (the paths drawn step by step),
`paths.json` (per surface and optimizer: learning rate, final point and loss, steps until the goal loss), and
TensorBoard scalars (loss, x, y per step) under `logs/<surface>/<optimizer>`.

    optimizer_paths --output_dir=/tmp/paths [--optimizers=sgd,momentum,adagrad] [--steps=500]

Expected picture (the survey's): on the saddle, SGD stays stuck near the saddle point, momentum and NAG escape
late, the adaptive methods (Adagrad, Adadelta, RMSprop, Adam...) head straight down the negative slope.
"""
import json
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from matplotlib import animation, colors  # noqa: E402

import keras  # noqa: E402
import optimizers  # noqa: E402
from optimizers.objectives import PROBLEMS  # noqa: E402

# Per surface, a learning rate for each optimizer that keeps its path on the plot and visibly moving (the survey's
# figure shows each method with its own, untold, step size). Adadelta's 1.0 is its rule's (eq. 14) own scale.
DEFAULT_LEARNING_RATES = {
    "beale": dict(sgd=1e-3, momentum=1e-3, nesterov=1e-3, adagrad=0.5, adadelta=1.0, rmsprop=0.01, adam=0.05,
                  adamax=0.05, nadam=0.05, amsgrad=0.05, adamw=0.05),
    "saddle": dict(sgd=0.01, momentum=0.01, nesterov=0.01, adagrad=0.1, adadelta=1.0, rmsprop=0.02, adam=0.05,
                   adamax=0.05, nadam=0.05, amsgrad=0.05, adamw=0.05),
}

FLAGS = flags.FLAGS
if "output_dir" not in FLAGS:  # large_batch defines it too, and both load in one test process
    flags.DEFINE_string("output_dir", None, "Directory for the PNG, GIF and JSON outputs.")
flags.DEFINE_list("optimizers", list(optimizers.OPTIMIZERS), "Optimizers to run (names for optimizers.get).")
flags.DEFINE_list("problems", list(PROBLEMS), "Surfaces: beale, saddle.")
flags.DEFINE_integer("steps", 300, "Optimizer steps per path.")
flags.DEFINE_list("learning_rates", [], "Overrides as name=value, e.g. sgd=0.002,adam=0.1 (all surfaces).")
flags.DEFINE_integer("gif_frames", 30, "Frames per animated GIF (0: no GIF).")
flags.DEFINE_bool("tensorboard", True, "Also write the paths as TensorBoard scalars under output_dir/logs.")


def run_path(optimizer, problem, steps, start=None):
    """The (steps + 1, 2) array of points `optimizer` visits on `problem` from `start` (default problem.start)."""
    point = keras.Variable(np.asarray(problem.start if start is None else start, "float64"), dtype="float64")
    path = [np.asarray(point)]
    for _ in range(steps):
        gradient = problem.gradient(*path[-1])
        optimizer.apply([keras.ops.convert_to_tensor(gradient, dtype="float64")], [point])
        path.append(np.asarray(point))
    return np.stack(path)


def steps_to_goal(path, problem):
    """The first step whose loss is at most problem.goal_loss, or None if the path never gets there."""
    losses = problem.value(path[:, 0], path[:, 1])
    hits = np.flatnonzero(losses <= problem.goal_loss)
    return int(hits[0]) if hits.size else None


def summarize(problem, paths, learning_rates):
    """JSON-ready results of one surface: per optimizer its learning rate, final point/loss, steps to the goal."""
    results = {}
    for name, path in paths.items():
        final = path[-1]
        results[name] = {
            "learning_rate": learning_rates[name],
            "final_point": [float(final[0]), float(final[1])],
            "final_loss": float(problem.value(*final)),
            "steps_to_tolerance": steps_to_goal(path, problem),
        }
    return {"start": list(problem.start), "goal_loss": problem.goal_loss, "minimum": problem.minimum,
            "steps": int(len(next(iter(paths.values()))) - 1), "optimizers": results}


def _visible(path, problem):
    """The path up to (and including) its first point far outside the window: later points only blow up."""
    (x0, x1), (y0, y1) = problem.xlim, problem.ylim
    pad_x, pad_y = 2 * (x1 - x0), 2 * (y1 - y0)
    outside = ((path[:, 0] < x0 - pad_x) | (path[:, 0] > x1 + pad_x) | (path[:, 1] < y0 - pad_y)
               | (path[:, 1] > y1 + pad_y))
    cut = np.flatnonzero(outside)
    return path[: cut[0] + 1] if cut.size else path


def _style(i):
    """Colour, dash and layer of the i-th path: overlapping paths (Adam and its variants; SGD under momentum on
    the saddle) stay distinguishable, the first-listed on top."""
    return dict(color=plt.get_cmap("tab10")(i % 10), linestyle=("-", "--", "-.")[i % 3], zorder=50 - i)


def _axes(problem, grid=300, dpi=100):
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=dpi)
    xs = np.linspace(*problem.xlim, grid)
    ys = np.linspace(*problem.ylim, grid)
    X, Y = np.meshgrid(xs, ys)
    Z = problem.value(X, Y)
    if problem.name == "beale":
        ax.contour(X, Y, Z, levels=np.logspace(-1, 5, 30), norm=colors.LogNorm(), cmap="jet", linewidths=0.7)
    else:
        ax.contour(X, Y, Z, levels=30, cmap="jet", linewidths=0.7)
    if problem.minimum is not None:
        ax.plot(*problem.minimum, "r*", markersize=14, label="minimum")
    ax.plot(*problem.start, "ko", markersize=5)
    ax.set_xlim(problem.xlim)
    ax.set_ylim(problem.ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return fig, ax


def _title(problem, steps):
    surface = "Beale's function" if problem.name == "beale" else "saddle z = x^2 - y^2"
    return f"{surface}: {steps} steps from {tuple(problem.start)}"


def plot_paths(problem, paths, filename):
    """PNG of every path over the surface's contours."""
    fig, ax = _axes(problem)
    for i, (name, path) in enumerate(paths.items()):
        shown = _visible(path, problem)
        ax.plot(shown[:, 0], shown[:, 1], linewidth=1.8, label=name, **_style(i))
        ax.plot(shown[-1, 0], shown[-1, 1], "o", color=_style(i)["color"], zorder=50 - i, markersize=4)
    ax.set_title(_title(problem, len(next(iter(paths.values()))) - 1))
    ax.legend(loc="upper left", fontsize=8, ncol=2, framealpha=0.8)
    fig.tight_layout()
    fig.savefig(filename)
    plt.close(fig)


def animate_paths(problem, paths, filename, frames):
    """Animated GIF drawing the paths step by step (`frames` frames over the whole run)."""
    fig, ax = _axes(problem, grid=120, dpi=70)  # a coarser, smaller figure: every frame is a full redraw
    shown = {name: _visible(path, problem) for name, path in paths.items()}
    lines = {name: ax.plot([], [], linewidth=1.8, label=name, **_style(i))[0] for i, name in enumerate(paths)}
    heads = {name: ax.plot([], [], "o", color=_style(i)["color"], markersize=5)[0] for i, name in enumerate(paths)}
    ax.legend(loc="upper left", fontsize=8, ncol=2, framealpha=0.8)
    steps = len(next(iter(paths.values()))) - 1
    marks = np.unique(np.linspace(0, steps, frames).astype(int))

    def draw(step):
        for name, path in shown.items():
            upto = path[: step + 1]
            lines[name].set_data(upto[:, 0], upto[:, 1])
            heads[name].set_data(upto[-1:, 0], upto[-1:, 1])
        ax.set_title(_title(problem, step))
        return list(lines.values()) + list(heads.values())

    movie = animation.FuncAnimation(fig, draw, frames=marks, blit=False)
    movie.save(filename, writer=animation.PillowWriter(fps=10))
    plt.close(fig)


def write_summaries(logdir, problem, paths):
    """TensorBoard scalars loss, x and y of every step, one run per optimizer: `logdir/<surface>/<optimizer>`."""
    import tensorflow as tf  # TensorBoard output only; the paths themselves need no TensorFlow

    for name, path in paths.items():
        losses = problem.value(path[:, 0], path[:, 1])
        with tf.summary.create_file_writer(os.path.join(logdir, problem.name, name)).as_default():
            for step, ((x, y), loss) in enumerate(zip(path, losses)):
                tf.summary.scalar("loss", loss, step=step)
                tf.summary.scalar("x", x, step=step)
                tf.summary.scalar("y", y, step=step)


def _learning_rate_overrides(items):
    overrides = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--learning_rates entry {item!r} is not name=value")
        if name.strip().lower() not in optimizers.OPTIMIZERS:
            raise ValueError(f"--learning_rates: unknown optimizer {name!r}; known: {', '.join(optimizers.OPTIMIZERS)}")
        overrides[name.strip().lower()] = float(value)
    return overrides


def main(argv):
    del argv
    if not FLAGS.output_dir:
        raise app.UsageError("--output_dir is required")
    names = [n.strip().lower() for n in FLAGS.optimizers]
    for name in names:
        optimizers.get(name)  # fails early, naming the known optimizers, on a typo
    unknown = [p for p in FLAGS.problems if p not in PROBLEMS]
    if unknown:
        raise app.UsageError(f"--problems: unknown {unknown}; known: {', '.join(PROBLEMS)}")
    overrides = _learning_rate_overrides(FLAGS.learning_rates)
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    report = {}
    for problem_name in FLAGS.problems:
        problem = PROBLEMS[problem_name]
        rates = {name: overrides.get(name, DEFAULT_LEARNING_RATES[problem_name][name]) for name in names}
        paths = {}
        for name in names:
            started = time.perf_counter()
            paths[name] = run_path(optimizers.get(name, learning_rate=rates[name]), problem, FLAGS.steps)
            elapsed = time.perf_counter() - started
            logging.info("%s / %s: %d steps in %.1f s (%.0f steps/s), final loss %.4g", problem_name, name,
                         FLAGS.steps, elapsed, FLAGS.steps / elapsed, problem.value(*paths[name][-1]))
        report[problem_name] = summarize(problem, paths, rates)
        plot_paths(problem, paths, os.path.join(FLAGS.output_dir, f"{problem_name}.png"))
        if FLAGS.tensorboard:
            write_summaries(os.path.join(FLAGS.output_dir, "logs"), problem, paths)
        if FLAGS.gif_frames > 0:
            animate_paths(problem, paths, os.path.join(FLAGS.output_dir, f"{problem_name}.gif"), FLAGS.gif_frames)
    with open(os.path.join(FLAGS.output_dir, "paths.json"), "w") as f:
        json.dump(report, f, indent=2)
    logging.info("wrote %s", FLAGS.output_dir)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
