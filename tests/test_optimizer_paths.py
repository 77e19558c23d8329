"""The `optimizer_paths` binary and its pieces: surfaces, paths, the survey's saddle-point picture, outputs."""
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from nli_app import cli
from nli_app.bin import optimizer_paths
from nli_app.surfaces import BEALE, SADDLE
import optimizers


@pytest.mark.parametrize("problem", [BEALE, SADDLE], ids=["beale", "saddle"])
def test_analytic_gradients_match_finite_differences(problem):
    h = 1e-6
    for x, y in [(1.0, 1.4), (-0.3, 0.7), (2.5, -1.1)]:
        numeric = [(problem.value(x + h, y) - problem.value(x - h, y)) / (2 * h),
                   (problem.value(x, y + h) - problem.value(x, y - h)) / (2 * h)]
        np.testing.assert_allclose(problem.gradient(x, y), numeric, rtol=1e-6, atol=1e-6)


def test_beale_minimum():
    assert BEALE.value(3.0, 0.5) == 0.0
    np.testing.assert_array_equal(BEALE.gradient(3.0, 0.5), [0.0, 0.0])
    assert BEALE.value(*BEALE.start) > 1.0


def test_sgd_path_on_the_saddle_is_the_closed_form():
    eta, steps = 0.05, 12
    path = optimizer_paths.run_path(optimizers.SGD(learning_rate=eta), SADDLE, steps, start=(0.8, 0.01))
    k = np.arange(steps + 1)
    np.testing.assert_allclose(path[:, 0], 0.8 * (1 - 2 * eta) ** k, rtol=1e-7)  # eta is stored as a float32 variable
    np.testing.assert_allclose(path[:, 1], 0.01 * (1 + 2 * eta) ** k, rtol=1e-7)  # eta is stored as a float32 variable
    assert optimizer_paths.steps_to_goal(path, SADDLE) is None
    assert optimizer_paths.steps_to_goal(np.array([[0.0, 0.5], [0.0, 1.0], [0.0, 2.0]]), SADDLE) == 1


def test_adaptive_methods_head_down_the_saddle_while_sgd_stalls():
    """Survey section 4.9: SGD stays at the saddle point, momentum/NAG escape late, adaptive methods fast."""
    steps = 60
    escaped = {}
    for name in ("sgd", "momentum", "adagrad", "rmsprop", "adam"):
        rate = optimizer_paths.DEFAULT_LEARNING_RATES["saddle"][name]
        path = optimizer_paths.run_path(optimizers.get(name, learning_rate=rate), SADDLE, steps)
        escaped[name] = optimizer_paths.steps_to_goal(path, SADDLE)
        if name == "sgd":
            assert abs(path[-1, 0]) < 0.35 and abs(path[-1, 1]) < 1e-3  # drawn into the saddle point
    assert escaped["sgd"] is None and escaped["momentum"] is None
    assert all(escaped[name] is not None and escaped[name] < 40 for name in ("adagrad", "rmsprop", "adam"))


def _options(*argv):
    return optimizer_paths.options_from_flags(cli.parse(optimizer_paths.define_flags, list(argv)))


def test_binary_writes_png_gif_and_json(tmp_path):
    returned = optimizer_paths.draw_paths(_options(f"--output_dir={tmp_path}", "--optimizers=sgd,Adam", "--steps=5",
                                                   "--gif_frames=3", "--learning_rates=adam=0.1"))
    report = json.loads((tmp_path / "paths.json").read_text())
    assert report == json.loads(json.dumps(returned))
    assert set(report) == {"beale", "saddle"}
    adam = report["beale"]["optimizers"]["adam"]
    assert adam["learning_rate"] == 0.1 and len(adam["final_point"]) == 2
    assert report["saddle"]["optimizers"]["sgd"]["steps_to_tolerance"] is None and report["saddle"]["steps"] == 5
    path = optimizer_paths.run_path(optimizers.get("sgd", learning_rate=1e-3), BEALE, 5)
    np.testing.assert_allclose(report["beale"]["optimizers"]["sgd"]["final_point"], path[-1])
    for problem in ("beale", "saddle"):
        assert Image.open(tmp_path / f"{problem}.png").size == (700, 550)
        assert Image.open(tmp_path / f"{problem}.gif").n_frames == 3
    events = list((tmp_path / "logs" / "saddle" / "adam").glob("events.out.tfevents.*"))
    assert len(events) == 1
    losses = [value for event in tf.compat.v1.train.summary_iterator(str(events[0]))
              for value in event.summary.value if value.tag == "loss"]
    assert len(losses) == 6  # steps 0..5
    final = report["saddle"]["optimizers"]["adam"]["final_loss"]
    assert tf.make_ndarray(losses[-1].tensor) == pytest.approx(final, rel=1e-6)


@pytest.mark.parametrize("argv, message", [
    (["--learning_rates=adam:0.1"], "--learning_rates: entry 'adam:0.1' is not name=value"),
    (["--learning_rates=adam=fast"], "'fast' is not a number"),
    (["--optimizers=adamm"], r"--optimizers: unknown optimizer\(s\) \['adamm'\]"),
    (["--problems=rosenbrock"], "--problems: unknown"),
    ([], "--output_dir is required"),
])
def test_binary_rejects_bad_flags(tmp_path, argv, message):
    output = [] if not argv else [f"--output_dir={tmp_path}"]
    with pytest.raises(cli.UsageError, match=message):
        _options(*output, *argv)
