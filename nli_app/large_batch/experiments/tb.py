"""TensorBoard output of the experiments: one ``tf.summary`` writer per run directory under ``output_dir/logs``,
records written through ``nli_app.summary`` (the format the ``nli_app_sharpness`` plugin reads)."""
import contextlib
import os

import tensorflow as tf

from nli_app import summary


@contextlib.contextmanager
def writer(output_dir, experiment, run):
    """Default summary writer for ``output_dir/logs/<experiment>/<run>``."""
    w = tf.summary.create_file_writer(os.path.join(output_dir, "logs", experiment, run))
    with w.as_default():
        yield w
    w.flush()
    w.close()


def sharpness_records(measurement, step, regime=None, batch_size=None, name="sharpness"):
    """One ``summary.sharpness`` record per measured setting (and maximiser) of ``Study.measure``'s result."""
    for result in measurement["sharpness"].values():
        summary.sharpness(name, result["value"], step=step, epsilon=result["epsilon"],
                          subspace_dim=result["subspace_dim"], batch_size=batch_size, regime=regime,
                          method=result.get("method", "default"))
    for key in ("train_accuracy", "test_accuracy", "train_loss", "test_loss"):
        tf.summary.scalar(key, measurement[key], step=step)
