"""End to end: the ``large_batch`` binary on the shipped digits sample, 2 CPU replicas, every experiment."""
import json
import os

import numpy as np
import pytest

from nli_app import cli, summary
from nli_app.large_batch import main as lb_main


def _tags(logdir):
    """{(run, tag): plugin name} of every summary under logdir, read back with TensorBoard's event reader."""
    from tensorboard.backend.event_processing import event_accumulator
    found = {}
    for root, _, files in os.walk(logdir):
        if any(f.startswith("events.out.tfevents") for f in files):
            acc = event_accumulator.EventAccumulator(root, size_guidance={"tensors": 0})
            acc.Reload()
            for tag in acc.Tags()["tensors"]:
                meta = acc.SummaryMetadata(tag)
                found[(os.path.relpath(root, logdir), tag)] = meta.plugin_data.plugin_name
    return found


def _run(tmp_path, experiments, **extra):
    """Run the binary's work on the options its command-line flags give."""
    settings = dict(output_dir=str(tmp_path), num_train=240, num_test=60, epochs=1, trials=1, patience=0,
                    num_cpu_replicas=2, sharpness_iterations=2, sharpness_examples=100, num_alphas=7,
                    sb_batch_size=16, lb_batch_size=48, sweep_batch_sizes="16,48", warm_epochs=1,
                    stage_epochs=1, checkpoint_every_steps=5, epsilons="1e-3", verbose=0)
    settings.update(extra)
    flag_values = cli.parse(lb_main.define_flags, [f"--{k}={v}" for k, v in settings.items()])
    return lb_main.run_experiments(lb_main.options_from_flags(flag_values, experiments))


@pytest.mark.slow
def test_every_experiment_writes_json_png_and_summaries(tmp_path):
    _run(tmp_path, ["all"])
    for name in ("sb_vs_lb", "parametric", "sweep", "warm_start", "trajectory", "remedies", "perf_model"):
        assert (tmp_path / f"{name}.json").exists(), name
    for png in ("sb_vs_lb", "parametric_linear", "parametric_curved", "sweep", "warm_start", "trajectory",
                "remedies"):
        assert (tmp_path / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    table = json.loads((tmp_path / "sb_vs_lb.json").read_text())["summary"]
    for regime in ("SB", "LB"):
        assert 0 < table[regime]["test_accuracy"]["mean"] <= 1 and table[regime]["sharpness"]["mean"] > 0
    curve = json.loads((tmp_path / "parametric.json").read_text())["linear"]
    sb = json.loads((tmp_path / "runs/b16_seed0/measurements.json").read_text())["result"]
    assert curve["alpha"][2] == 0.0 and curve["test_loss"][2] == pytest.approx(sb["test_loss"], rel=1e-4)
    remedies = json.loads((tmp_path / "remedies.json").read_text())["rows"]
    assert set(remedies) == {"SB", "LB", "LB+augmentation", "LB+conservative", "LB+adversarial",
                             "LB+dynamic_sampling"}
    assert all(np.isfinite(r["test_loss"]) for r in remedies.values())
    trajectory = json.loads((tmp_path / "trajectory.json").read_text())
    assert trajectory["distance_ratio_sb_over_lb"] > 0
    assert [r["epoch"] for r in trajectory["curves"]["SB"]["records"]] == [1]
    tags = _tags(str(tmp_path / "logs"))
    plugin_tags = {tag for (_, tag), plugin in tags.items() if plugin == summary.PLUGIN_NAME}
    assert {"sharpness/eps=0.001/full", "interpolation/linear", "interpolation/curved", "sweep"} <= plugin_tags
    assert ("sb_vs_lb/SB_seed0", "sharpness/eps=0.001/full") in tags
    # Rerunning reuses every finished run (resume): no run directory is trained again.
    mtime = os.path.getmtime(tmp_path / "runs/b48_seed0/final_weights.npz")
    _run(tmp_path, ["sb_vs_lb"])
    assert os.path.getmtime(tmp_path / "runs/b48_seed0/final_weights.npz") == mtime


def test_perf_model_only_and_usage_errors(tmp_path, capsys):
    _run(tmp_path, ["perf_model"])
    rows = json.loads((tmp_path / "perf_model.json").read_text())["rows"]
    assert {"batch_ratio": 0.1, "sb_efficiency": 0.2, "max_iteration_ratio": pytest.approx(0.5)} in rows
    assert "B_s/B_l" in capsys.readouterr().out
    with pytest.raises(cli.UsageError, match="unknown experiment"):
        _run(tmp_path, ["nonsense"])
    with pytest.raises(cli.UsageError, match="name an experiment"):
        _run(tmp_path, [])
    with pytest.raises(cli.UsageError, match="--subspace_dims: expected 'full' or a positive integer"):
        _run(tmp_path, ["perf_model"], subspace_dims="half")
    with pytest.raises(cli.UsageError, match="--remedies: unknown"):
        _run(tmp_path, ["perf_model"], remedies="prayer")
    with pytest.raises(cli.UsageError, match="--data_path=.*: no such file"):
        _run(tmp_path, ["perf_model"], data_path=tmp_path / "mnist.npz")


def test_defaults_in_help_are_the_ones_that_run():
    options = lb_main.options_from_flags(cli.parse(lb_main.define_flags, []), ["sb_vs_lb"])
    assert (options.loop.epochs, options.loop.verbose, options.study.output_dir) == (10, 0, "runs/large_batch")
    assert options.study.network == "F1" and options.study.sharpness.epsilons == (1e-3, 5e-4)
