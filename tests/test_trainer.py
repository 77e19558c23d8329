"""The tf.distribute trainer: replica equivalence, numpy references, resume after a kill, dict inputs, logging."""
import glob
import os
import signal
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import optimizers
from optimizers.schedules import StepDecay
from nli_app.train import progress
from nli_app.train.strategy import make_strategy
from nli_app.train.trainer import Trainer, TrainerConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mlp(dropout=0.0):
    layers = [keras.Input((5,)), keras.layers.Dense(8, activation="tanh")]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    return keras.Sequential(layers + [keras.layers.Dense(3, activation="softmax")])


def classification_data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int32") + (x[:, 2] > 1).astype("int32")


def weights(trainer):
    return [np.array(v.numpy()) for v in trainer.model.weights]


def assert_same_weights(a, b, rtol=1e-5, atol=1e-6):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol)


def fit(replicas, model_dir=None, build=mlp, data=None, callbacks=None, **overrides):
    settings = dict(optimizer="adam", optimizer_kwargs={"learning_rate": 0.05, "global_clipnorm": 0.3},
                    global_batch_size=8, epochs=2, seed=3, verbose=0, model_dir=model_dir)
    settings.update(overrides)
    trainer = Trainer(build, TrainerConfig(**settings), strategy=make_strategy(num_cpu_replicas=replicas),
                      loss=keras.losses.SparseCategoricalCrossentropy(), metrics=("accuracy",))
    history = trainer.fit(data or classification_data(27), callbacks=callbacks)
    return trainer, history


@pytest.fixture(scope="module")
def replica_runs():
    """The same run on 1 and on 2 replicas: (trainer, history) each."""
    return fit(1), fit(2)


def test_two_replicas_equal_one_replica_on_the_same_global_batch(replica_runs):
    # 27 examples, batch 8: the last batch of 3 is split 2 + 1; global-norm clipping at 0.3 is active, so the
    # clipping must see the all-reduced gradient for the runs to agree.
    (one, history_one), (two, history_two) = replica_runs
    assert two.strategy.num_replicas_in_sync == 2
    assert int(two.step) == 8 and int(two.optimizer.iterations.numpy()) == 8
    assert_same_weights(weights(one), weights(two))
    np.testing.assert_allclose(history_one["loss"], history_two["loss"], rtol=1e-5)
    assert not np.allclose(weights(one)[0], mlp().get_weights()[0])


def test_gradient_noise_is_added_once_over_two_replicas():
    # The noise is a function of (seed, variable, step): one replica and two replicas must draw the same, and
    # the trainer's all-reduced gradient must carry it once (not 1/replicas of it).
    def noisy_adam():
        return optimizers.GradientNoise(optimizers.get("adam", learning_rate=0.05), eta=0.3, seed=5)

    one, _ = fit(1, optimizer=noisy_adam, optimizer_kwargs={})
    two, _ = fit(2, optimizer=noisy_adam, optimizer_kwargs={})
    quiet, _ = fit(1, optimizer="adam", optimizer_kwargs={"learning_rate": 0.05})
    assert_same_weights(weights(one), weights(two))
    assert not np.allclose(weights(one)[0], weights(quiet)[0], atol=1e-3)


def linear():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])


def numpy_sgd(w, b, x, y, batch, lr, epochs, l2=0.0, min_batch=1):
    """Reference: theta <- theta - lr * grad of the batch-mean squared error (+ l2/2 |w|^2), in dataset order;
    a final batch with fewer than ``min_batch`` examples is skipped."""
    for _ in range(epochs):
        for start in range(0, len(x), batch):
            xb, yb = x[start:start + batch], y[start:start + batch]
            if len(xb) < min_batch:
                continue
            residual = xb @ w + b - yb
            w = w - lr * (2.0 / len(xb) * xb.T @ residual + l2 * w)
            b = b - lr * 2.0 / len(xb) * residual.sum(axis=0)
    return w, b


@pytest.mark.parametrize("batch,replicas,n", [(None, 2, 10), (1, 1, 10), (4, 2, 10), (4, 2, 9)],
                         ids=["full-batch", "stochastic", "mini", "mini-1-example-tail-dropped"])
def test_gradient_descent_variants_match_numpy(batch, replicas, n):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype("float32")
    config = TrainerConfig(optimizer="sgd", optimizer_kwargs={"learning_rate": 0.05}, global_batch_size=batch,
                           epochs=2, shuffle=False, verbose=0)
    trainer = Trainer(linear, config, strategy=make_strategy(num_cpu_replicas=replicas),
                      loss=keras.losses.MeanSquaredError(), metrics=())
    w0, b0 = [np.array(v, np.float64) for v in trainer.model.get_weights()]
    trainer.fit((x, y))
    w, b = numpy_sgd(w0, b0, x.astype(np.float64), y.astype(np.float64), batch or len(x), 0.05, 2,
                     min_batch=replicas)
    assert int(trainer.step) == 2 * (len(x) // (batch or len(x)) + (len(x) % (batch or len(x)) >= replicas))
    np.testing.assert_allclose(trainer.model.get_weights()[0], w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(trainer.model.get_weights()[1], b, rtol=1e-4, atol=1e-5)


class ProximalTrainer(Trainer):
    """A compute_loss override adding a batch-independent term, as the large-batch remedies do."""

    def compute_loss(self, model, x, y, training):
        kernel = model.trainable_variables[0]
        loss, y_pred = super().compute_loss(model, x, y, training)
        return loss + 0.5 * 0.3 * tf.reduce_sum(tf.square(kernel)), y_pred


def test_compute_loss_override_adds_its_term_once_over_replicas():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(10, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")
    config = TrainerConfig(optimizer="sgd", optimizer_kwargs={"learning_rate": 0.05}, global_batch_size=4,
                           epochs=2, shuffle=False, verbose=0)
    trainer = ProximalTrainer(linear, config, strategy=make_strategy(num_cpu_replicas=2),
                              loss=keras.losses.MeanSquaredError(), metrics=())
    w0, b0 = [np.array(v, np.float64) for v in trainer.model.get_weights()]
    trainer.fit((x, y))
    w, b = numpy_sgd(w0, b0, x.astype(np.float64), y.astype(np.float64), 4, 0.05, 2, l2=0.3)
    np.testing.assert_allclose(trainer.model.get_weights()[0], w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(trainer.model.get_weights()[1], b, rtol=1e-4, atol=1e-5)


def test_evaluate_and_predict_match_numpy_with_an_empty_replica(replica_runs):
    # 25 examples in batches of 8: the last batch holds one example, so one replica gets none.
    x, y = classification_data(25)
    trainer = replica_runs[1][0]
    probabilities = trainer.predict(x)
    assert probabilities.shape == (25, 3)
    np.testing.assert_allclose(probabilities, trainer.model(x).numpy(), rtol=1e-5, atol=1e-6)
    result = trainer.evaluate((x, y))
    cross_entropy = -np.log(probabilities[np.arange(25), y]).mean()
    np.testing.assert_allclose(result["loss"], cross_entropy, rtol=1e-5)
    np.testing.assert_allclose(result["accuracy"], (probabilities.argmax(1) == y).mean(), rtol=1e-6)


def test_dict_features_with_padding_batch_fn_and_a_progress_bar(capsys, caplog):
    lengths = [3, 1, 4, 2, 5, 2, 3, 1, 4, 2, 3]
    rng = np.random.default_rng(0)
    examples = [({"tokens": rng.integers(1, 20, n).astype("int32"), "extra": rng.normal(size=2).astype("float32")},
                 np.int32(n % 2)) for n in lengths]
    spec = ({"tokens": tf.TensorSpec([None], tf.int32), "extra": tf.TensorSpec([2], tf.float32)},
            tf.TensorSpec([], tf.int32))
    dataset = tf.data.Dataset.from_generator(lambda: iter(examples), output_signature=spec)
    batch_sizes = []

    def batch_fn(ds, n):
        batch_sizes.append(n)
        return ds.padded_batch(n)

    def build():
        tokens = keras.Input((None,), dtype="int32", name="tokens")
        extra = keras.Input((2,), name="extra")
        pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(20, 4, mask_zero=True)(tokens))
        hidden = keras.layers.Concatenate()([pooled, extra])
        return keras.Model({"tokens": tokens, "extra": extra}, keras.layers.Dense(2, activation="softmax")(hidden))

    config = TrainerConfig(optimizer="adam", optimizer_kwargs={"learning_rate": 0.01}, global_batch_size=4,
                           epochs=2, verbose=1, log_every_steps=1)
    trainer = Trainer(build, config, strategy=make_strategy(num_cpu_replicas=2), batch_fn=batch_fn,
                      loss=keras.losses.SparseCategoricalCrossentropy())
    caplog.set_level("INFO", logger="absl")
    history = trainer.fit(dataset, validation_data=dataset)
    assert int(trainer.step) == 6 and 4 in batch_sizes
    # tf.data cannot tell the number of padded batches of a generator: the bar's target is counted, not "Unknown";
    # with the bar on, per-step values go to TensorBoard only and each epoch ends with one log line.
    bar = capsys.readouterr().out
    assert "3/3" in bar and "Unknown" not in bar and "examples_per_sec" in bar
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if m.startswith("step ")]
    assert len([m for m in messages if m.startswith("epoch ") and "examples/s" in m]) == 2
    assert np.isfinite(history["val_loss"]).all() and len(history["accuracy"]) == 2
    probabilities = trainer.predict(dataset)
    one_by_one = np.concatenate([trainer.model({k: v[None] for k, v in f.items()}).numpy() for f, _ in examples])
    np.testing.assert_allclose(probabilities, one_by_one, rtol=1e-5, atol=1e-6)


def dropout_mlp():
    return mlp(dropout=0.3)  # dropout makes the seed-generator state part of what must resume


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference run the resume tests must reproduce: 2 epochs of 4 steps, checkpoints every 3 steps."""
    trainer, history = fit(2, model_dir=str(tmp_path_factory.mktemp("full")), build=dropout_mlp,
                           checkpoint_every_steps=3)
    return weights(trainer), [v.numpy() for v in trainer.optimizer.variables], history


def test_resume_after_max_steps_equals_an_uninterrupted_run(tmp_path, uninterrupted):
    full_weights, full_slots, full_history = uninterrupted
    first, _ = fit(2, model_dir=str(tmp_path), build=dropout_mlp, checkpoint_every_steps=3, max_steps=6)
    assert int(first.step) == 6 and int(first.epoch) == 1 and int(first.step_in_epoch) == 2
    assert not np.allclose(weights(first)[0], full_weights[0])
    resumed, history = fit(2, model_dir=str(tmp_path), build=dropout_mlp, checkpoint_every_steps=3)
    assert int(resumed.step) == 8
    assert_same_weights(full_weights, weights(resumed), rtol=1e-6, atol=1e-7)
    assert_same_weights(full_slots, [v.numpy() for v in resumed.optimizer.variables], rtol=1e-6, atol=1e-7)
    for name in ("loss", "accuracy"):
        np.testing.assert_allclose(full_history[name], history[name], rtol=1e-6)


def test_seed_fixes_the_initial_weights():
    def initial(seed):
        return weights(Trainer(mlp, TrainerConfig(seed=seed), strategy=make_strategy(num_cpu_replicas=2)))
    assert_same_weights(initial(5), initial(5), rtol=0, atol=0)
    assert not np.allclose(initial(5)[0], initial(6)[0])


def test_input_pipelines_run_without_the_autotuning_thread(monkeypatch):
    """Deleting an iterator waits for tf.data's autotuning thread (idle seconds at every epoch end): it is off."""
    batched = tf.data.Dataset.range(8).batch(2)
    one = Trainer(mlp, TrainerConfig(), strategy=make_strategy(num_cpu_replicas=1))
    assert one._distribute(batched).options().autotune.enabled is False
    two = Trainer(mlp, TrainerConfig(), strategy=make_strategy(num_cpu_replicas=2))
    given = []
    monkeypatch.setattr(two.strategy, "experimental_distribute_dataset", given.append)
    two._distribute(batched)
    assert given[0].options().autotune.enabled is False
    assert (given[0].options().experimental_distribute.auto_shard_policy
            == tf.data.experimental.AutoShardPolicy.DATA)


_KILLED_RUN = """
import os, signal, sys
sys.path.insert(0, {root!r})
from nli_app.train.strategy import configure_cpu_replicas
configure_cpu_replicas(2)
import keras
sys.path.insert(0, {tests!r})
from test_trainer import dropout_mlp, fit

class Kill(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if self.model.optimizer.iterations.numpy() == 7:
            os.kill(os.getpid(), signal.SIGKILL)

fit(2, model_dir={model_dir!r}, build=dropout_mlp, checkpoint_every_steps=3, callbacks=[Kill()])
"""


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path, uninterrupted):
    script = _KILLED_RUN.format(root=ROOT, tests=os.path.join(ROOT, "tests"), model_dir=str(tmp_path))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    process = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True,
                             timeout=300)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-3000:]
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-6")
    resumed, _ = fit(2, model_dir=str(tmp_path), build=dropout_mlp, checkpoint_every_steps=3)
    assert int(resumed.step) == 8
    assert_same_weights(uninterrupted[0], weights(resumed), rtol=1e-6, atol=1e-7)


def read_scalars(directory):
    scalars = {}
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    return scalars


def test_tensorboard_scalars_and_learning_rate_schedule(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 3)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")
    schedule = StepDecay(0.1, decay_rate=0.5, decay_steps=2)
    config = TrainerConfig(optimizer=lambda: optimizers.SGD(learning_rate=schedule), global_batch_size=4,
                           epochs=2, shuffle=False, log_every_steps=1, model_dir=str(tmp_path), verbose=0)
    trainer = Trainer(linear, config, strategy=make_strategy(num_cpu_replicas=2),
                      loss=keras.losses.MeanSquaredError(), metrics=())
    w0, b0 = trainer.model.get_weights()
    history = trainer.fit((x, y), validation_data=(x, y))
    train = read_scalars(str(tmp_path / "logs" / "train"))
    assert {"loss", "learning_rate", "gradient_norm", "examples_per_sec"} <= set(train)
    assert sorted(train["loss"]) == list(range(1, 7))
    # The learning rate logged after step s is the schedule at the optimizer's step s: 0.1 * 0.5^floor(s/2).
    for step, value in train["learning_rate"].items():
        np.testing.assert_allclose(value, 0.1 * 0.5 ** (step // 2), rtol=1e-6)
    np.testing.assert_allclose(history["learning_rate"], [0.1 * 0.5 ** 1, 0.1 * 0.5 ** 3], rtol=1e-6)
    residual = x[:4] @ w0 + b0 - y[:4]
    gradient = np.concatenate([(2 / 4 * x[:4].T @ residual).ravel(), 2 / 4 * residual.sum(0)])
    np.testing.assert_allclose(train["gradient_norm"][1], np.linalg.norm(gradient), rtol=1e-5)
    assert all(v > 0 for v in train["examples_per_sec"].values())
    validation = read_scalars(str(tmp_path / "logs" / "validation"))
    assert sorted(validation["loss"]) == [3, 6]
    np.testing.assert_allclose(validation["loss"][6], history["val_loss"][1], rtol=1e-6)


class Recorder(keras.callbacks.Callback):
    def __init__(self, stop_after_epoch=None):
        super().__init__()
        self.events, self.stop_after_epoch = [], stop_after_epoch

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append((epoch, sorted(logs)))
        if epoch == self.stop_after_epoch:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def test_callbacks_see_epoch_logs_and_can_stop_training():
    recorder = Recorder(stop_after_epoch=1)
    config = TrainerConfig(optimizer="sgd", global_batch_size=9, epochs=5, verbose=0)
    trainer = Trainer(mlp, config, strategy=make_strategy(num_cpu_replicas=2),
                      loss=keras.losses.SparseCategoricalCrossentropy())
    data = classification_data(27)
    history = trainer.fit(data, validation_data=data, callbacks=[recorder])
    keys = ["accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]
    assert recorder.events == ["train_begin", "epoch_begin 0", (0, keys), "epoch_begin 1", (1, keys), "train_end"]
    assert len(history["loss"]) == 2 and int(trainer.step) == 6


def test_bad_inputs_raise_clear_errors():
    trainer = Trainer(mlp, TrainerConfig(global_batch_size=1, verbose=0), strategy=make_strategy(num_cpu_replicas=2))
    x, y = classification_data(6)
    with pytest.raises(ValueError, match="smaller than the 2 replicas"):
        trainer.fit((x, y))
    with pytest.raises(ValueError, match="different numbers of examples"):
        trainer.fit((x, y[:4]))
    with pytest.raises(ValueError, match=r"\(features, label\) pairs"):
        trainer.fit(tf.data.Dataset.from_tensor_slices(x))
    with pytest.raises(ValueError, match="outside strategy.scope"):
        Trainer(mlp, TrainerConfig(optimizer=keras.optimizers.SGD()), strategy=make_strategy(num_cpu_replicas=2))
    with pytest.raises(ValueError, match="LossScaleOptimizer"):
        Trainer(mlp, TrainerConfig(optimizer=lambda: keras.optimizers.LossScaleOptimizer(optimizers.SGD())),
                strategy=make_strategy(num_cpu_replicas=2))
    with pytest.raises(ValueError, match="global_batch_size"):
        TrainerConfig(global_batch_size=0)


def test_log_lines_end_with_the_time_left(caplog):
    """verbose=0: every interval's line ends with the run's ETA, counting down to 0 s at the last step."""
    x = np.arange(24, dtype="float32").reshape(12, 2) / 24
    y = (x.sum(1) > 0.5).astype("int32")
    config = TrainerConfig(optimizer="sgd", global_batch_size=4, epochs=2, verbose=0, log_every_steps=2)
    trainer = Trainer(lambda: keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")]),
                      config, strategy=make_strategy(num_cpu_replicas=2),
                      loss=keras.losses.SparseCategoricalCrossentropy())
    caplog.set_level("INFO", logger="absl")
    trainer.fit(tf.data.Dataset.from_tensor_slices((x, y)))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert [line.split()[1] for line in lines] == ["2", "4", "6"]
    assert all(re.search(r", eta (\d+m)?\d+s$", line) for line in lines) and lines[-1].endswith("eta 0s")


@pytest.mark.parametrize("steps, rate, text", [(0, 1.0, "0s"), (42, 1.0, "42s"), (370, 2.0, "3m05s"),
                                               (3720, 1.0, "1h02m"), (-5, 1.0, "0s")])
def test_eta_text(steps, rate, text):
    assert progress.eta_text(steps, rate) == text
