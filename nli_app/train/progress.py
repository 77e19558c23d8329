"""What a training run reports while it runs: TensorBoard scalars, absl log lines with rates, a Keras progress bar.

* TensorBoard (``model_dir/logs/train`` every ``log_every_steps`` steps: the training metrics, ``learning_rate``,
  ``gradient_norm`` and ``examples_per_sec`` over the interval; ``model_dir/logs/validation`` after every epoch).
* Without a progress bar the same per-step values go to the absl log, one line per interval, ending with the
  run's estimated time left (``eta``: the steps left at the interval's rate; evaluation time not included).
* With a progress bar (``verbose=1``) the bar shows the running metrics and ``examples_per_sec``; per-step values go
  to TensorBoard only, and each epoch ends with one log line after the bar has finished, so the two never
  interleave.
"""
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging


class RateTimer:
    """Mean gradient norm and examples per second over an interval of steps."""

    def __init__(self):
        self._start, self._norms, self._examples = time.perf_counter(), [], 0.0

    def add(self, norm, examples):
        self._norms.append(norm)
        self._examples += examples

    def rate(self):
        """Examples per second since the interval began."""
        return self._examples / max(time.perf_counter() - self._start, 1e-9)

    def steps_rate(self):
        """Steps per second since the interval began."""
        return len(self._norms) / max(time.perf_counter() - self._start, 1e-9)

    def interval(self):
        """(mean gradient norm, examples per second) of the interval; starts the next one."""
        norm = float(np.mean(self._norms)) if self._norms else 0.0
        rate = self.rate()
        self._start, self._norms, self._examples = time.perf_counter(), [], 0.0
        return norm, rate


def eta_text(steps_left, steps_per_sec):
    """``steps_left`` at ``steps_per_sec`` as "1h02m", "3m05s" or "42s"."""
    seconds = int(round(max(steps_left, 0) / max(steps_per_sec, 1e-9)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _line(values):
    return ", ".join(f"{k}={v:.4g}" for k, v in values.items())


class Progress:
    """The reports of one ``fit`` (see the module docstring).

    Args:
        model_dir: where ``logs/{train,validation}`` go; None = no TensorBoard.
        write_summaries: False on the workers that are not the chief.
        log_every_steps: the TensorBoard / log interval.
        progbar: a Keras progress bar is showing (per-step log lines are then left out).
        total_steps: the step the run ends at (for the ETA; None: no ETA).
    """

    def __init__(self, model_dir, write_summaries, log_every_steps, progbar, total_steps=None):
        self.log_every_steps = log_every_steps
        self.progbar = progbar
        self.total_steps = total_steps
        self._interval = RateTimer()
        self._epoch = RateTimer()
        self._writers = None
        if model_dir and write_summaries:
            logs = os.path.join(model_dir, "logs")
            self._writers = {name: tf.summary.create_file_writer(os.path.join(logs, name))
                             for name in ("train", "validation")}

    def epoch_begin(self):
        self._epoch = RateTimer()

    def step_end(self, step, epoch, logs, gradient_norm, examples, learning_rate):
        """Records one step; returns the batch logs for callbacks (``logs`` plus ``examples_per_sec``).

        ``learning_rate``: a zero-argument function, evaluated only at logging steps.
        """
        self._interval.add(gradient_norm, examples)
        self._epoch.add(gradient_norm, examples)
        if step % self.log_every_steps == 0:
            steps_per_sec = self._interval.steps_rate()
            norm, rate = self._interval.interval()
            values = dict(logs, learning_rate=learning_rate(), gradient_norm=norm, examples_per_sec=rate)
            self.scalars("train", step, values)
            if not self.progbar:
                eta = "" if self.total_steps is None else f", eta {eta_text(self.total_steps - step, steps_per_sec)}"
                logging.info("step %d epoch %d: %s%s", step, epoch, _line(values), eta)
        return dict(logs, examples_per_sec=self._epoch.rate())

    def scalars(self, name, step, values):
        """Writes ``values`` to TensorBoard run ``name`` ("train" or "validation") at ``step``."""
        if self._writers is None:
            return
        with self._writers[name].as_default(step=step):
            for key, value in values.items():
                tf.summary.scalar(key, value)

    def epoch_end(self, step, epoch, logs):
        """One log line per epoch (after the progress bar has finished its line)."""
        logging.info("epoch %d done at step %d (%.4g examples/s): %s", epoch + 1, step, self._epoch.rate(),
                     _line(logs))

    def close(self):
        for writer in (self._writers or {}).values():
            writer.flush()
