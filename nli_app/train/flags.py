"""The trainer's command line: one flag per ``TrainerConfig`` field, defined here once and read once into a
``TrainerConfig`` that every training binary uses as it is::

    def define_flags(flag_values=flags.FLAGS):
        train_flags.define_trainer_flags(flag_values, learning_rate=4e-4, global_clipnorm=10.0, epochs=20)

    config = train_flags.trainer_config(flag_values)           # a TrainerConfig; UsageError names the flag
    strategy = make_strategy(num_cpu_replicas=flag_values.num_cpu_replicas)

Defaults have one rule: a flag's default is its field's default in ``TrainerConfig``, unless the binary names
another in ``define_trainer_flags`` (then ``--help`` shows the one that runs). ``--batch_size=0`` and
``--checkpoint_every_steps=0`` stand for the field's None. ``optimizer_kwargs`` is the one field with several
flags: ``--optimizer_args`` (any constructor argument) and the three everybody sets, ``--learning_rate``,
``--clipnorm``, ``--global_clipnorm``. ``--num_cpu_replicas`` (the strategy's) comes with the group.

A binary that sets a field itself for every run (``large_batch``: the batch size of each regime, the seed of each
trial, a directory per run) passes ``per_run={field: how}`` to both functions: the flag's help says how, and giving
the flag is a usage error rather than silently ignored. Experiment-specific settings are the binary's own flags.

Adding a trainer option: a field in ``TrainerConfig`` and its flag in ``FIELDS``.
"""
import dataclasses
import inspect

import keras
from absl import flags

import optimizers
from nli_app import cli
from nli_app.train.trainer import TrainerConfig


@dataclasses.dataclass(frozen=True)
class Flag:
    """One absl flag: ``define(name=name, default=..., help=help, **extra)``."""
    define: object
    name: str
    help: str
    extra: dict = dataclasses.field(default_factory=dict)


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


def _optimizer_kwargs(flag_values):
    """--optimizer_args plus --learning_rate / --clipnorm / --global_clipnorm; UsageError for a malformed or
    unknown --optimizer_args entry."""
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
    return kwargs


_OPTIMIZER = Flag(flags.DEFINE_enum, "optimizer", "optimizer (optimizers.get; case-insensitive)",
                  dict(enum_values=list(optimizers.OPTIMIZERS), case_sensitive=False))
_OPTIMIZER_KWARGS = (
    Flag(flags.DEFINE_float, "learning_rate", "learning rate eta (none: the optimizer's own default)",
         dict(lower_bound=0.0)),
    Flag(flags.DEFINE_list, "optimizer_args", "further optimizer constructor arguments as key=value pairs, e.g. "
         "beta_1=0.9,epsilon=1e-7"),
    Flag(flags.DEFINE_float, "clipnorm", "clip each gradient tensor to this norm", dict(lower_bound=0.0)),
    Flag(flags.DEFINE_float, "global_clipnorm", "clip all gradients jointly to this global norm",
         dict(lower_bound=0.0)),
)
_OPTIMIZER_KWARGS_DEFAULTS = {"optimizer_args": []}  # the others: None (the optimizer's own default)


# TrainerConfig field -> the flags that set it.
FIELDS = {
    "optimizer": (_OPTIMIZER,),
    "optimizer_kwargs": _OPTIMIZER_KWARGS,
    "global_batch_size": (Flag(flags.DEFINE_integer, "batch_size", "global batch size over all replicas; 0 = the "
                               "whole training set (batch gradient descent), 1 = stochastic gradient descent",
                               dict(lower_bound=0)),),
    "epochs": (Flag(flags.DEFINE_integer, "epochs", "passes over the training data", dict(lower_bound=0)),),
    "max_steps": (Flag(flags.DEFINE_integer, "max_steps", "stop after this many steps in total (none: no limit)",
                       dict(lower_bound=0)),),
    "seed": (Flag(flags.DEFINE_integer, "seed", "random seed of initialisation, dropout and the data order"),),
    "shuffle": (Flag(flags.DEFINE_boolean, "shuffle", "reshuffle the training data every epoch"),),
    "model_dir": (Flag(flags.DEFINE_string, "model_dir", "where checkpoints (a rerun resumes from them), "
                       "TensorBoard logs and results go"),),
    "checkpoint_every_steps": (Flag(flags.DEFINE_integer, "checkpoint_every_steps", "checkpoint every this many "
                                    "steps (0: epoch ends only); a rerun resumes from the last checkpoint",
                                    dict(lower_bound=0)),),
    "log_every_steps": (Flag(flags.DEFINE_integer, "log_every_steps", "TensorBoard / log interval in steps",
                             dict(lower_bound=1)),),
    "eval_batch_size": (Flag(flags.DEFINE_integer, "eval_batch_size", "batch size of evaluation and prediction "
                             "(none: 256)",
                             dict(lower_bound=1)),),
    "verbose": (Flag(flags.DEFINE_integer, "verbose", "1: Keras progress bar; 0: log lines only",
                     dict(lower_bound=0, upper_bound=1)),),
    "deterministic": (Flag(flags.DEFINE_boolean, "deterministic", "turn on TensorFlow op determinism (GPUs)"),),
    "max_checkpoints_to_keep": (Flag(flags.DEFINE_integer, "max_checkpoints_to_keep",
                                     "checkpoints kept in --model_dir/checkpoints", dict(lower_bound=1)),),
}
_ZERO_IS_NONE = ("global_batch_size", "checkpoint_every_steps")  # the flag's 0 is the field's None
_READERS = {"optimizer": lambda flag_values: flag_values.optimizer.lower(), "optimizer_kwargs": _optimizer_kwargs}

NUM_CPU_REPLICAS = Flag(flags.DEFINE_integer, "num_cpu_replicas", "run N data-parallel replicas on N logical CPU "
                        "devices (0: all local GPUs, or the CPU; TF_CONFIG with several workers selects "
                        "MultiWorkerMirroredStrategy)", dict(lower_bound=0))


def _field_defaults():
    """Each single flag's default: its field's default in TrainerConfig (0 for a zero-is-none field's None)."""
    config = TrainerConfig()
    defaults = dict(_OPTIMIZER_KWARGS_DEFAULTS, num_cpu_replicas=0)
    for field, field_flags in FIELDS.items():
        if len(field_flags) == 1:
            value = getattr(config, field)
            defaults[field_flags[0].name] = 0 if value is None and field in _ZERO_IS_NONE else value
    return defaults


def _read(flag_values, field):
    if field in _READERS:
        return _READERS[field](flag_values)
    value = flag_values[FIELDS[field][0].name].value
    return (value or None) if field in _ZERO_IS_NONE else value


def flag_names(field):
    """The flags of TrainerConfig field ``field``."""
    return [flag.name for flag in FIELDS[field]]


def define_trainer_flags(flag_values=flags.FLAGS, per_run=None, **defaults):
    """Defines every trainer flag (and --num_cpu_replicas) on ``flag_values``; ``defaults`` (by flag name) override
    the fields' defaults; ``per_run`` ({field: how the binary sets it}) marks fields the binary sets per run."""
    per_run = per_run or {}
    notes = {name: how for field, how in per_run.items() for name in flag_names(field)}
    definitions = [(flag.define, flag.name, None, flag.help + (f" (set per run here: {notes[flag.name]})"
                                                               if flag.name in notes else ""), flag.extra)
                   for field_flags in FIELDS.values() for flag in field_flags] + [
        (NUM_CPU_REPLICAS.define, NUM_CPU_REPLICAS.name, None, NUM_CPU_REPLICAS.help, NUM_CPU_REPLICAS.extra)]
    cli.define_group(flag_values, {**_field_defaults(), **defaults}, definitions)


def trainer_config(flag_values=flags.FLAGS, per_run=None):
    """The TrainerConfig of the parsed trainer flags; UsageError for a bad --optimizer_args or a flag of a field the
    binary sets per run (``per_run`` as given to ``define_trainer_flags``)."""
    for field in per_run or {}:
        for name in flag_names(field):
            if flag_values[name].present:
                raise cli.UsageError(f"--{name}: set per run here ({per_run[field]}); do not give it")
    return TrainerConfig(**{field: _read(flag_values, field) for field in FIELDS})
