"""The shared training flag groups: a binary's defaults, the options they read back, and their usage errors."""
import pytest
from absl import flags

from nli_app import cli
from nli_app.train import flags as train_flags
from nli_app.train.trainer import TrainerConfig


def define_all(flag_values, **optimizer_defaults):
    train_flags.define_optimizer_flags(flag_values, **optimizer_defaults)
    train_flags.define_loop_flags(flag_values)
    train_flags.define_batch_flags(flag_values)


def _options(*argv, **optimizer_defaults):
    flag_values = cli.parse(lambda fv: define_all(fv, **optimizer_defaults), list(argv))
    return (train_flags.optimizer_options(flag_values), train_flags.loop_options(flag_values),
            train_flags.batch_options(flag_values))


def test_trainer_config_from_the_three_groups():
    optimizer, loop, batch = _options(
        "--optimizer=NAdam", "--learning_rate=0.002", "--global_clipnorm=10", "--batch_size=0",
        "--optimizer_args=beta_1=0.8,epsilon=1e-7", "--epochs=4", "--max_steps=50", "--seed=9",
        "--checkpoint_every_steps=0", "--noshuffle", "--log_every_steps=5")
    config = TrainerConfig(**train_flags.trainer_config_kwargs(optimizer, loop, batch), model_dir="/tmp/m")
    assert config.optimizer == "nadam"  # case-insensitive
    assert config.optimizer_kwargs == {"learning_rate": 0.002, "global_clipnorm": 10.0, "beta_1": 0.8,
                                       "epsilon": 1e-7}
    assert config.global_batch_size is None  # --batch_size=0: batch gradient descent
    assert (config.epochs, config.max_steps, config.seed, config.model_dir) == (4, 50, 9, "/tmp/m")
    assert config.checkpoint_every_steps is None and config.shuffle is False and config.log_every_steps == 5


def test_binary_defaults_are_the_flag_defaults():
    optimizer, loop, batch = _options(learning_rate=4e-4, global_clipnorm=10.0)
    assert optimizer == train_flags.OptimizerOptions("adam", (("global_clipnorm", 10.0), ("learning_rate", 4e-4)))
    assert loop == train_flags.LoopOptions() and batch == train_flags.BatchOptions()
    with pytest.raises(TypeError, match="no such flag"):
        train_flags.define_optimizer_flags(flags.FlagValues(), epochs=3)


@pytest.mark.parametrize("argv, message", [
    (["--optimizer_args=beta_1"], "--optimizer_args: expected key=value"),
    (["--optimizer=sgd", "--optimizer_args=beta_1=0.9"], "--optimizer_args: sgd takes no argument 'beta_1'"),
])
def test_bad_optimizer_args_are_usage_errors(argv, message):
    with pytest.raises(cli.UsageError, match=message):
        _options(*argv)


@pytest.mark.parametrize("argv, message", [
    (["--batch_size=-1"], "--batch_size=-1"), (["--epochs=-2"], "--epochs=-2"),
    (["--optimizer=adamm"], "value should be one of"), (["--learning_rate=-1"], "--learning_rate=-1"),
])
def test_absl_rejects_bad_values_while_parsing(argv, message):
    with pytest.raises(flags.IllegalFlagValueError, match=message):
        _options(*argv)
