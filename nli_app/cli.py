"""The command-line layer every binary shares: quiet start-up, ``--help``, one-line errors, Ctrl-C.

A binary module has one shape (``nli_app/bin/nli_model_server.py``, ``nli_app/bin/train_nli.py``, ...)::

    \"\"\"``my_binary``: what it does (printed by --help).\"\"\"
    def define_flags(flag_values=flags.FLAGS):          # its own flags + shared groups, with its defaults
        flags.DEFINE_integer("steps", 10, "...", lower_bound=1, flag_values=flag_values)
        train_flags.define_trainer_flags(flag_values, learning_rate=4e-4)
    def options_from_flags(flag_values=flags.FLAGS) -> Options:   # frozen dataclass; raises cli.UsageError
    def do_the_work(options) -> results                  # plain function: what tests call, without absl
    def main(argv):
        cli.no_arguments(argv)
        do_the_work(options_from_flags())
    def run():
        cli.run(main, define_flags, __doc__)

and its console script (setup.cfg) is ``name = nli_app.cli:name``, a launcher from ``BINARIES`` below. Flags are
never defined at import time: ``define_flags`` runs in ``run`` (and on a fresh ``flags.FlagValues()`` for
``--help`` and the tests).

What the user gets:

* ``--help`` (``-h``, ``-?``, ``--helpshort``): the module docstring and every flag the binary reads, grouped by
  the module that defines it, with the defaults that run; exit status 0. ``--helpfull`` adds TensorFlow's flags.
* ``UsageError`` (a bad flag value, a missing file a flag names) and flags absl rejects while parsing:
  ``<binary>: error: <message naming the flag>`` on stderr, exit status 2. Data errors (``ValueError`` from the
  readers, naming file and line; ``OSError`` such as a missing file): the same one line, exit status 1. No
  traceback unless ``--verbosity=1`` (or higher) asks for one; other exceptions are bugs and keep theirs.
* Ctrl-C: exit status 130 and one line, ``<binary>: interrupted <where>; run the same command again to resume``
  when the binary resumes and raised ``Interrupted("<where>")`` (train_nli: the step; large_batch: the
  experiment), else ``<binary>: interrupted``.
* Quiet logs: the console-script launchers set ``TF_CPP_MIN_LOG_LEVEL=2`` (unless set already) before TensorFlow
  is imported and drop the native log lines TensorFlow and CUDA print while the binary's module is imported and
  the devices are listed (oneDNN, "Could not find cuda drivers", cuInit on a machine without GPU); the Python
  ``tensorflow`` logger only shows warnings (no per-trace "Reduce to ... then broadcast" lines). ``--verbosity=1``
  (on the command line) keeps all of them. GPUs are never hidden: only log lines are.
"""
import contextlib
import dataclasses
import importlib
import logging as std_logging
import os
import re
import sys
import tempfile
import traceback

from absl import app, flags, logging

# Flags that define_group defines belong to the module that calls it (the group's module, for --help).
flags.disclaim_key_flags()

# Console script name -> the binary's module (each has define_flags and run; see the module docstring).
BINARIES = {
    "optimizer_paths": "nli_app.bin.optimizer_paths",
    "large_batch": "nli_app.bin.large_batch",
    "train_nli": "nli_app.bin.train_nli",
    "eval_nli": "nli_app.bin.eval_nli",
    "export_nli": "nli_app.bin.export_nli",
    "nli_model_server": "nli_app.bin.nli_model_server",
    "nli_predict": "nli_app.bin.nli_predict",
}

HELP_ARGS = ("--help", "-help", "-h", "-?", "--helpshort", "-helpshort")
EXIT_USAGE = 2
EXIT_DATA = 1
EXIT_INTERRUPTED = 130
# What a user's input can cause (a reader's file:line ValueError, a missing or unreadable file): one line, exit 1.
DATA_ERRORS = (ValueError, OSError)
# A line of C++ absl/TensorFlow logging ("I0000 00:00:1796.. 10121 port.cc:153] ...") and the start-up lines around
# them (absl's "before InitializeLog" notice, cpu_feature_guard's second line).
_NATIVE_LOG_LINE = re.compile(r"([IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] |WARNING: All log messages before "
                              r"absl::InitializeLog\(\)|To enable the following instructions: )")


class UsageError(app.UsageError):
    """A bad flag value or flag combination; the message names the flag. Exit status 2."""

    def __init__(self, message):
        super().__init__(message, exitcode=EXIT_USAGE)


class Interrupted(KeyboardInterrupt):
    """Raised by a binary from a KeyboardInterrupt to say where it stopped, e.g. ``Interrupted("at step 120")``."""


def define_group(flag_values, defaults, definitions):
    """Defines a shared flag group: ``definitions`` are ``(DEFINE_x, name, default, help, extra keyword arguments)``;
    ``defaults`` (the calling binary's) override single defaults, so its --help shows the values that run.
    A name in ``defaults`` that the group does not define is a TypeError (a typo would silently do nothing)."""
    unknown = set(defaults) - {definition[1] for definition in definitions}
    if unknown:
        raise TypeError(f"no such flag in this group: {sorted(unknown)}")
    for define, name, default, help_text, extra in definitions:
        define(name=name, default=defaults.get(name, default), help=help_text, flag_values=flag_values, **extra)


def no_arguments(argv):
    """Raises UsageError if ``argv`` (absl's, program name first) has positional arguments."""
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {argv[1:]} (flags are --name=value)")


def require(flag_values, *names):
    """Raises UsageError naming the first flag of ``names`` that has no value."""
    for name in names:
        if flag_values[name].value in (None, ""):
            raise UsageError(f"--{name} is required")


def existing_path(flag_values, name, *, directory=False, required=True):
    """The value of path flag ``name``; UsageError if it is required and missing, or names no file (directory)."""
    path = flag_values[name].value
    if not path:
        if required:
            raise UsageError(f"--{name} is required")
        return path
    if not (os.path.isdir(path) if directory else os.path.isfile(path)):
        raise UsageError(f"--{name}={path}: no such {'directory' if directory else 'file'}")
    return path


def increasing_ints(flag_values, name):
    """The values of list flag ``name`` as increasing positive integers; UsageError otherwise."""
    try:
        values = tuple(int(v) for v in flag_values[name].value)
    except ValueError:
        raise UsageError(f"--{name}: expected integers, got {','.join(flag_values[name].value)}") from None
    if any(v < 1 for v in values) or list(values) != sorted(set(values)):
        raise UsageError(f"--{name}: expected increasing positive integers, got {','.join(map(str, values))}")
    return values


def verbosity(argv):
    """The ``--verbosity`` / ``-v`` value on the command line ``argv`` (0 when not given), read before parsing."""
    value = 0
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        name, sep, text = arg.lstrip("-").partition("=")
        if arg.startswith("-") and name in ("verbosity", "v"):
            text = text if sep else (argv[i + 1] if i + 1 < len(argv) else "")
            with contextlib.suppress(ValueError):
                value = int(text)
    return value


def parse(define_flags, argv):
    """A fresh FlagValues with ``define_flags``'s flags parsed from ``argv`` (no program name): for tests and
    scripts that call a binary's ``options_from_flags`` without touching the process-wide ``flags.FLAGS``."""
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    flag_values(["prog", *argv])
    return flag_values


def help_text(define_flags, doc, prog):
    """``--help``: the docstring and the flags ``define_flags`` defines (on a fresh FlagValues), by module."""
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    modules = sorted(flag_values.flags_by_module_dict())
    sections = "\n\n".join(flag_values.module_help(module) for module in modules)
    return (f"{(doc or prog).strip()}\n\nFlags of {prog} (defaults are the values that run):\n\n{sections}\n\n"
            "Also: --flagfile=FILE (flags one per line), --verbosity=1 (debug logs, TensorFlow's native logs and "
            "tracebacks), --helpfull (every flag of every library, TensorFlow's too).")


def _fail(prog, code, error, verbose):
    if verbose:
        traceback.print_exc()
    message = str(error) or type(error).__name__
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(code)


def _interrupted(prog, interrupt):
    resume = f" {interrupt}; run the same command again to resume" if isinstance(interrupt, Interrupted) else ""
    print(f"{prog}: interrupted{resume}", file=sys.stderr)
    sys.exit(EXIT_INTERRUPTED)


def _parser(prog):
    def parse(argv):
        try:
            return flags.FLAGS(argv)
        except flags.Error as error:
            print(f"{prog}: error: {error}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
    return parse


def _guarded(main, prog):
    def call(argv):
        verbose = logging.get_verbosity() >= 1
        if not verbose:
            std_logging.getLogger("tensorflow").setLevel(std_logging.WARNING)
        try:
            return main(argv)
        except KeyboardInterrupt as interrupt:
            if verbose:
                traceback.print_exc()
            _interrupted(prog, interrupt)
        except app.UsageError as error:
            _fail(prog, EXIT_USAGE, error, verbose)
        except DATA_ERRORS as error:
            _fail(prog, EXIT_DATA, error, verbose)
    return call


def run(main, define_flags, doc, argv=None):
    """Runs a binary: defines its flags, answers --help, parses, calls ``main(argv)`` with the errors above."""
    argv = list(sys.argv if argv is None else argv)
    prog = os.path.splitext(os.path.basename(argv[0]))[0]
    args = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    if any(arg in HELP_ARGS for arg in args):
        print(help_text(define_flags, doc, prog))
        sys.exit(0)
    define_flags(flags.FLAGS)
    app.run(_guarded(main, prog), argv=argv, flags_parser=_parser(prog))


@contextlib.contextmanager
def native_startup_logs_dropped():
    """Drops the C++ log lines written to file descriptor 2 inside the block; every other line is kept."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not _NATIVE_LOG_LINE.match(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def launch(module_name):
    """A console script's body: quiet TensorFlow start-up (unless --verbosity >= 1), then ``module.run()``."""
    try:
        if verbosity(sys.argv[1:]) >= 1:
            module = importlib.import_module(module_name)
        else:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            with native_startup_logs_dropped():
                module = importlib.import_module(module_name)
                tensorflow = sys.modules.get("tensorflow")
                if tensorflow is not None:  # device discovery logs cuInit errors on machines without a GPU
                    tensorflow.config.list_physical_devices()
    except KeyboardInterrupt as interrupt:  # Ctrl-C while TensorFlow loads
        _interrupted(os.path.basename(sys.argv[0]), interrupt)
    module.run()


@dataclasses.dataclass(frozen=True)
class _Launcher:
    """The console script of one binary (``train_nli = nli_app.cli:train_nli`` in setup.cfg)."""
    module: str

    def __call__(self):
        launch(self.module)


optimizer_paths = _Launcher(BINARIES["optimizer_paths"])
large_batch = _Launcher(BINARIES["large_batch"])
train_nli = _Launcher(BINARIES["train_nli"])
eval_nli = _Launcher(BINARIES["eval_nli"])
export_nli = _Launcher(BINARIES["export_nli"])
nli_model_server = _Launcher(BINARIES["nli_model_server"])
nli_predict = _Launcher(BINARIES["nli_predict"])
