"""The trainer flags: one per TrainerConfig field, one default rule, and every field reaching the trainer of every
training binary (train_nli, large_batch, the benchmarks that train)."""
import dataclasses

import pytest
from absl import flags

from nli_app import cli
from nli_app.bin import large_batch as lb_main
from nli_app.bin import train_nli
from nli_app.train import flags as train_flags
from nli_app.train.trainer import TrainerConfig
from tests import benches


# Flags giving a value other than the binaries' defaults for each field, and the field value they must give.
NON_DEFAULT = {
    "optimizer": (["--optimizer=NAdam"], "nadam"),
    "optimizer_kwargs": (["--learning_rate=0.002", "--global_clipnorm=10", "--clipnorm=3",
                          "--optimizer_args=beta_1=0.8,epsilon=1e-7"],
                         {"learning_rate": 0.002, "global_clipnorm": 10.0, "clipnorm": 3.0, "beta_1": 0.8,
                          "epsilon": 1e-7}),
    "global_batch_size": (["--batch_size=0"], None),
    "epochs": (["--epochs=4"], 4),
    "max_steps": (["--max_steps=50"], 50),
    "seed": (["--seed=9"], 9),
    "shuffle": (["--noshuffle"], False),
    "model_dir": (["--model_dir=/tmp/m"], "/tmp/m"),
    "checkpoint_every_steps": (["--checkpoint_every_steps=0"], None),
    "log_every_steps": (["--log_every_steps=5"], 5),
    "eval_batch_size": (["--eval_batch_size=7"], 7),
    "verbose": [(["--verbose=0"], 0), (["--verbose=1"], 1)],  # whichever is not the binary's default
    "deterministic": (["--deterministic"], True),
    "max_checkpoints_to_keep": (["--max_checkpoints_to_keep=9"], 9),
}


def _train_nli(argv):
    return train_nli.options_from_flags(cli.parse(train_nli.define_flags, ["--model_dir=/tmp/required"] + argv)).trainer


def _large_batch(argv):
    return lb_main.options_from_flags(cli.parse(lb_main.define_flags, argv), ["perf_model"]).trainer


def _bench_config(name):
    bench = benches.load(name)
    return lambda argv: bench.options_from_flags(cli.parse(bench.define_flags, argv)).trainer


# binary -> (its TrainerConfig for the command line argv, the fields it sets per run itself)
BINARIES = {
    "train_nli": (_train_nli, {}),
    "large_batch": (_large_batch, lb_main.PER_RUN),
    "bench/large_batch_f1.py": (_bench_config("large_batch_f1"), lb_main.PER_RUN),
    "bench/large_batch_repro.py": (_bench_config("large_batch_repro"), lb_main.PER_RUN),
    "bench/subspace_sharpness.py": (_bench_config("subspace_sharpness"), lb_main.PER_RUN),
    "bench/esim_cpu_accuracy.py": (_bench_config("esim_cpu_accuracy"), {}),
}


def test_every_field_has_its_flags_here():
    assert set(train_flags.FIELDS) == {field.name for field in dataclasses.fields(TrainerConfig)} == set(NON_DEFAULT)
    names = [flag.name for field in train_flags.FIELDS for flag in train_flags.FIELDS[field]]
    assert len(names) == len(set(names))  # a flag sets one field


def test_the_defaults_are_the_fields_defaults():
    flag_values = cli.parse(train_flags.define_trainer_flags, [])
    assert train_flags.trainer_config(flag_values) == TrainerConfig()
    assert flag_values.num_cpu_replicas == 0


@pytest.mark.parametrize("binary", sorted(BINARIES))
@pytest.mark.parametrize("field", sorted(NON_DEFAULT))
def test_each_flag_reaches_the_trainer_of_each_binary(binary, field):
    config_of, per_run = BINARIES[binary]
    choices = NON_DEFAULT[field] if isinstance(NON_DEFAULT[field], list) else [NON_DEFAULT[field]]
    if field in per_run:
        with pytest.raises(cli.UsageError, match=f"--{train_flags.flag_names(field)[0]}: set per run here"):
            config_of(choices[0][0])
    else:
        default = config_of([])
        argv, expected = next(choice for choice in choices if choice[1] != getattr(default, field))
        config = config_of(argv)
        assert getattr(config, field) == expected != getattr(default, field)
        assert dataclasses.replace(config, **{field: getattr(default, field)}) == default  # only this field moved


def test_per_run_flags_say_so_in_help():
    flag_values = cli.parse(lb_main.define_flags, [])
    assert flag_values["seed"].help.endswith(f"(set per run here: {lb_main.PER_RUN['seed']})")
    assert "set per run" not in flag_values["epochs"].help


def test_a_binary_overrides_single_defaults():
    flag_values = cli.parse(lambda fv: train_flags.define_trainer_flags(fv, learning_rate=4e-4, epochs=3), [])
    config = train_flags.trainer_config(flag_values)
    assert config.optimizer_kwargs == {"learning_rate": 4e-4} and config.epochs == 3
    with pytest.raises(TypeError, match="no such flag"):
        train_flags.define_trainer_flags(flags.FlagValues(), epoch=3)


@pytest.mark.parametrize("argv, message", [
    (["--optimizer_args=beta_1"], "--optimizer_args: expected key=value"),
    (["--optimizer=sgd", "--optimizer_args=beta_1=0.9"], "--optimizer_args: sgd takes no argument 'beta_1'"),
])
def test_bad_optimizer_args_are_usage_errors(argv, message):
    with pytest.raises(cli.UsageError, match=message):
        train_flags.trainer_config(cli.parse(train_flags.define_trainer_flags, argv))


@pytest.mark.parametrize("argv, message", [
    (["--batch_size=-1"], "--batch_size=-1"), (["--epochs=-2"], "--epochs=-2"),
    (["--optimizer=adamm"], "value should be one of"), (["--learning_rate=-1"], "--learning_rate=-1"),
])
def test_absl_rejects_bad_values_while_parsing(argv, message):
    with pytest.raises(flags.IllegalFlagValueError, match=message):
        cli.parse(train_flags.define_trainer_flags, argv)


def test_evaluation_batch_size_has_one_rule():
    assert TrainerConfig(global_batch_size=32).evaluation_batch_size == 256
    assert TrainerConfig(global_batch_size=None).evaluation_batch_size == 256
    assert TrainerConfig(global_batch_size=32, eval_batch_size=7).evaluation_batch_size == 7
