"""The shared training flags and the TrainerConfig they describe."""
import pytest
from absl import flags

from nli_app.train import flags as train_flags

FLAGS = flags.FLAGS


@pytest.fixture
def parse():
    def _parse(*argv):
        FLAGS.unparse_flags()
        FLAGS(["train"] + list(argv))
    yield _parse
    FLAGS.unparse_flags()


def test_config_from_flags(parse):
    parse("--optimizer=nadam", "--learning_rate=0.002", "--global_clipnorm=10", "--batch_size=0",
          "--optimizer_args=beta_1=0.8,epsilon=1e-7,amsgrad=false", "--epochs=4", "--max_steps=50", "--seed=9",
          "--model_dir=/tmp/m", "--checkpoint_every_steps=0", "--noshuffle")
    config = train_flags.config_from_flags(log_every_steps=5)
    assert config.optimizer == "nadam"
    assert config.optimizer_kwargs == {"learning_rate": 0.002, "global_clipnorm": 10.0, "beta_1": 0.8,
                                       "epsilon": 1e-7, "amsgrad": False}
    assert config.global_batch_size is None  # --batch_size=0: batch gradient descent
    assert (config.epochs, config.max_steps, config.seed, config.model_dir) == (4, 50, 9, "/tmp/m")
    assert config.checkpoint_every_steps is None and config.shuffle is False and config.log_every_steps == 5


def test_defaults_and_bad_optimizer_args(parse):
    parse()
    config = train_flags.config_from_flags()
    assert (config.optimizer, config.global_batch_size, config.optimizer_kwargs) == ("adam", 32, {})
    parse("--optimizer_args=beta_1")
    with pytest.raises(ValueError, match="expected key=value"):
        train_flags.config_from_flags()


def test_importing_twice_or_after_a_binary_defined_a_flag_does_not_clash():
    import importlib
    importlib.reload(train_flags)
    assert FLAGS["optimizer"].default == "adam"
