"""TensorFlow's two CPU thread pools, sized as TF Serving's ``--tensorflow_intra_op_parallelism`` /
``--tensorflow_inter_op_parallelism`` size them: the threads one op may use, and how many ops may run at once.

TensorFlow's choice (0) is every core for both. On few cores that is not the fastest for ESIM: its LSTM loops run
as many small ops, and the loops of the two sentences and two directions are independent. With one thread per op
they run side by side on the cores instead of each op being split over all of them (2 cores, the CPU recipe's
sizes: 1.3x the training pairs/s; README, "Performance"). ``train_nli``, ``eval_nli`` and ``nli_model_server``
take both flags.
"""
import tensorflow as tf
from absl import flags, logging


def define_flags(flag_values=flags.FLAGS):
    """``--tensorflow_intra_op_parallelism`` and ``--tensorflow_inter_op_parallelism`` (0: TensorFlow's choice)."""
    flags.DEFINE_integer("tensorflow_intra_op_parallelism", 0, "Threads that one TensorFlow op may use; 0: "
                         "TensorFlow's choice (the machine's cores), as TF Serving. On 2 cores 1 runs ESIM faster (its "
                         "training 1.3x at the CPU recipe's sizes; README, Performance).", lower_bound=0,
                         flag_values=flag_values)
    flags.DEFINE_integer("tensorflow_inter_op_parallelism", 0, "TensorFlow ops that may run at once; 0: TensorFlow's "
                         "choice (the machine's cores).", lower_bound=0, flag_values=flag_values)


def from_flags(flag_values=flags.FLAGS):
    """``(intra_op, inter_op)`` of the parsed flags."""
    return flag_values.tensorflow_intra_op_parallelism, flag_values.tensorflow_inter_op_parallelism


def set_tensorflow_threads(intra_op, inter_op):
    """Sizes the pools (0: leave TensorFlow's choice). They take effect only before TensorFlow runs its first op in
    this process: a different value after that is a ValueError naming the flag."""
    threading_config = tf.config.threading
    for name, value, get, set_ in (
            ("tensorflow_intra_op_parallelism", intra_op, threading_config.get_intra_op_parallelism_threads,
             threading_config.set_intra_op_parallelism_threads),
            ("tensorflow_inter_op_parallelism", inter_op, threading_config.get_inter_op_parallelism_threads,
             threading_config.set_inter_op_parallelism_threads)):
        if value and get() != value:
            try:
                set_(value)
            except RuntimeError:
                raise ValueError(f"--{name}={value}: TensorFlow has already started in this process (with "
                                 f"{get() or 'its own choice of'} threads); set it before the first op") from None
    logging.info("TensorFlow threads: intra-op %d, inter-op %d (0: TensorFlow's choice)",
                 threading_config.get_intra_op_parallelism_threads(),
                 threading_config.get_inter_op_parallelism_threads())
