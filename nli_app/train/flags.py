"""The training flags the training binaries share, as groups that a binary adds with its own defaults.

Each group is a function that defines its flags on ``flag_values`` (keyword arguments override single defaults,
so a binary's ``--help`` shows the values it really runs with) and has a reader that turns them into frozen
options, raising ``nli_app.cli.UsageError`` for values absl cannot check itself::

    def define_flags(flag_values=flags.FLAGS):
        train_flags.define_optimizer_flags(flag_values, learning_rate=4e-4, global_clipnorm=10.0)
        train_flags.define_loop_flags(flag_values, epochs=20)
        train_flags.define_batch_flags(flag_values)

    optimizer = train_flags.optimizer_options(flag_values)   # OptimizerOptions: name, kwargs
    loop = train_flags.loop_options(flag_values)              # LoopOptions: epochs, max_steps, ...
    batch = train_flags.batch_options(flag_values)            # BatchOptions: batch_size, seed, ...
    config = TrainerConfig(**train_flags.trainer_config_kwargs(optimizer, loop, batch), model_dir=...)

``train_nli`` uses all three groups; ``large_batch`` the optimizer and loop groups (it sets batch sizes and
seeds per experiment).
"""
import dataclasses
import inspect

import keras
from absl import flags

import optimizers
from nli_app import cli


@dataclasses.dataclass(frozen=True)
class OptimizerOptions:
    """--optimizer and its constructor arguments (--learning_rate, --clipnorm, --global_clipnorm, --optimizer_args)."""
    name: str = "adam"
    kwargs: tuple = ()  # sorted (argument, value) pairs: hashable, and a dict with dict(kwargs)


@dataclasses.dataclass(frozen=True)
class LoopOptions:
    """How long to train, how often to checkpoint and log, on how many CPU replicas."""
    epochs: int = 1
    max_steps: int | None = None
    checkpoint_every_steps: int | None = 100
    log_every_steps: int = 10
    num_cpu_replicas: int = 0
    verbose: int = 1


@dataclasses.dataclass(frozen=True)
class BatchOptions:
    """Batch sizes, the seed and the data order."""
    batch_size: int | None = 32  # None: the whole training set per step
    eval_batch_size: int | None = None
    seed: int = 0
    shuffle: bool = True
    deterministic: bool = False


def define_optimizer_flags(flag_values=flags.FLAGS, **defaults):
    """--optimizer, --learning_rate, --optimizer_args, --clipnorm, --global_clipnorm."""
    cli.define_group(flag_values, defaults, [
        (flags.DEFINE_enum, "optimizer", "adam", "optimizer (optimizers.get; case-insensitive)",
         dict(enum_values=list(optimizers.OPTIMIZERS), case_sensitive=False)),
        (flags.DEFINE_float, "learning_rate", None, "learning rate eta (none: the optimizer's own default)",
         dict(lower_bound=0.0)),
        (flags.DEFINE_list, "optimizer_args", [],
         "further optimizer constructor arguments as key=value pairs, e.g. beta_1=0.9,epsilon=1e-7", {}),
        (flags.DEFINE_float, "clipnorm", None, "clip each gradient tensor to this norm", dict(lower_bound=0.0)),
        (flags.DEFINE_float, "global_clipnorm", None, "clip all gradients jointly to this global norm",
         dict(lower_bound=0.0)),
    ])


def define_loop_flags(flag_values=flags.FLAGS, **defaults):
    """--epochs, --max_steps, --checkpoint_every_steps, --log_every_steps, --num_cpu_replicas, --verbose."""
    cli.define_group(flag_values, defaults, [
        (flags.DEFINE_integer, "epochs", 1, "passes over the training data", dict(lower_bound=0)),
        (flags.DEFINE_integer, "max_steps", None, "stop after this many steps in total (none: no limit)",
         dict(lower_bound=0)),
        (flags.DEFINE_integer, "checkpoint_every_steps", 100,
         "checkpoint every this many steps (0: epoch ends only); a rerun resumes from the last checkpoint",
         dict(lower_bound=0)),
        (flags.DEFINE_integer, "log_every_steps", 10, "TensorBoard / log interval in steps", dict(lower_bound=1)),
        (flags.DEFINE_integer, "num_cpu_replicas", 0,
         "run N data-parallel replicas on N logical CPU devices (0: all local GPUs, or the CPU; TF_CONFIG with "
         "several workers selects MultiWorkerMirroredStrategy)", dict(lower_bound=0)),
        (flags.DEFINE_integer, "verbose", 1, "1: Keras progress bar; 0: log lines only",
         dict(lower_bound=0, upper_bound=1)),
    ])


def define_batch_flags(flag_values=flags.FLAGS, **defaults):
    """--batch_size, --eval_batch_size, --seed, --shuffle, --deterministic."""
    cli.define_group(flag_values, defaults, [
        (flags.DEFINE_integer, "batch_size", 32, "global batch size over all replicas; 0 = the whole training set "
         "(batch gradient descent), 1 = stochastic gradient descent", dict(lower_bound=0)),
        (flags.DEFINE_integer, "eval_batch_size", None, "batch size of evaluation (none: --batch_size, or 128)",
         dict(lower_bound=1)),
        (flags.DEFINE_integer, "seed", 0, "random seed of initialisation, dropout and the data order", {}),
        (flags.DEFINE_boolean, "shuffle", True, "reshuffle the training data every epoch", {}),
        (flags.DEFINE_boolean, "deterministic", False, "turn on TensorFlow op determinism (GPUs)", {}),
    ])


def _number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _accepted_arguments(optimizer_class):
    names = set()
    for cls in (optimizer_class, keras.optimizers.Optimizer):
        names |= {p.name for p in inspect.signature(cls.__init__).parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names - {"self"}


def optimizer_options(flag_values=flags.FLAGS):
    """OptimizerOptions from the optimizer group; UsageError for a malformed or unknown --optimizer_args entry."""
    name = flag_values.optimizer.lower()
    accepted = _accepted_arguments(optimizers.OPTIMIZERS[name])
    kwargs = {}
    for item in flag_values.optimizer_args:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise cli.UsageError(f"--optimizer_args: expected key=value, got {item!r}")
        if key not in accepted:
            raise cli.UsageError(f"--optimizer_args: {name} takes no argument {key!r}; it takes "
                                 f"{', '.join(sorted(accepted))}")
        kwargs[key] = _number(value.strip())
    for flag in ("learning_rate", "clipnorm", "global_clipnorm"):
        if flag_values[flag].value is not None:
            kwargs[flag] = flag_values[flag].value
    return OptimizerOptions(name=name, kwargs=tuple(sorted(kwargs.items())))


def loop_options(flag_values=flags.FLAGS):
    return LoopOptions(epochs=flag_values.epochs, max_steps=flag_values.max_steps,
                       checkpoint_every_steps=flag_values.checkpoint_every_steps or None,
                       log_every_steps=flag_values.log_every_steps, num_cpu_replicas=flag_values.num_cpu_replicas,
                       verbose=flag_values.verbose)


def batch_options(flag_values=flags.FLAGS):
    return BatchOptions(batch_size=flag_values.batch_size or None, eval_batch_size=flag_values.eval_batch_size,
                        seed=flag_values.seed, shuffle=flag_values.shuffle, deterministic=flag_values.deterministic)


def trainer_config_kwargs(optimizer: OptimizerOptions, loop: LoopOptions, batch: BatchOptions):
    """Keyword arguments of ``nli_app.train.trainer.TrainerConfig`` for the three groups' options."""
    return dict(optimizer=optimizer.name, optimizer_kwargs=dict(optimizer.kwargs),
                global_batch_size=batch.batch_size, eval_batch_size=batch.eval_batch_size, epochs=loop.epochs,
                max_steps=loop.max_steps, seed=batch.seed, shuffle=batch.shuffle, deterministic=batch.deterministic,
                checkpoint_every_steps=loop.checkpoint_every_steps, log_every_steps=loop.log_every_steps,
                verbose=loop.verbose)
