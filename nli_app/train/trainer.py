"""The one ``tf.distribute`` trainer: a custom loop (``strategy.run`` inside ``tf.function``) shared by every
experiment, because ``model.fit`` fails under ``MultiWorkerMirroredStrategy``.

Example::

    import keras
    import numpy as np
    from nli_app.train.strategy import make_strategy
    from nli_app.train.trainer import Trainer, TrainerConfig

    def build_model():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])

    x, y = np.random.rand(64, 4).astype("float32"), np.random.randint(0, 3, 64)
    config = TrainerConfig(optimizer="adam", optimizer_kwargs={"learning_rate": 1e-3}, global_batch_size=16,
                           epochs=2, seed=0, model_dir="/tmp/run")
    trainer = Trainer(build_model, config, strategy=make_strategy(num_cpu_replicas=2),
                      loss=keras.losses.SparseCategoricalCrossentropy(), metrics=("accuracy",))
    history = trainer.fit((x, y), validation_data=(x, y))     # {"loss": [...], "val_accuracy": [...], ...}
    trainer.evaluate((x, y)), trainer.predict(x)

Gradient descent variants of the survey (section 2) are batch settings: ``global_batch_size=None`` is batch
(full-dataset) gradient descent, ``1`` stochastic, ``n`` mini-batch.

Distribution: each global batch is split across the replicas. Each replica computes its mean loss, weighted by
its share ``n_local / n_global`` of the global batch, so the all-reduced gradient is exactly the gradient of the
global-batch mean: 2 replicas give the same update as 1 on the same global batch. The trainer all-reduces the
gradients itself and hands the optimizer the global gradient on every replica (the optimizer's own cross-replica
sum is switched off), so clipping (``clipnorm``, ``global_clipnorm``) and gradient accumulation see the global
gradient rather than one replica's share.

Resuming: ``model_dir/checkpoints`` holds the model's variables (Keras seed-generator states included, so dropout
masks continue), the optimizer's variables (slots, iterations, learning rate), the running metrics, the step /
epoch / step-in-epoch counters and the state of callbacks that expose ``state_variables()``. Every epoch's order
is a function of ``(seed, epoch)`` (see ``data_order``), so a run restarted after a kill skips the batches it had
already taken and ends with the same weights as an uninterrupted run.
"""
import dataclasses
import json
import os
import shutil
import time
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from keras.src.losses.loss import unscale_loss_for_distribution

import optimizers
from nli_app.train import data_order as data_order_lib
from nli_app.train import strategy as strategy_lib

_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


@dataclasses.dataclass
class TrainerConfig:
    """What to train with; every field has a flag in ``nli_app.train.flags``.

    Attributes:
        optimizer: a name for ``optimizers.get`` or a zero-argument factory returning a Keras optimizer (called
            inside ``strategy.scope()``).
        optimizer_kwargs: constructor arguments (``learning_rate``, ``beta_1``, ``global_clipnorm``, ...).
        global_batch_size: examples per step over all replicas; None = the whole dataset (batch gradient descent).
        epochs: passes over the training data (counted across restarts).
        max_steps: stop after this many steps in total (counted across restarts); None = no limit.
        seed: seeds weight initialisation, dropout and the per-epoch order (``seed + epoch``).
        shuffle: default data order: reshuffle each epoch (True) or keep the dataset's order.
        model_dir: where checkpoints, TensorBoard logs and ``history.json`` go; None = nothing is written.
        checkpoint_every_steps: also checkpoint every this many steps (epoch ends and the last step always are).
        log_every_steps: TensorBoard / absl logging interval in steps.
        eval_batch_size: batch size of evaluate / predict / validation; None = global_batch_size (or 256).
        verbose: 1 shows a Keras progress bar, 0 only logs.
        deterministic: also turn on TensorFlow's op determinism (needed on GPUs for bit-identical runs).
        max_checkpoints_to_keep: how many checkpoints ``model_dir/checkpoints`` keeps.
    """
    optimizer: Any = "adam"
    optimizer_kwargs: dict = dataclasses.field(default_factory=dict)
    global_batch_size: int | None = 32
    epochs: int = 1
    max_steps: int | None = None
    seed: int = 0
    shuffle: bool = True
    model_dir: str | None = None
    checkpoint_every_steps: int | None = 100
    log_every_steps: int = 10
    eval_batch_size: int | None = None
    verbose: int = 1
    deterministic: bool = False
    max_checkpoints_to_keep: int = 3

    def __post_init__(self):
        if self.global_batch_size is not None and self.global_batch_size < 1:
            raise ValueError(f"global_batch_size must be >= 1 or None (full batch), got {self.global_batch_size}")
        if self.epochs < 0 or (self.max_steps is not None and self.max_steps < 0):
            raise ValueError(f"epochs and max_steps must be >= 0, got {self.epochs} and {self.max_steps}")
        if self.log_every_steps < 1:
            raise ValueError(f"log_every_steps must be >= 1, got {self.log_every_steps}")


def _resolve_metric(metric, loss):
    """A Keras metric object for a name ("accuracy" follows the loss, as in ``model.compile``) or an instance."""
    if not isinstance(metric, str):
        return metric
    if metric in ("accuracy", "acc"):
        loss_name = getattr(loss, "name", getattr(loss, "__name__", str(loss))).lower()
        if "sparse_categorical" in loss_name:
            return keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        if "binary" in loss_name:
            return keras.metrics.BinaryAccuracy(name="accuracy")
        return keras.metrics.CategoricalAccuracy(name="accuracy")
    return keras.metrics.get(metric)


def _batch_size_of(y):
    return tf.shape(tf.nest.flatten(y)[0])[0]


def _already_summed(grads_and_vars):
    return list(grads_and_vars)


def _sum_gradients_once(optimizer):
    """Switch off the optimizer's own cross-replica gradient sum (the trainer hands it all-reduced gradients).

    Applies to wrapped optimizers too (``LossScaleOptimizer``, ``optimizers.GradientNoise``): any attribute that is
    itself a Keras optimizer.
    """
    seen = set()
    stack = [optimizer]
    while stack:
        opt = stack.pop()
        if id(opt) in seen:
            continue
        seen.add(id(opt))
        if hasattr(opt, "_all_reduce_sum_gradients"):
            opt._all_reduce_sum_gradients = _already_summed
        if hasattr(opt, "summed_gradients"):  # optimizers.GradientNoise: add the noise once, not once per replica
            opt.summed_gradients = True
        stack.extend(v for v in vars(opt).values() if isinstance(v, keras.optimizers.Optimizer))


class Trainer:
    """Trains ``build_model()`` under a ``tf.distribute`` strategy; see the module docstring.

    Args:
        build_model: zero-argument function returning a built Keras model (called inside ``strategy.scope()``).
        config: a ``TrainerConfig``.
        strategy: a ``tf.distribute.Strategy``; None = ``make_strategy()`` (all local GPUs, or the CPU).
        loss: a Keras loss (mean reduction) or a function ``loss(y_true, y_pred)``.
        metrics: metric names or Keras metric objects, reported in logs and TensorBoard.
        batch_fn: ``batch_fn(unbatched_ds, batch_size) -> batched ds`` (padding, bucketing); default ``ds.batch``.
        data_order: ``order(unbatched_ds, epoch, seed) -> unbatched ds`` (``data_order.Shuffle``, ``Curriculum``,
            ...); default ``Shuffle()`` if ``config.shuffle`` else ``InOrder()``.
    """

    def __init__(self, build_model: Callable[[], keras.Model], config: TrainerConfig, strategy=None,
                 loss=None, metrics=("accuracy",), batch_fn=None, data_order=None):
        self.config = config
        self.strategy = strategy or strategy_lib.make_strategy()
        self.loss = keras.losses.get(loss or "sparse_categorical_crossentropy")
        self.batch_fn = batch_fn or (lambda ds, n: ds.batch(n))
        self.data_order = data_order or (data_order_lib.Shuffle() if config.shuffle else data_order_lib.InOrder())
        keras.utils.set_random_seed(config.seed)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        with self.strategy.scope():
            self.model = build_model()
            if not self.model.built or not self.model.trainable_variables:
                raise ValueError("build_model() must return a built Keras model with trainable weights "
                                 "(give it a keras.Input)")
            self.optimizer = self._make_optimizer()
            self.optimizer.build(self.model.trainable_variables)
            self._train_metrics = [keras.metrics.Mean(name="loss")] + [
                _resolve_metric(m, self.loss) for m in metrics]
            self._eval_metrics = [keras.metrics.Mean(name="loss")] + [
                _resolve_metric(m, self.loss) for m in metrics]
        _sum_gradients_once(self.optimizer)
        # Callbacks written for model.fit read the optimizer from the model (learning-rate changes, ...).
        self.model.optimizer = self.optimizer
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_epoch")
        self._traced_steps = {}
        self._recorded_predictions = None

    # ----------------------------------------------------------------------------------------- building blocks
    def _make_optimizer(self):
        spec = self.config.optimizer
        if callable(spec) and not isinstance(spec, keras.optimizers.Optimizer):
            return spec()
        if isinstance(spec, keras.optimizers.Optimizer):
            if getattr(spec, "_distribution_strategy", self.strategy) is not self.strategy:
                raise ValueError("the optimizer instance was created outside strategy.scope(); pass its name or a "
                                 "zero-argument factory in TrainerConfig.optimizer instead")
            return spec
        return optimizers.get(spec, **self.config.optimizer_kwargs)

    def loss_value(self, y, y_pred):
        """Mean loss over this replica's examples, as on one device (Keras' 1/replicas scaling undone)."""
        value = self.loss(y, y_pred)
        if getattr(self.loss, "reduction", None) in _MEAN_REDUCTIONS:
            value = unscale_loss_for_distribution(value)
        value = tf.cast(value, tf.float32)
        if value.shape.rank:  # per-example values (a plain function, reduction None, or an empty batch)
            value = tf.math.divide_no_nan(tf.reduce_sum(value), tf.cast(tf.size(value), tf.float32))
        return value

    def compute_loss(self, model, x, y, training):
        """This replica's loss: its mean over the replica's examples plus the model's regularisation losses.

        Override to add terms (keep calling ``super().compute_loss``: the predictions of its first call in a step
        feed the metrics). Write the loss as on one device; the trainer weights it by the replica's share of the
        global batch, so a term that does not depend on the batch (a proximal penalty, ...) is counted once.
        """
        y_pred = model(x, training=training)
        if self._recorded_predictions is None:
            self._recorded_predictions = y_pred
        loss = self.loss_value(y, y_pred)
        if model.losses:
            loss = loss + tf.add_n([tf.cast(l, tf.float32) for l in model.losses])
        return loss

    def _loss_and_predictions(self, x, y, training):
        self._recorded_predictions = None
        loss = self.compute_loss(self.model, x, y, training)
        y_pred = self._recorded_predictions
        self._recorded_predictions = None
        return loss, y_pred

    def _update_metrics(self, metrics, loss, n_local, x, y, y_pred):
        if y_pred is None:  # an override of compute_loss that did not call the model through super()
            y_pred = self.model(x, training=False)
        metrics[0].update_state(loss, sample_weight=n_local)
        for metric in metrics[1:]:
            metric.update_state(y, y_pred)

    def _replica_train_step(self, x, y):
        ctx = tf.distribute.get_replica_context()
        n_local = tf.cast(_batch_size_of(y), tf.float32)
        n_global = ctx.all_reduce(tf.distribute.ReduceOp.SUM, n_local)
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss, y_pred = self._loss_and_predictions(x, y, training=True)
            share = loss * n_local / n_global
            scaled = self.optimizer.scale_loss(share)
        grads = tape.gradient(scaled, variables)
        present = [i for i, g in enumerate(grads) if g is not None]
        reduced = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in present])
        grads = list(grads)
        for i, g in zip(present, reduced):
            grads[i] = g
        norm = tf.linalg.global_norm([g for g in grads if g is not None])
        if self.optimizer.loss_scale_factor is not None:
            norm = norm / self.optimizer.loss_scale_factor
        self.optimizer.apply(grads, variables)
        self._update_metrics(self._train_metrics, loss, n_local, x, y, y_pred)
        return norm, n_global

    def _distributed_train_step(self, batch):
        norm, n_global = self.strategy.run(self._replica_train_step, args=batch)
        local = self.strategy.experimental_local_results
        return local(norm)[0], local(n_global)[0]

    def _replica_eval_step(self, x, y):
        loss, y_pred = self._loss_and_predictions(x, y, training=False)
        self._update_metrics(self._eval_metrics, loss, tf.cast(_batch_size_of(y), tf.float32), x, y, y_pred)

    def _predict_batch(self, x):
        return self.model(x, training=False)

    def _distributed_eval_step(self, batch):
        self.strategy.run(self._replica_eval_step, args=batch)

    # ------------------------------------------------------------------------------------------------- data
    @staticmethod
    def _as_dataset(data, what):
        if isinstance(data, tf.data.Dataset):
            dataset = data
        elif isinstance(data, (tuple, list)) and len(data) == 2:
            x, y = data
            sizes = {len(v) for v in tf.nest.flatten(x)} | {len(v) for v in tf.nest.flatten(y)}
            if len(sizes) != 1:
                raise ValueError(f"{what}: features and labels have different numbers of examples {sorted(sizes)}")
            dataset = tf.data.Dataset.from_tensor_slices((x, y))
        else:
            raise ValueError(f"{what} must be an unbatched tf.data.Dataset of (features, label) or a tuple of "
                             f"arrays (x, y), got {type(data).__name__}")
        spec = dataset.element_spec
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise ValueError(f"{what} must yield (features, label) pairs; its element_spec is {spec}")
        return dataset

    def _distribute(self, batched):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return self.strategy.experimental_distribute_dataset(
            batched.with_options(options).prefetch(tf.data.AUTOTUNE))

    def _traced(self, step_fn, batches):
        """``step_fn`` as a ``tf.function`` traced once for all batches of ``batches``.

        The signature is the dataset's element_spec, whose unknown dimensions (batch size, padded length of a
        bucket) stay unknown, so variable-length batches do not trigger one trace per shape.
        """
        spec = batches.element_spec
        key = (step_fn.__name__, repr(spec))
        if key not in self._traced_steps:
            self._traced_steps[key] = tf.function(step_fn, input_signature=[spec])
        return self._traced_steps[key]

    def _eval_batch_size(self):
        return self.config.eval_batch_size or self.config.global_batch_size or 256

    def _epoch_batches(self, dataset, size, epoch):
        batched = self.batch_fn(self.data_order(dataset, epoch, self.config.seed), size)
        replicas = self.strategy.num_replicas_in_sync
        if replicas > 1:  # a final batch smaller than the replica count would leave a replica without examples
            batched = batched.filter(lambda x, y: _batch_size_of(y) >= replicas)
        return batched

    def _steps_per_epoch(self, dataset, size, num_examples):
        """Batches per epoch for the progress bar (None when ``batch_fn`` makes it unknowable statically)."""
        n = int(self.batch_fn(dataset, size).cardinality())
        if n < 0:
            return None
        remainder = num_examples % size
        if int(dataset.cardinality()) >= 0 and 0 < remainder < self.strategy.num_replicas_in_sync:
            n -= 1  # dropped by _epoch_batches
        return n

    # ---------------------------------------------------------------------------------------- checkpoints
    def _checkpoint(self, callbacks=()):
        objects = dict(
            model_variables=[v.value for v in self.model.variables],
            optimizer_variables=[v.value for v in self.optimizer.variables],
            metric_variables=[v.value for m in self._train_metrics for v in m.variables],
            step=self.step, epoch=self.epoch, step_in_epoch=self.step_in_epoch)
        states = {f"{i}_{type(cb).__name__}": cb.state_variables() for i, cb in enumerate(callbacks)
                  if hasattr(cb, "state_variables")}
        if states:
            objects["callbacks"] = states
        return tf.train.Checkpoint(**objects)

    def _checkpoint_dir(self):
        suffix = strategy_lib.task_suffix(self.strategy)
        base = os.path.join(self.config.model_dir, "checkpoints")
        return base if not suffix else os.path.join(self.config.model_dir, "tmp_checkpoints", suffix)

    def restore(self, callbacks=()):
        """Restores the latest checkpoint of ``model_dir`` (if any); returns its path or None."""
        if not self.config.model_dir:
            return None
        path = tf.train.latest_checkpoint(os.path.join(self.config.model_dir, "checkpoints"))
        if path:
            self._checkpoint(callbacks).restore(path).expect_partial()
            logging.info("restored %s (step %d, epoch %d)", path, int(self.step), int(self.epoch))
        return path

    # ------------------------------------------------------------------------------------------------- fit
    def fit(self, train_data, validation_data=None, callbacks=None):
        """Trains until ``config.epochs`` or ``config.max_steps``; returns {name: [value per epoch]}.

        Resumes from ``model_dir/checkpoints`` when there is a checkpoint (the history of earlier epochs is
        read back from ``model_dir/history.json``).
        """
        config = self.config
        dataset = self._as_dataset(train_data, "train_data")
        num_examples = data_order_lib.cardinality(dataset)
        if num_examples == 0:
            raise ValueError("train_data is empty")
        size = config.global_batch_size or num_examples
        if size < self.strategy.num_replicas_in_sync:
            raise ValueError(f"global batch size {size} is smaller than the {self.strategy.num_replicas_in_sync} "
                             "replicas it is split across")
        steps_per_epoch = self._steps_per_epoch(dataset, size, num_examples)
        user_callbacks = list(callbacks or [])
        callback_list = keras.callbacks.CallbackList(
            user_callbacks, add_history=False, add_progbar=config.verbose > 0, model=self.model,
            verbose=config.verbose, epochs=config.epochs, steps=steps_per_epoch)
        chief = strategy_lib.is_chief(self.strategy)
        manager = writers = None
        history = {}
        if config.model_dir:
            checkpoint = self._checkpoint(user_callbacks)
            manager = tf.train.CheckpointManager(checkpoint, self._checkpoint_dir(),
                                                 max_to_keep=config.max_checkpoints_to_keep)
            self.restore(user_callbacks)
            history = self._read_history(int(self.epoch))
            writers = self._writers(chief)
        self.model.stop_training = False
        self._last_saved_step = int(self.step) if manager and manager.latest_checkpoint else None
        logs = {}
        callback_list.on_train_begin()
        timer = _RateTimer(int(self.step))
        while int(self.epoch) < config.epochs and not self._reached_max_steps():
            epoch = int(self.epoch)
            callback_list.on_epoch_begin(epoch)
            batches = self._epoch_batches(dataset, size, epoch).skip(int(self.step_in_epoch))
            interrupted = False
            distributed = self._distribute(batches)
            train_step = self._traced(self._distributed_train_step, distributed)
            for batch in distributed:
                if self.model.stop_training:
                    break
                if self._reached_max_steps():
                    interrupted = True  # the epoch goes on when the run is resumed with a larger budget
                    break
                batch_index = int(self.step_in_epoch)
                callback_list.on_train_batch_begin(batch_index)
                norm, n_global = train_step(batch)
                self.step.assign_add(1)
                self.step_in_epoch.assign_add(1)
                timer.add(float(norm), float(n_global))
                logs = self._results(self._train_metrics)
                callback_list.on_train_batch_end(batch_index, logs)
                step = int(self.step)
                if step % config.log_every_steps == 0:
                    self._log_train(writers, step, logs, timer)
                if manager and config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0:
                    self._save(manager, chief)
            if interrupted:
                break
            logs = self._results(self._train_metrics)
            if validation_data is not None:
                val = self.evaluate(validation_data)
                logs.update({f"val_{k}": v for k, v in val.items()})
                self._write_scalars(writers and writers[1], int(self.step), val)
            logs["learning_rate"] = self.current_learning_rate()
            callback_list.on_epoch_end(epoch, logs)
            for name, value in logs.items():
                history.setdefault(name, []).append(float(value))
            for metric in self._train_metrics:
                metric.reset_state()
            self.epoch.assign_add(1)
            self.step_in_epoch.assign(0)
            if manager:
                self._save(manager, chief, force=True)
                if chief:
                    self._write_history(history)
            if self.model.stop_training:
                break
        if manager:
            self._save(manager, chief)
        callback_list.on_train_end(logs)
        if writers:
            for writer in writers:
                writer.flush()
        return history

    def _reached_max_steps(self):
        return self.config.max_steps is not None and int(self.step) >= self.config.max_steps

    def _save(self, manager, chief, force=False):
        """Checkpoints now unless this step is already saved (``force``: the epoch counters moved since)."""
        step = int(self.step)
        if step == self._last_saved_step and not force:
            return
        manager.save(checkpoint_number=step)
        self._last_saved_step = step
        if not chief:
            shutil.rmtree(manager.directory, ignore_errors=True)

    def _history_path(self):
        return os.path.join(self.config.model_dir, "history.json")

    def _read_history(self, epochs_done):
        if not epochs_done or not os.path.exists(self._history_path()):
            return {}
        with open(self._history_path()) as f:
            return {k: v[:epochs_done] for k, v in json.load(f).items()}

    def _write_history(self, history):
        with open(self._history_path(), "w") as f:
            json.dump(history, f, indent=1)

    # -------------------------------------------------------------------------------------------- logging
    def current_learning_rate(self):
        """The optimizer's learning rate now (a schedule is evaluated at the optimizer's step)."""
        return float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))

    @staticmethod
    def _results(metrics):
        return {m.name: float(keras.ops.convert_to_numpy(m.result())) for m in metrics}

    def _writers(self, chief):
        if not chief:
            return None
        logs = os.path.join(self.config.model_dir, "logs")
        return (tf.summary.create_file_writer(os.path.join(logs, "train")),
                tf.summary.create_file_writer(os.path.join(logs, "validation")))

    @staticmethod
    def _write_scalars(writer, step, values):
        if writer is None:
            return
        with writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)

    def _log_train(self, writers, step, logs, timer):
        norm, rate = timer.interval(step)
        values = dict(logs, learning_rate=self.current_learning_rate(), gradient_norm=norm, examples_per_sec=rate)
        self._write_scalars(writers and writers[0], step, values)
        logging.info("step %d epoch %d: %s", step, int(self.epoch),
                     ", ".join(f"{k}={v:.4g}" for k, v in values.items()))

    # ------------------------------------------------------------------------------------ evaluate / predict
    def evaluate(self, data):
        """{"loss": mean loss, metric name: value} over ``data`` (all of it, split across the replicas)."""
        dataset = self._as_dataset(data, "evaluation data")
        for metric in self._eval_metrics:
            metric.reset_state()
        distributed = self._distribute(self.batch_fn(dataset, self._eval_batch_size()))
        eval_step = self._traced(self._distributed_eval_step, distributed)
        for batch in distributed:
            eval_step(batch)
        return self._results(self._eval_metrics)

    def predict(self, data):
        """The model's outputs on ``data`` in order, as a numpy array (on this process's first device).

        ``data``: features (an array or a dict of arrays), ``(x, y)``, or a dataset of features or of
        ``(features, label)``; ``batch_fn`` sees ``(features, label)`` pairs (label 0 where none was given).
        """
        if isinstance(data, tf.data.Dataset):
            dataset = data
        elif isinstance(data, (tuple, list)) and len(data) == 2:
            dataset = tf.data.Dataset.from_tensor_slices(tuple(data))
        else:
            dataset = tf.data.Dataset.from_tensor_slices(data)
        spec = dataset.element_spec
        if not (isinstance(spec, tuple) and len(spec) == 2):
            dataset = dataset.map(lambda *x: (x[0] if len(x) == 1 else x, tf.constant(0, tf.int32)))
        batched = self.batch_fn(dataset, self._eval_batch_size()).map(lambda x, y: x)
        predict_step = self._traced(self._predict_batch, batched)
        outputs = [keras.ops.convert_to_numpy(predict_step(x)) for x in batched]
        if not outputs:
            raise ValueError("predict: the data is empty")
        return np.concatenate(outputs, axis=0)


class _RateTimer:
    """Mean gradient norm and examples per second over each logging interval."""

    def __init__(self, step):
        self._start, self._step, self._norms, self._examples = time.perf_counter(), step, [], 0.0

    def add(self, norm, examples):
        self._norms.append(norm)
        self._examples += examples

    def interval(self, step):
        now = time.perf_counter()
        norm = float(np.mean(self._norms)) if self._norms else 0.0
        rate = self._examples / max(now - self._start, 1e-9)
        self._start, self._step, self._norms, self._examples = now, step, [], 0.0
        return norm, rate
