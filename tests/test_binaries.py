"""Every binary's command line: the defaults each flag has, --help, and how bad flags and files fail.

The flag table and every binary's --help are checked in one process (define_flags on a fresh FlagValues,
``cli.run``); what only a real start can show (the console script as setup.cfg declares it, TensorFlow's start-up
lines kept off stderr, one line and an exit status per kind of error: absl's parser, ``UsageError``, a data error,
``--verbosity=1``) is checked in child processes run two at a time, one per kind and binary (each pays one
TensorFlow import, ~5 s of CPU); the readers' and flags' messages themselves are tested in-process beside them.
"""
import concurrent.futures
import configparser
import importlib
import os
import subprocess
import sys

import pytest
from absl import flags

from nli_app import cli
from nli_app.nli.data import snli
from serving import limits as serving_limits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_TRAIN = snli.sample_path("train")
SAMPLE_DEV = snli.sample_path("dev")
SAMPLE_TEST = snli.sample_path("test")
ALL_OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamax", "nadam",
                  "amsgrad", "adamw"]
BUCKETS = ["8", "12", "16", "20", "25", "30", "40", "50", "70"]

# The shared groups, with the defaults the group itself has.
TRAINER_GROUP = dict(optimizer="adam", learning_rate=None, optimizer_args=[], clipnorm=None, global_clipnorm=None,
                     epochs=1, max_steps=None, checkpoint_every_steps=100, log_every_steps=10, num_cpu_replicas=0,
                     verbose=1, batch_size=32, eval_batch_size=None, seed=0, shuffle=True, deterministic=False,
                     model_dir=None, max_checkpoints_to_keep=3)
STUDY_GROUP = dict(dataset="mnist", data_path=None, network=None, num_train=0, num_test=0,
                   output_dir="runs/large_batch", sb_batch_size=-1, lb_batch_size=0, trials=2, patience=3,
                   target_train_accuracy=0.0, recalibrate_bn=True, epsilons=["1e-3", "5e-4"], subspace_dims=["full"],
                   sharpness_methods=["default", "paper"], sharpness_iterations=10, sharpness_max_evaluations=40,
                   sharpness_examples=0, sharpness_reduction="mean", sharpness_batchnorm="inference",
                   sharpness_batch_size=4096, sharpness_dtype="float32")

# Every flag of every binary and the default that runs (docs/DESIGN.md "Binaries"; --help prints the same).
DEFAULTS = {
    "optimizer_paths": dict(output_dir=None, optimizers=ALL_OPTIMIZERS, problems=["beale", "saddle"], steps=300,
                            learning_rates=[], gif_frames=30, tensorboard=True),
    "large_batch": dict(
        experiment=[], num_alphas=25, sweep_batch_sizes=[], warm_epochs=3,
        remedies=["augmentation", "conservative", "adversarial", "dynamic_sampling"], proximal_lambda=1e-3,
        inner_steps=3, adversarial_epsilon=0.02, max_shift=-1, stage_epochs=1,
        perf_batch_ratios=["0.01", "0.05", "0.1", "0.5"], perf_efficiencies=["0.1", "0.2", "0.5", "1.0"],
        **STUDY_GROUP, **dict(TRAINER_GROUP, epochs=10, verbose=0)),
    "train_nli": dict(
        model="esim", members=[], train_path=SAMPLE_TRAIN, dev_path=SAMPLE_DEV, test_path=SAMPLE_TEST,
        train_limit=None, glove_path=None, glove=None, vocab_min_count=1, max_vocab_size=None, embedding_dim=300,
        hidden_units=300, dropout=0.5, trainable_embeddings=True, ablation=[], plateau_patience=1,
        early_stopping_patience=7, bucket_boundaries=BUCKETS, num_heatmaps=3, tensorflow_intra_op_parallelism=0,
        tensorflow_inter_op_parallelism=0,
        # Chen et al. (2017) Sec. 4: Adam, lr 4e-4, batch 32, gradient norm clipped at 10; 20 epochs at most.
        **dict(TRAINER_GROUP, learning_rate=4e-4, global_clipnorm=10.0, epochs=20)),
    "eval_nli": dict(model_dir=None, data_path=None, eval_batch_size=128, bucket_boundaries=BUCKETS,
                     output_json=None, num_heatmaps=0, heatmap_dir=None, tensorflow_intra_op_parallelism=0,
                     tensorflow_inter_op_parallelism=0),
    "export_nli": dict(model_dir=None, export_base=None, model_name=None, version=None),
    "nli_model_server": dict(port=8500, rest_api_port=8501, host="0.0.0.0", model_name="default",
                             model_base_path="", model_config_file="", file_system_poll_wait_seconds=1.0,
                             enable_batching=False, batching_parameters_file="", grpc_max_message_size=2 ** 31 - 1,
                             shutdown_grace_seconds=10.0, max_sentence_tokens=serving_limits.DEFAULT_MAX_SENTENCE_TOKENS,
                             max_request_tokens=serving_limits.DEFAULT_MAX_REQUEST_TOKENS, rest_api_timeout_in_ms=30000,
                             monitoring_config_file="", enable_model_warmup=True, readiness_drain_seconds=0.0,
                             tensorflow_intra_op_parallelism=0, tensorflow_inter_op_parallelism=0),
    "nli_predict": dict(server="localhost:8500", model_name="esim", model_version=None, premise=None,
                        hypothesis=None, input_file=None, batch_size=64, rest=False),
}


def _flag_values(binary):
    flag_values = flags.FlagValues()
    importlib.import_module(cli.BINARIES[binary]).define_flags(flag_values)
    return flag_values


def test_every_flag_has_its_documented_default():
    for binary, expected in DEFAULTS.items():
        flag_values = _flag_values(binary)
        assert {name: flag_values[name].default for name in flag_values} == expected, binary


def test_a_shared_group_means_the_same_in_every_binary():
    """A flag of a shared group has one type and help text in every binary (only the default may differ)."""
    seen = {}
    for binary in DEFAULTS:
        for module, group in _flag_values(binary).flags_by_module_dict().items():
            for flag in group:
                key = (module, flag.name)
                shared_help = flag.help.split(" (set per run here: ")[0]  # a binary may set a field per run
                seen.setdefault(key, (flag.flag_type(), shared_help, binary))
                assert seen[key][:2] == (flag.flag_type(), shared_help), f"{key} in {binary} and {seen[key][2]}"
    assert ("nli_app.train.flags", "epochs") in seen


def test_console_scripts_are_the_cli_launchers():
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    scripts = dict(line.split(" = ") for line in config["options.entry_points"]["console_scripts"].split("\n")
                   if line.strip())
    assert scripts == {name: f"nli_app.cli:{name}" for name in cli.BINARIES}


def test_interrupt_prints_where_and_exits_130(capsys):
    """Ctrl-C (checked in-process: a child process would have to start training first)."""
    def main(argv):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise cli.Interrupted("at step 12") from None

    with pytest.raises(SystemExit) as exit_info:
        cli.run(main, lambda flag_values: None, "doc", argv=["train_nli"])
    assert exit_info.value.code == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err.splitlines() == [
        "train_nli: interrupted at step 12; run the same command again to resume"]


def _console_script(name):
    """The command of console script ``name``: the installed one if it runs setup.cfg's entry point, else the same
    three lines pip writes (an older editable install may still point at the binary's module)."""
    installed = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(installed) and f"from nli_app.cli import {name}" in open(installed).read():
        return [installed]
    return [sys.executable, "-c", f"import sys; from nli_app.cli import {name}; sys.argv[0] = {name!r}; "
                                  f"sys.exit({name}())"]


# --help through a console script: a trainer (Keras, TensorFlow) and the client (TF Serving's API protos).
CONSOLE_HELP = ["train_nli", "nli_predict"]


def _cases(tmp):
    malformed = os.path.join(tmp, "malformed.jsonl")
    with open(SAMPLE_TRAIN, encoding="utf-8") as f:
        first = f.readline()
    with open(malformed, "w", encoding="utf-8") as f:
        f.write(first + '{"gold_label": "neutral", \n')
    # Tiny settings, so that a check that regresses costs seconds, not a training run.
    tiny = [f"--model_dir={os.path.join(tmp, 'run')}", "--embedding_dim=4", "--hidden_units=4", "--max_steps=1",
            "--num_heatmaps=0"]
    missing = os.path.join(tmp, "missing")
    monitoring = os.path.join(tmp, "monitoring.config")
    with open(monitoring, "w") as f:
        f.write("prometheus_config {\n  enable: yes_please\n}\n")
    # name -> (argv, exit status, what the one stderr line must contain)
    return {
        "train_negative_batch": (["train_nli", *tiny, "--batch_size=-1"], 2, "--batch_size=-1"),
        "train_bad_optimizer_args": (["train_nli", *tiny, "--optimizer_args=beta_1"], 2,
                                     "--optimizer_args: expected key=value, got 'beta_1'"),
        "train_malformed_file": (["train_nli", *tiny, f"--train_path={malformed}"], 1,
                                 f"{malformed}:2: invalid JSON"),
        "export_missing_model_dir": (["export_nli", f"--model_dir={missing}", f"--export_base={tmp}"], 2,
                                     f"--model_dir={missing}: no such directory"),
        "server_bad_monitoring_config": (["nli_model_server", f"--model_base_path={tmp}",
                                          f"--monitoring_config_file={monitoring}"], 2,
                                         f"{monitoring}:2: invalid MonitoringConfig"),
        "large_batch_unknown_experiment": (["large_batch", "sb_vs_la"], 2, "unknown experiment(s) ['sb_vs_la']"),
        "paths_unknown_optimizer": (["optimizer_paths", f"--output_dir={tmp}", "--optimizers=sgd,adamm"], 2,
                                    "--optimizers: unknown optimizer(s) ['adamm']"),
        "traceback_on_request": (["train_nli", *tiny, "--optimizer_args=beta_1", "--verbosity=1"], 2,
                                 "--optimizer_args: expected key=value"),
    } | {f"help_{name}": ([name, "--help"], 0, None) for name in CONSOLE_HELP}


def _run(argv):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))  # this process's modules (Bazel)
    return subprocess.run(_console_script(argv[0]) + argv[1:], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    cases = _cases(str(tmp_path_factory.mktemp("binaries")))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(zip(cases, pool.map(_run, [argv for argv, _, _ in cases.values()])))
    return {name: (cases[name], run) for name, run in runs.items()}


def _help(binary, capsys):
    """What ``<binary> --help`` prints, through ``cli.run`` as the binary calls it (exit status 0)."""
    module = importlib.import_module(cli.BINARIES[binary])
    with pytest.raises(SystemExit) as exit_info:
        cli.run(module.main, module.define_flags, module.__doc__, argv=[binary, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("binary", list(cli.BINARIES))
def test_help_prints_purpose_and_every_flag(binary, capsys):
    text = _help(binary, capsys)
    assert text.startswith(importlib.import_module(cli.BINARIES[binary]).__doc__.strip().splitlines()[0])
    for name in DEFAULTS[binary]:
        assert f"--{name}:" in text or f"--[no]{name}:" in text, (binary, name)
    if binary == "train_nli":
        assert "(default: '20')" in text  # --epochs: the paper's recipe, not the trainer group's 1


@pytest.mark.parametrize("binary", CONSOLE_HELP)
def test_help_of_the_console_script_is_the_same_and_quiet(results, binary, capsys):
    _, run = results[f"help_{binary}"]
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout == _help(binary, capsys)
    assert run.stderr == ""  # no TensorFlow start-up lines


# One child process per kind of error and binary (their messages: tests/test_train_flags.py, test_snli.py, ...).
FAILURES = ["train_negative_batch", "train_bad_optimizer_args", "train_malformed_file", "export_missing_model_dir",
            "server_bad_monitoring_config", "large_batch_unknown_experiment", "paths_unknown_optimizer"]


@pytest.mark.parametrize("case", FAILURES)
def test_failure_is_one_line_and_an_exit_status(results, case):
    (argv, status, message), run = results[case]
    assert run.stderr.splitlines() == [run.stderr.strip()], run.stderr[-3000:]  # one line: no traceback, no logs
    assert run.stderr.startswith(f"{argv[0]}: error: ") and message in run.stderr, run.stderr
    assert run.returncode == status


def test_verbosity_brings_the_traceback_back(results):
    (_, status, message), run = results["traceback_on_request"]
    assert "Traceback (most recent call last)" in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith(f"train_nli: error: {message}")
    assert run.returncode == status


def test_every_case_is_checked(tmp_path):
    assert set(FAILURES) | {"traceback_on_request"} | {f"help_{b}" for b in CONSOLE_HELP} == set(_cases(str(tmp_path)))

