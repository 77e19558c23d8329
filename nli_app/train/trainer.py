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
global-batch mean: 2 replicas give the same update as 1 on the same global batch. The replicas' gradients are
summed once and the optimizer is applied to the sum in cross-replica context (where a Keras optimizer does not sum
again), so clipping (``clipnorm``, ``global_clipnorm``), gradient accumulation and ``optimizers.GradientNoise`` see
the global gradient rather than one replica's share. (``keras.optimizers.LossScaleOptimizer`` only works in a
replica context and is refused.)

Resuming: see ``checkpointing`` for what ``model_dir/checkpoints`` holds. Every epoch's order is a function of
``(seed, epoch)`` (see ``data_order``), so a run restarted after a kill skips the batches it had already taken and
ends with the same weights as an uninterrupted run. Reports (TensorBoard, log lines, progress bar): ``progress``;
the per-epoch history: ``history``.
"""
import dataclasses
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

import optimizers
from nli_app.train import data_order as data_order_lib
from nli_app.train import strategy as strategy_lib
from nli_app.train.checkpointing import Checkpointer, training_state
from nli_app.train.history import History
from nli_app.train.progress import Progress

_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


@dataclasses.dataclass
class TrainerConfig:
    """What to train with; every field has its flag in ``nli_app.train.flags`` (with this default).

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
        eval_batch_size: batch size of evaluate / predict / validation; None = ``evaluation_batch_size``'s rule.
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

    @property
    def evaluation_batch_size(self):
        """The batch size of evaluation and prediction: ``eval_batch_size``, else 256 (evaluation needs no gradients,
        so it takes batches larger than a small training batch, as the Trainer always did)."""
        return self.eval_batch_size or 256


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


def _per_example(loss):
    """``loss`` with reduction None when it is a Keras mean loss: the trainer takes the mean itself, because a
    Keras mean loss called in a replica context divides by the number of replicas (made for model.fit)."""
    if isinstance(loss, keras.losses.Loss) and loss.reduction in _MEAN_REDUCTIONS:
        return type(loss).from_config(dict(loss.get_config(), reduction=None))
    return loss


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
        predict_fn: ``predict_fn(model, x) -> outputs`` for ``predict`` (an inference-only computation of the same
            outputs, e.g. ``nli.sorted_inference.predict``); default ``model(x, training=False)``.
    """

    def __init__(self, build_model: Callable[[], keras.Model], config: TrainerConfig, strategy=None,
                 loss=None, metrics=("accuracy",), batch_fn=None, data_order=None, predict_fn=None):
        self.config = config
        self.strategy = strategy or strategy_lib.make_strategy()
        self.loss = keras.losses.get(loss or "sparse_categorical_crossentropy")
        self._example_loss = _per_example(self.loss)
        self.batch_fn = batch_fn or (lambda ds, n: ds.batch(n))
        self.data_order = data_order or (data_order_lib.Shuffle() if config.shuffle else data_order_lib.InOrder())
        self.predict_fn = predict_fn or (lambda model, x: model(x, training=False))
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
        # Callbacks written for model.fit read the optimizer from the model (learning-rate changes, ...).
        self.model.optimizer = self.optimizer
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_epoch")
        self._traced_steps = {}

    # ----------------------------------------------------------------------------------------- building blocks
    def _make_optimizer(self):
        spec = self.config.optimizer
        if isinstance(spec, keras.optimizers.Optimizer):
            if not self.strategy.extended.variable_created_in_scope(spec.iterations.value):
                raise ValueError("the optimizer instance was created outside strategy.scope(); pass its name or a "
                                 "zero-argument factory in TrainerConfig.optimizer instead")
            optimizer = spec
        elif callable(spec):
            optimizer = spec()
        else:
            optimizer = optimizers.get(spec, **self.config.optimizer_kwargs)
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            raise ValueError("keras.optimizers.LossScaleOptimizer sums the gradients over replicas itself and "
                             "cannot apply the trainer's global gradient; train in float32 or bfloat16")
        return optimizer

    def loss_value(self, y, y_pred):
        """Mean loss over this replica's examples, as on one device."""
        value = tf.cast(self._example_loss(y, y_pred), tf.float32)
        if value.shape.rank:  # per-example values (also an empty batch)
            value = tf.math.divide_no_nan(tf.reduce_sum(value), tf.cast(tf.size(value), tf.float32))
        return value

    def compute_loss(self, model, x, y, training):
        """This replica's ``(loss, y_pred)``: the mean loss over the replica's examples plus the model's
        regularisation losses, and the predictions the metrics are computed from.

        Override to add terms (call ``super().compute_loss`` and add to its loss). Write the loss as on one
        device; the trainer weights it by the replica's share of the global batch, so a term that does not depend
        on the batch (a proximal penalty, ...) is counted once.
        """
        y_pred = model(x, training=training)
        loss = self.loss_value(y, y_pred)
        if model.losses:
            loss = loss + tf.add_n([tf.cast(l, tf.float32) for l in model.losses])
        return loss, y_pred

    def _update_metrics(self, metrics, loss, n_local, y, y_pred):
        metrics[0].update_state(loss, sample_weight=n_local)
        for metric in metrics[1:]:
            metric.update_state(y, y_pred)

    def _replica_gradients(self, x, y):
        """This replica's share of the global-batch-mean gradient (None where a variable gets no gradient)."""
        ctx = tf.distribute.get_replica_context()
        n_local = tf.cast(_batch_size_of(y), tf.float32)
        n_global = ctx.all_reduce(tf.distribute.ReduceOp.SUM, n_local)
        with tf.GradientTape() as tape:
            loss, y_pred = self.compute_loss(self.model, x, y, training=True)
            scaled = self.optimizer.scale_loss(loss * n_local / n_global)
        grads = tape.gradient(scaled, self.model.trainable_variables)
        self._update_metrics(self._train_metrics, loss, n_local, y, y_pred)
        return grads, n_global

    def _distributed_train_step(self, batch):
        """One update: the replicas' gradients are summed once, then the optimizer is applied in cross-replica
        context, where it takes the gradient as given: clipping, gradient accumulation and ``GradientNoise`` see
        the global gradient, and every replica's copy of the weights gets the same update."""
        grads, n_global = self.strategy.run(self._replica_gradients, args=batch)
        variables = self.model.trainable_variables
        present = [i for i, g in enumerate(grads) if g is not None]
        reduced = self.strategy.extended.batch_reduce_to(
            tf.distribute.ReduceOp.SUM, [(grads[i], variables[i].value) for i in present])
        grads = [None] * len(variables)
        for i, g in zip(present, reduced):
            grads[i] = g
        norm = tf.linalg.global_norm([g for g in grads if g is not None])
        if self.optimizer.loss_scale_factor is not None:
            norm = norm / self.optimizer.loss_scale_factor
        self.optimizer.apply(grads, variables)
        return norm, self.strategy.experimental_local_results(n_global)[0]

    def _replica_eval_step(self, x, y):
        loss, y_pred = self.compute_loss(self.model, x, y, training=False)
        self._update_metrics(self._eval_metrics, loss, tf.cast(_batch_size_of(y), tf.float32), y, y_pred)

    def _predict_batch(self, x):
        return self.predict_fn(self.model, x)

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
        """The batches as ``strategy.run`` takes them: split across replicas, or as they are for one replica.

        Without tf.data's autotuning thread: deleting an iterator (at every epoch end and evaluation) waits for that
        thread, which sleeps longer and longer between its rounds; on CPU (TF 2.21) that left the cores idle for
        0-18 s a deletion (1.0-1.3 s after half of the 24-batch fits of ``bench/esim_vs_pytorch.py``'s training
        rows). ``prefetch`` still sizes its buffer itself. With one replica the dataset is iterated directly (a
        distributed iterator adds nothing there).
        """
        options = tf.data.Options()
        options.autotune.enabled = False
        if self.strategy.num_replicas_in_sync == 1:
            return batched.with_options(options).prefetch(tf.data.AUTOTUNE)
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

    def _epoch_batches(self, dataset, size, epoch):
        batched = self.batch_fn(self.data_order(dataset, epoch, self.config.seed), size)
        replicas = self.strategy.num_replicas_in_sync
        if replicas > 1:  # a final batch smaller than the replica count would leave a replica without examples
            batched = batched.filter(lambda x, y: _batch_size_of(y) >= replicas)
        return batched

    def _steps_per_epoch(self, dataset, size, num_examples):
        """Batches per epoch (the progress bar's target and the ETA's); counted once when ``batch_fn`` hides it from
        tf.data."""
        n = int(self.batch_fn(dataset, size).cardinality())
        if n < 0:
            return data_order_lib.cardinality(self._epoch_batches(dataset, size, 0))
        if 0 < num_examples % size < self.strategy.num_replicas_in_sync:
            n -= 1  # the last batch, too small to split, is dropped by _epoch_batches
        return n

    # ------------------------------------------------------------------------------------------------- fit
    def _checkpointer(self, callbacks):
        counters = dict(step=self.step, epoch=self.epoch, step_in_epoch=self.step_in_epoch)
        state = training_state(self.model, self.optimizer, self._train_metrics, counters, callbacks)
        return Checkpointer(state, self.config.model_dir, self.strategy, self.config.max_checkpoints_to_keep)

    def restore(self, callbacks=()):
        """Restores the latest checkpoint of ``model_dir`` (if any) into the trainer and ``callbacks``; returns
        its path or None."""
        if not self.config.model_dir:
            return None
        return self._restore(self._checkpointer(callbacks))

    def _restore(self, checkpointer):
        path = checkpointer.restore()
        if path:
            logging.info("restored %s (step %d, epoch %d)", path, int(self.step), int(self.epoch))
        return path

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
        user_callbacks = list(callbacks or [])
        show_bar = config.verbose > 0
        # The bar comes first, so it finishes its line before any callback logs at the end of an epoch.
        bar = [keras.callbacks.ProgbarLogger()] if show_bar else []
        steps_per_epoch = self._steps_per_epoch(dataset, size, num_examples)
        callback_list = keras.callbacks.CallbackList(
            bar + user_callbacks, model=self.model, verbose=config.verbose, epochs=config.epochs,
            steps=steps_per_epoch if show_bar else None)
        checkpointer, history = None, History()
        if config.model_dir:
            checkpointer = self._checkpointer(user_callbacks)
            self._restore(checkpointer)
            history = History.resume(config.model_dir, int(self.epoch))
        total_steps = config.epochs * steps_per_epoch
        progress = Progress(config.model_dir, strategy_lib.is_chief(self.strategy), config.log_every_steps,
                            progbar=show_bar, total_steps=min(total_steps, config.max_steps or total_steps))
        self.model.stop_training = False
        logs = {}
        callback_list.on_train_begin()
        while int(self.epoch) < config.epochs and not self._reached_max_steps():
            epoch = int(self.epoch)
            callback_list.on_epoch_begin(epoch)
            progress.epoch_begin()
            distributed = self._distribute(self._epoch_batches(dataset, size, epoch).skip(int(self.step_in_epoch)))
            train_step = self._traced(self._distributed_train_step, distributed)
            interrupted = False
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
                step = int(self.step)
                logs = self._results(self._train_metrics)
                batch_logs = progress.step_end(step, epoch, logs, float(norm), float(n_global),
                                               self.current_learning_rate)
                callback_list.on_train_batch_end(batch_index, batch_logs)
                if checkpointer and config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0:
                    checkpointer.save(step)
            if interrupted:
                break
            logs = self._epoch_logs(validation_data, progress)
            callback_list.on_epoch_end(epoch, logs)
            progress.epoch_end(int(self.step), epoch, logs)
            history.append(logs)
            for metric in self._train_metrics:
                metric.reset_state()
            self.epoch.assign_add(1)
            self.step_in_epoch.assign(0)
            if checkpointer:
                checkpointer.save(int(self.step), force=True)
                if checkpointer.chief:
                    history.write()
            if self.model.stop_training:
                break
        if checkpointer:
            checkpointer.save(int(self.step))
        callback_list.on_train_end(logs)
        progress.close()
        return dict(history)

    def _epoch_logs(self, validation_data, progress):
        logs = self._results(self._train_metrics)
        if validation_data is not None:
            val = self.evaluate(validation_data)
            logs.update({f"val_{k}": v for k, v in val.items()})
            progress.scalars("validation", int(self.step), val)
        logs["learning_rate"] = self.current_learning_rate()
        return logs

    def _reached_max_steps(self):
        return self.config.max_steps is not None and int(self.step) >= self.config.max_steps

    def current_learning_rate(self):
        """The optimizer's learning rate now (a schedule is evaluated at the optimizer's step)."""
        return float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))

    @staticmethod
    def _results(metrics):
        return {m.name: float(keras.ops.convert_to_numpy(m.result())) for m in metrics}

    # ------------------------------------------------------------------------------------ evaluate / predict
    def evaluate(self, data):
        """{"loss": mean loss, metric name: value} over ``data`` (all of it, split across the replicas)."""
        dataset = self._as_dataset(data, "evaluation data")
        for metric in self._eval_metrics:
            metric.reset_state()
        distributed = self._distribute(self.batch_fn(dataset, self.config.evaluation_batch_size))
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
        batched = self.batch_fn(dataset, self.config.evaluation_batch_size).map(lambda x, y: x)
        predict_step = self._traced(self._predict_batch, batched)
        outputs = [keras.ops.convert_to_numpy(predict_step(x)) for x in batched]
        if not outputs:
            raise ValueError("predict: the data is empty")
        return np.concatenate(outputs, axis=0)
