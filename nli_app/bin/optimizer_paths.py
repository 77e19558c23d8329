"""`optimizer_paths`: the survey's optimizer visualisation (Ruder, 2016, section 4.9, Figure 4).

Runs the chosen optimizers from one start point on Beale's function and on the saddle z = x^2 - y^2 and writes,
per surface, `<surface>.png` (paths over the contours), `<surface>.gif` (the paths drawn step by step),
`paths.json` (per surface and optimizer: learning rate, final point and loss, steps until the goal loss), and
TensorBoard scalars (loss, x, y per step) under `logs/<surface>/<optimizer>`.

    optimizer_paths --output_dir=/tmp/paths [--optimizers=sgd,momentum,adagrad] [--steps=500]

Expected picture (the survey's): on the saddle, SGD stays stuck near the saddle point, momentum and NAG escape
late, the adaptive methods (Adagrad, Adadelta, RMSprop, Adam...) head straight down the negative slope.
"""
import dataclasses
import json
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags, logging  # noqa: E402
from matplotlib import animation, colors  # noqa: E402

import keras  # noqa: E402
from nli_app import cli  # noqa: E402
from nli_app.surfaces import PROBLEMS  # noqa: E402
import optimizers  # noqa: E402

# Per surface, a learning rate for each optimizer that keeps its path on the plot and visibly moving (the survey's
# figure shows each method with its own, untold, step size). Adadelta's 1.0 is its rule's (eq. 14) own scale.
DEFAULT_LEARNING_RATES = {
    "beale": dict(sgd=1e-3, momentum=1e-3, nesterov=1e-3, adagrad=0.5, adadelta=1.0, rmsprop=0.01, adam=0.05,
                  adamax=0.05, nadam=0.05, amsgrad=0.05, adamw=0.05),
    "saddle": dict(sgd=0.01, momentum=0.01, nesterov=0.01, adagrad=0.1, adadelta=1.0, rmsprop=0.02, adam=0.05,
                   adamax=0.05, nadam=0.05, amsgrad=0.05, adamw=0.05),
}



def define_flags(flag_values=flags.FLAGS):
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("output_dir", None, "directory for the PNG, GIF, JSON and TensorBoard outputs (required)",
                        **define)
    flags.DEFINE_list("optimizers", list(optimizers.OPTIMIZERS), "optimizers to run (names for optimizers.get)",
                      **define)
    flags.DEFINE_list("problems", list(PROBLEMS), f"surfaces: {', '.join(PROBLEMS)}", **define)
    flags.DEFINE_integer("steps", 300, "optimizer steps per path", lower_bound=1, **define)
    flags.DEFINE_list("learning_rates", [], "overrides as name=value, e.g. sgd=0.002,adam=0.1 (all surfaces)",
                      **define)
    flags.DEFINE_integer("gif_frames", 30, "frames per animated GIF (0: no GIF)", lower_bound=0, **define)
    flags.DEFINE_bool("tensorboard", True, "also write the paths as TensorBoard scalars under output_dir/logs",
                      **define)


@dataclasses.dataclass(frozen=True)
class PathsOptions:
    """Everything optimizer_paths is told on its command line (defaults: ``define_flags``)."""
    output_dir: str
    optimizers: tuple
    problems: tuple
    steps: int
    learning_rates: tuple  # (optimizer, rate) overrides
    gif_frames: int
    tensorboard: bool


def _learning_rate_overrides(items):
    overrides = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep:
            raise cli.UsageError(f"--learning_rates: entry {item!r} is not name=value")
        if name not in optimizers.OPTIMIZERS:
            raise cli.UsageError(f"--learning_rates: unknown optimizer {name!r}; known: "
                                 f"{', '.join(optimizers.OPTIMIZERS)}")
        try:
            overrides[name] = float(value)
        except ValueError:
            raise cli.UsageError(f"--learning_rates: {item!r}: {value!r} is not a number") from None
    return tuple(sorted(overrides.items()))


def options_from_flags(flag_values=flags.FLAGS):
    """PathsOptions from the parsed flags; UsageError for unknown optimizers / surfaces or bad overrides."""
    cli.require(flag_values, "output_dir")
    names = tuple(n.strip().lower() for n in flag_values.optimizers)
    unknown = [n for n in names if n not in optimizers.OPTIMIZERS]
    if unknown or not names:
        raise cli.UsageError(f"--optimizers: unknown optimizer(s) {unknown}; known: "
                             f"{', '.join(optimizers.OPTIMIZERS)}")
    unknown = [p for p in flag_values.problems if p not in PROBLEMS]
    if unknown or not flag_values.problems:
        raise cli.UsageError(f"--problems: unknown {unknown}; known: {', '.join(PROBLEMS)}")
    return PathsOptions(output_dir=flag_values.output_dir, optimizers=names, problems=tuple(flag_values.problems),
                        steps=flag_values.steps, learning_rates=_learning_rate_overrides(flag_values.learning_rates),
                        gif_frames=flag_values.gif_frames, tensorboard=flag_values.tensorboard)


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


def draw_paths(options: PathsOptions):
    """The binary's work: runs, plots and writes every path; returns the JSON report."""
    overrides = dict(options.learning_rates)
    os.makedirs(options.output_dir, exist_ok=True)
    report = {}
    for problem_name in options.problems:
        problem = PROBLEMS[problem_name]
        rates = {name: overrides.get(name, DEFAULT_LEARNING_RATES[problem_name][name]) for name in options.optimizers}
        paths = {}
        for name in options.optimizers:
            started = time.perf_counter()
            paths[name] = run_path(optimizers.get(name, learning_rate=rates[name]), problem, options.steps)
            elapsed = time.perf_counter() - started
            logging.info("%s / %s: %d steps in %.1f s (%.0f steps/s), final loss %.4g", problem_name, name,
                         options.steps, elapsed, options.steps / elapsed, problem.value(*paths[name][-1]))
        report[problem_name] = summarize(problem, paths, rates)
        plot_paths(problem, paths, os.path.join(options.output_dir, f"{problem_name}.png"))
        if options.tensorboard:
            write_summaries(os.path.join(options.output_dir, "logs"), problem, paths)
        if options.gif_frames > 0:
            animate_paths(problem, paths, os.path.join(options.output_dir, f"{problem_name}.gif"),
                          options.gif_frames)
    with open(os.path.join(options.output_dir, "paths.json"), "w") as f:
        json.dump(report, f, indent=2)
    logging.info("wrote %s", options.output_dir)
    return report


def main(argv):
    cli.no_arguments(argv)
    draw_paths(options_from_flags())


def run():
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
