"""The survey's training strategies: early stopping, reduce-on-plateau (with reload), shuffling and curricula."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import optimizers
from nli_app.train import data_order
from nli_app.train.early_stopping import EarlyStopping
from nli_app.train.plateau import ReduceOnPlateau
from nli_app.train.strategy import make_strategy
from nli_app.train.trainer import Trainer, TrainerConfig
from test_trainer import linear, numpy_sgd


def model_with_optimizer(learning_rate=0.4):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.optimizer = optimizers.SGD(learning_rate=learning_rate)
    model.optimizer.build(model.trainable_variables)
    model.stop_training = False
    return model


def run_epochs(callback, model, values, name):
    """Feeds `values` as successive epoch logs; before epoch e the weights are all e. Returns lr and weights seen."""
    callback.set_model(model)
    learning_rates, kernels = [], []
    for epoch, value in enumerate(values):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        callback.on_epoch_end(epoch, {name: value})
        learning_rates.append(round(float(model.optimizer.learning_rate.numpy()), 6))
        kernels.append(float(model.get_weights()[0][0, 0]))
        if model.stop_training:
            break
    return learning_rates, kernels


def test_plateau_halves_and_reloads_the_best_weights():
    callback = ReduceOnPlateau("val_accuracy", factor=0.5, patience=1, reload_best_weights=True)
    learning_rates, kernels = run_epochs(callback, model_with_optimizer(), [0.5, 0.6, 0.55, 0.58, 0.7, 0.65],
                                         "val_accuracy")
    assert learning_rates == [0.4, 0.4, 0.2, 0.1, 0.1, 0.05]
    assert kernels == [0, 1, 1, 1, 4, 4]  # reloaded from the best epoch (1, then 4) on each reduction


def test_plateau_patience_and_floor_without_reload():
    callback = ReduceOnPlateau("val_loss", factor=0.5, patience=2, min_learning_rate=0.15)
    learning_rates, kernels = run_epochs(callback, model_with_optimizer(), [1.0, 1.1, 1.2, 0.9, 0.95, 0.96, 0.97,
                                                                             0.98], "val_loss")
    assert learning_rates == [0.4, 0.4, 0.2, 0.2, 0.2, 0.15, 0.15, 0.15]
    assert kernels == list(range(8))
    with pytest.raises(ValueError, match="factor"):
        ReduceOnPlateau(factor=1.5)


def test_early_stopping_with_patience_restores_the_best_weights():
    model = model_with_optimizer()
    callback = EarlyStopping("val_loss", patience=2, restore_best_weights=True)
    _, kernels = run_epochs(callback, model, [1.0, 0.8, 0.85, 0.9, 0.7], "val_loss")
    assert kernels == [0, 1, 2, 3] and callback.stopped_epoch == 3
    callback.on_train_end()
    assert model.get_weights()[0][0, 0] == 1
    with pytest.raises(ValueError, match="'val_loss' is not in the epoch logs"):
        callback.on_epoch_end(4, {"loss": 1.0})


def regression_data(n=12):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-1.0], [2.0]])).astype("float32")


def sgd_trainer(model_dir=None, epochs=3, **kwargs):
    config = TrainerConfig(optimizer="sgd", optimizer_kwargs={"learning_rate": 0.05}, global_batch_size=4,
                           epochs=epochs, shuffle=False, verbose=0, model_dir=model_dir)
    return Trainer(linear, config, strategy=make_strategy(num_cpu_replicas=2), loss=keras.losses.MeanSquaredError(),
                   metrics=(), **kwargs)


def test_plateau_in_the_trainer_reloads_and_early_stopping_state_is_checkpointed(tmp_path):
    x, y = regression_data()
    trainer = sgd_trainer(str(tmp_path))
    w0, b0 = [np.array(v, np.float64) for v in trainer.model.get_weights()]
    # The training loss falls every epoch, so with mode="max" epoch 0 stays the best: epochs 1 and 2 each halve
    # the learning rate and go back to the weights after epoch 0.
    plateau = ReduceOnPlateau("loss", mode="max", patience=1, reload_best_weights=True)
    stopping = EarlyStopping("loss", mode="max", patience=5)
    history = trainer.fit((x, y), callbacks=[plateau, stopping])
    assert history["learning_rate"] == pytest.approx([0.05, 0.05, 0.025])
    assert float(trainer.optimizer.learning_rate.numpy()) == pytest.approx(0.0125)
    w, b = numpy_sgd(w0, b0, x.astype(np.float64), y.astype(np.float64), 4, 0.05, 1)
    np.testing.assert_allclose(trainer.model.get_weights()[0], w, rtol=1e-5, atol=1e-6)
    restored = EarlyStopping("loss", mode="max", patience=5)
    sgd_trainer(str(tmp_path)).restore([plateau, restored])
    assert float(restored.monitor.best.numpy()) == pytest.approx(history["loss"][0])
    assert int(restored.monitor.wait.numpy()) == 2


def test_trainer_follows_a_curriculum_order():
    x, y = regression_data()
    difficulty = np.abs(y[:, 0])
    trainer = sgd_trainer(epochs=2, data_order=data_order.Curriculum(lambda features, label: tf.abs(label[0])))
    w0, b0 = [np.array(v, np.float64) for v in trainer.model.get_weights()]
    trainer.fit((x, y))
    order = np.argsort(difficulty, kind="stable")
    w, b = numpy_sgd(w0, b0, x[order].astype(np.float64), y[order].astype(np.float64), 4, 0.05, 2)
    np.testing.assert_allclose(trainer.model.get_weights()[0], w, rtol=1e-5, atol=1e-6)


def elements(dataset):
    return [int(i) for _, labels in dataset.batch(1024) for i in labels.numpy()]


def indexed(n):
    return tf.data.Dataset.from_tensor_slices(({"f": np.arange(n, dtype=np.float32)}, np.arange(n)))


def test_shuffle_is_a_new_seeded_permutation_each_epoch():
    shuffle = data_order.Shuffle()
    epoch0, again, epoch1 = (elements(shuffle(indexed(20), e, seed=7)) for e in (0, 0, 1))
    assert sorted(epoch0) == list(range(20)) and epoch0 == again and epoch0 != epoch1
    assert elements(data_order.InOrder()(indexed(5), 3, 7)) == [0, 1, 2, 3, 4]


def test_curriculum_sorts_easy_to_hard_stably():
    keys = np.array([3.0, 1.0, 2.0, 1.0, 0.0])
    dataset = tf.data.Dataset.from_tensor_slices(({"key": keys}, np.arange(5)))
    curriculum = data_order.Curriculum(lambda features, label: features["key"])
    assert elements(curriculum(dataset, 0, 0)) == [4, 1, 3, 2, 0]
    assert elements(curriculum(dataset, 5, 1)) == [4, 1, 3, 2, 0]


def test_curriculum_keeps_variable_length_examples():
    rows = [[5, 6, 7], [1], [2, 3]]
    dataset = tf.data.Dataset.from_generator(lambda: iter((np.array(r, np.int32), np.int32(i))
                                                          for i, r in enumerate(rows)),
                                             output_signature=(tf.TensorSpec([None], tf.int32),
                                                               tf.TensorSpec([], tf.int32)))
    ordered = data_order.Curriculum(lambda tokens, label: tf.size(tokens))(dataset, 0, 0)
    assert [list(t.numpy()) for t, _ in ordered] == [[1], [2, 3], [5, 6, 7]]


def test_mixed_curriculum_naive_mix_and_combined():
    key = lambda features, label: features["f"]  # noqa: E731 - example i has difficulty i
    naive = data_order.MixedCurriculum(key, num_levels=3, epochs_per_level=1, naive_fraction=1.0)
    assert set(elements(naive(indexed(6), 0, 0))) <= {0, 1}
    assert set(elements(naive(indexed(6), 1, 0))) <= {2, 3}
    assert set(elements(naive(indexed(6), 4, 0))) <= {4, 5}
    slow = data_order.MixedCurriculum(key, num_levels=3, epochs_per_level=2, naive_fraction=1.0)
    assert set(elements(slow(indexed(6), 1, 0))) <= {0, 1}
    # Combined at level 1 of 3: a draw is from level 1 with probability 1/2 + 1/2 * 1/3 = 2/3.
    combined = data_order.MixedCurriculum(key, num_levels=3, naive_fraction=0.5)
    draws = np.array(elements(combined(indexed(3000), 0, 1)))
    assert len(draws) == 3000 and abs((draws < 1000).mean() - 2 / 3) < 0.03
    assert (draws >= 2000).any() and elements(combined(indexed(3000), 0, 1))[:50] == list(draws[:50])
    mix = data_order.MixedCurriculum(key, num_levels=3, naive_fraction=0.0)
    levels = np.bincount(np.array(elements(mix(indexed(3000), 0, 2))) // 1000, minlength=3) / 3000
    np.testing.assert_allclose(levels, 1 / 3, atol=0.03)
    with pytest.raises(ValueError, match="cannot fill 3 difficulty levels"):
        naive(indexed(2), 0, 0)
    with pytest.raises(ValueError, match="one scalar per example"):
        data_order.Curriculum(lambda features, label: tf.stack([label, label]))(indexed(4), 0, 0)
