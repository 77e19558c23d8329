"""Every binary's command line: the defaults each flag has, --help, and how bad flags and files fail.

The flag table is checked in one process (every binary's define_flags on a fresh FlagValues); the behaviour a user
sees is checked through the console scripts as setup.cfg declares them, in child processes run two at a time
(each pays one TensorFlow import, ~5 s of CPU).
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
        early_stopping_patience=7, bucket_boundaries=BUCKETS, num_heatmaps=3,
        # Chen et al. (2017) Sec. 4: Adam, lr 4e-4, batch 32, gradient norm clipped at 10; 20 epochs at most.
        **dict(TRAINER_GROUP, learning_rate=4e-4, global_clipnorm=10.0, epochs=20)),
    "eval_nli": dict(model_dir=None, data_path=None, eval_batch_size=128, bucket_boundaries=BUCKETS,
                     output_json=None, num_heatmaps=0, heatmap_dir=None),
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


def _cases(tmp):
    malformed = os.path.join(tmp, "malformed.jsonl")
    with open(SAMPLE_TRAIN, encoding="utf-8") as f:
        first = f.readline()
    with open(malformed, "w", encoding="utf-8") as f:
        f.write(first + '{"gold_label": "neutral", \n')
    latin1 = os.path.join(tmp, "latin1.jsonl")
    with open(latin1, "wb") as f:
        f.write(first.encode() + '{"gold_label": "neutral", "sentence1": "Caf\u00e9"}\n'.encode("latin-1"))
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
        "train_negative_epochs": (["train_nli", *tiny, "--epochs=-3"], 2, "--epochs=-3"),
        "train_unknown_optimizer": (["train_nli", *tiny, "--optimizer=adamm"], 2, "--optimizer=adamm"),
        "train_bad_optimizer_args": (["train_nli", *tiny, "--optimizer_args=beta_1"], 2,
                                     "--optimizer_args: expected key=value, got 'beta_1'"),
        "train_missing_train_path": (["train_nli", *tiny, f"--train_path={missing}.jsonl"], 2,
                                     f"--train_path={missing}.jsonl: no such file"),
        "train_malformed_file": (["train_nli", *tiny, f"--train_path={malformed}"], 1,
                                 f"{malformed}:2: invalid JSON"),
        "train_non_utf8_file": (["train_nli", *tiny, f"--train_path={latin1}"], 1, f"{latin1}:2: not UTF-8"),
        "export_missing_model_dir": (["export_nli", f"--model_dir={missing}", f"--export_base={tmp}"], 2,
                                     f"--model_dir={missing}: no such directory"),
        "server_bad_monitoring_config": (["nli_model_server", f"--model_base_path={tmp}",
                                          f"--monitoring_config_file={monitoring}"], 2,
                                         f"{monitoring}:2: invalid MonitoringConfig"),
        "large_batch_unknown_experiment": (["large_batch", "sb_vs_la"], 2, "unknown experiment(s) ['sb_vs_la']"),
        "large_batch_negative_epochs": (["large_batch", "--epochs=-1", "perf_model"], 2, "--epochs=-1"),
        "paths_unknown_optimizer": (["optimizer_paths", f"--output_dir={tmp}", "--optimizers=sgd,adamm"], 2,
                                    "--optimizers: unknown optimizer(s) ['adamm']"),
        "traceback_on_request": (["train_nli", *tiny, "--optimizer_args=beta_1", "--verbosity=1"], 2,
                                 "--optimizer_args: expected key=value"),
    } | {f"help_{name}": ([name, "--help"], 0, None) for name in cli.BINARIES}


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


@pytest.mark.parametrize("binary", list(cli.BINARIES))
def test_help_prints_purpose_and_every_flag(results, binary):
    _, run = results[f"help_{binary}"]
    assert run.returncode == 0, run.stderr[-2000:]
    module = importlib.import_module(cli.BINARIES[binary])
    assert run.stdout.startswith(module.__doc__.strip().splitlines()[0])
    for name, default in DEFAULTS[binary].items():
        assert f"--{name}:" in run.stdout or f"--[no]{name}:" in run.stdout, (binary, name)
    assert "(default: '20')" in results["help_train_nli"][1].stdout  # --epochs: the paper's recipe, not 1
    assert run.stderr == ""  # no TensorFlow start-up lines


FAILURES = ["train_negative_batch", "train_negative_epochs", "train_unknown_optimizer", "train_bad_optimizer_args",
            "train_missing_train_path", "train_malformed_file", "train_non_utf8_file", "export_missing_model_dir",
            "server_bad_monitoring_config",
            "large_batch_unknown_experiment", "large_batch_negative_epochs", "paths_unknown_optimizer"]


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
    assert set(FAILURES) | {"traceback_on_request"} | {f"help_{b}" for b in cli.BINARIES} == set(_cases(str(tmp_path)))

