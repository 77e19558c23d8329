"""absl flag definitions that several binaries of one process may share."""
from absl import flags


def define_once(define, name, *args, **kwargs):
    """``define(name, *args, **kwargs)`` unless a module of this process defined flag ``name`` already.

    absl flags are process-global and several binaries (train_nli, eval_nli, large_batch, optimizer_paths, ...) share
    names such as --model_dir or --output_dir; when they load in one process (the tests), the first definition
    serves them all.
    """
    if name not in flags.FLAGS:
        define(name, *args, **kwargs)
