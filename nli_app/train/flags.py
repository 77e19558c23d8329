"""The absl flags every training binary shares, and the TrainerConfig / strategy they describe.

Import this module from each binary; the flags are defined once per process (a flag a binary already defined
itself under the same name is left alone), so several binaries and libraries can import it together::

    from nli_app.train import flags as train_flags
    config = train_flags.config_from_flags(epochs=10)      # keyword overrides win over flags
    strategy = train_flags.strategy_from_flags()
"""
from absl import flags

from nli_app.absl_flags import define_once
from nli_app.train.strategy import make_strategy
from nli_app.train.trainer import TrainerConfig

FLAGS = flags.FLAGS


define_once(flags.DEFINE_string, "optimizer", "adam",
            "optimizer name for optimizers.get: sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam, adamax, "
            "nadam, amsgrad, adamw")
define_once(flags.DEFINE_float, "learning_rate", None, "learning rate eta (default: the optimizer's own)")
define_once(flags.DEFINE_list, "optimizer_args", [],
            "further optimizer arguments as key=value pairs, e.g. beta_1=0.9,epsilon=1e-7")
define_once(flags.DEFINE_float, "clipnorm", None, "clip each gradient tensor to this norm")
define_once(flags.DEFINE_float, "global_clipnorm", None, "clip all gradients jointly to this global norm")
define_once(flags.DEFINE_integer, "batch_size", 32,
            "global batch size over all replicas; 0 = the whole training set (batch gradient descent), "
            "1 = stochastic gradient descent")
define_once(flags.DEFINE_integer, "eval_batch_size", None, "batch size of evaluation (default: --batch_size)")
define_once(flags.DEFINE_integer, "epochs", 1, "passes over the training data")
define_once(flags.DEFINE_integer, "max_steps", None, "stop after this many steps in total")
define_once(flags.DEFINE_integer, "seed", 0, "random seed of initialisation, dropout and the data order")
define_once(flags.DEFINE_boolean, "shuffle", True, "reshuffle the training data every epoch")
define_once(flags.DEFINE_boolean, "deterministic", False, "turn on TensorFlow op determinism (GPUs)")
define_once(flags.DEFINE_string, "model_dir", None, "checkpoints, TensorBoard logs and results go here")
define_once(flags.DEFINE_integer, "checkpoint_every_steps", 100,
            "checkpoint every this many steps (0: epoch ends only)")
define_once(flags.DEFINE_integer, "log_every_steps", 10, "TensorBoard / log interval in steps")
define_once(flags.DEFINE_integer, "num_cpu_replicas", 0,
            "run N data-parallel replicas on N logical CPU devices (0: all local GPUs, or the CPU; TF_CONFIG with "
            "several workers selects MultiWorkerMirroredStrategy)")
define_once(flags.DEFINE_integer, "verbose", 1, "1: Keras progress bar; 0: log lines only")


def _number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def optimizer_kwargs_from_flags():
    """Constructor arguments of the optimizer from --learning_rate, --clipnorm, --global_clipnorm, --optimizer_args."""
    kwargs = {}
    for item in FLAGS.optimizer_args:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--optimizer_args: expected key=value, got {item!r}")
        kwargs[key.strip()] = _number(value.strip())
    for name in ("learning_rate", "clipnorm", "global_clipnorm"):
        if FLAGS[name].value is not None:
            kwargs[name] = FLAGS[name].value
    return kwargs


def config_from_flags(**overrides):
    """A TrainerConfig from the shared flags; keyword arguments override single fields."""
    config = dict(
        optimizer=FLAGS.optimizer, optimizer_kwargs=optimizer_kwargs_from_flags(),
        global_batch_size=FLAGS.batch_size or None, eval_batch_size=FLAGS.eval_batch_size,
        epochs=FLAGS.epochs, max_steps=FLAGS.max_steps, seed=FLAGS.seed, shuffle=FLAGS.shuffle,
        deterministic=FLAGS.deterministic, model_dir=FLAGS.model_dir,
        checkpoint_every_steps=FLAGS.checkpoint_every_steps or None, log_every_steps=FLAGS.log_every_steps,
        verbose=FLAGS.verbose)
    config.update(overrides)
    return TrainerConfig(**config)


def strategy_from_flags():
    """The strategy --num_cpu_replicas and TF_CONFIG select (see nli_app.train.strategy.make_strategy)."""
    return make_strategy(num_cpu_replicas=FLAGS.num_cpu_replicas)
