"""End to end: the ``large_batch`` binary on the shipped MNIST sample, 2 CPU replicas, every experiment — run ONCE
(a module fixture, the smallest settings that still train and measure every experiment), then a rerun that must
reuse every finished run while a changed sharpness flag re-measures them."""
import json
import os
import types

import numpy as np
import pytest

from nli_app import cli, summary
from nli_app.bin import large_batch as lb_main

DEFAULT_TAG = summary.sharpness_tag("sharpness", 1e-3)
PAPER_TAG = summary.sharpness_tag("sharpness", 1e-3, method="paper")
EXPERIMENTS = ("sb_vs_lb", "parametric", "sweep", "warm_start", "trajectory", "remedies", "perf_model")


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
    settings = dict(output_dir=str(tmp_path), num_train=160, num_test=40, epochs=1, trials=1, patience=0,
                    num_cpu_replicas=2, sharpness_iterations=1, sharpness_examples=64, num_alphas=4,
                    sb_batch_size=16, lb_batch_size=32, sweep_batch_sizes="16,32", warm_epochs=1,
                    stage_epochs=1, checkpoint_every_steps=50, epsilons="1e-3", verbose=0, inner_steps=2,
                    sharpness_methods="default,paper", sharpness_max_evaluations=4)
    settings.update(extra)
    flag_values = cli.parse(lb_main.define_flags, [f"--{k}={v}" for k, v in settings.items()])
    return lb_main.run_experiments(lb_main.options_from_flags(flag_values, experiments))


def _json(path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Every experiment once, then ``sb_vs_lb`` again with the sharpness objective's sum reduction."""
    out = tmp_path_factory.mktemp("large_batch")
    _run(out, ["all"])
    first = {name: _json(out / f"{name}.json") for name in EXPERIMENTS}
    first["measurement"] = _json(out / "runs/b16_seed0/measurements.json")["result"]
    weights = sorted(out.glob("runs/*/final_weights.npz"))
    mtimes = {p: os.path.getmtime(p) for p in weights}
    _run(out, ["sb_vs_lb"], sharpness_reduction="sum")
    rerun = _json(out / "runs/b16_seed0/measurements.json")["result"]
    return types.SimpleNamespace(out=out, first=first, rerun=rerun, mtimes=mtimes,
                                 retrained=[p for p in weights if os.path.getmtime(p) != mtimes[p]])


@pytest.mark.slow  # the module's end-to-end study fixture: every experiment once (~2-3 min)
def test_every_experiment_writes_json_and_png(study):
    for png in ("sb_vs_lb", "parametric_linear", "parametric_curved", "sweep", "warm_start", "trajectory",
                "remedies"):
        assert (study.out / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    table = study.first["sb_vs_lb"]["summary"]
    for regime in ("SB", "LB"):
        row = table[regime]
        assert 0 < row["test_accuracy"]["mean"] <= 1
        by_setting = row["sharpness_by_setting"]
        assert set(by_setting) == {DEFAULT_TAG, PAPER_TAG}
        # The default maximiser starts with the paper's run: never below it, on every regime.
        assert by_setting[DEFAULT_TAG]["mean"] >= by_setting[PAPER_TAG]["mean"] > 0, regime
        assert row["sharpness"]["mean"] == by_setting[DEFAULT_TAG]["mean"]
    assert {"batch_ratio": 0.1, "sb_efficiency": 0.2, "max_iteration_ratio": pytest.approx(0.5)} in \
        study.first["perf_model"]["rows"]


@pytest.mark.slow  # the module's end-to-end study fixture: every experiment once (~2-3 min)
def test_experiments_share_runs_and_agree(study):
    """The parametric path's alpha = 0 point is the SB run's measured test loss; the sweep and the warm start from
    the random start reuse the Table 2 runs (no retraining: same measurement)."""
    curve, sb = study.first["parametric"]["linear"], study.first["measurement"]
    assert curve["alpha"][1] == 0.0 and curve["test_loss"][1] == pytest.approx(sb["test_loss"], rel=1e-4)
    sweep = study.first["sweep"]
    lb = study.first["sb_vs_lb"]["trials"]["LB"][0]
    assert [r["test_accuracy"] for r in sweep["rows"]] == [sb["test_accuracy"], lb["test_accuracy"]]
    warm = study.first["warm_start"]["rows"]
    assert [r["sb_epochs"] for r in warm] == [0, 1] and warm[0]["test_accuracy"] == lb["test_accuracy"]
    remedies = study.first["remedies"]["rows"]
    assert set(remedies) == {"SB", "LB", "LB+augmentation", "LB+conservative", "LB+adversarial",
                             "LB+dynamic_sampling"}
    assert all(np.isfinite(r["test_loss"]) for r in remedies.values())
    trajectory = study.first["trajectory"]
    assert trajectory["distance_ratio_sb_over_lb"] > 0
    assert [r["epoch"] for r in trajectory["curves"]["SB"]["records"]] == [1]


@pytest.mark.slow  # the module's end-to-end study fixture: every experiment once (~2-3 min)
def test_summaries_for_the_plugin(study):
    tags = _tags(str(study.out / "logs"))
    plugin_tags = {tag for (_, tag), plugin in tags.items() if plugin == summary.PLUGIN_NAME}
    assert {DEFAULT_TAG, "interpolation/linear", "interpolation/curved", "sweep"} <= plugin_tags
    assert ("sb_vs_lb/SB_seed0", DEFAULT_TAG) in tags
    assert ("sb_vs_lb/SB_seed0", PAPER_TAG) in tags  # the paper's maximiser, reported too


@pytest.mark.slow  # the module's end-to-end study fixture: every experiment once (~2-3 min)
def test_both_maximisers_reported(study):
    measured = study.first["measurement"]["sharpness"]
    default, paper = measured[DEFAULT_TAG], measured[PAPER_TAG]
    assert (default["method"], paper["method"]) == ("default", "paper")
    assert default["f0"] == paper["f0"] and default["value"] >= paper["value"]
    assert paper["evaluations"] < default["evaluations"] <= paper["evaluations"] + 4  # the paper's run, then 4
    assert set(study.first["sb_vs_lb"]["summary"]["SB"]["sharpness_by_setting"]) == set(measured)


@pytest.mark.slow  # the module's end-to-end study fixture: every experiment once (~2-3 min)
def test_rerun_reuses_runs_and_a_new_sharpness_flag_remeasures(study):
    assert study.mtimes and study.retrained == []
    first = study.first["measurement"]["sharpness"][DEFAULT_TAG]
    again = study.rerun["sharpness"][DEFAULT_TAG]
    # --sharpness_reduction=sum: f over the same 64 examples is 64 x the mean loss.
    assert again["f0"] == pytest.approx(64 * first["f0"], rel=1e-4)
    assert study.rerun["test_accuracy"] == study.first["measurement"]["test_accuracy"]


def test_perf_model_only_and_usage_errors(tmp_path, capsys):
    _run(tmp_path, ["perf_model"])
    rows = _json(tmp_path / "perf_model.json")["rows"]
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
    with pytest.raises(cli.UsageError, match="sharpness_methods"):
        _run(tmp_path, ["sb_vs_lb"], sharpness_methods="paper,newton")


def test_defaults_in_help_are_the_ones_that_run():
    options = lb_main.options_from_flags(cli.parse(lb_main.define_flags, []), ["sb_vs_lb"])
    assert (options.trainer.epochs, options.trainer.verbose, options.study.output_dir) == (10, 0, "runs/large_batch")
    assert options.study.network == "F1" and options.study.sharpness.epsilons == (1e-3, 5e-4)
