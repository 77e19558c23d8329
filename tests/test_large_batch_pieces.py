"""Pieces of the large-batch experiments: Appendix C model, parametric paths, BatchNorm recalibration, stopping,
augmentation and the remedies' trainers."""
import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from nli_app.large_batch import perf_model
from nli_app.large_batch.data import mnist
from nli_app.large_batch.data.splits import Splits
from nli_app.large_batch.evaluation import evaluate, recalibrate_batchnorm
from nli_app.large_batch.experiments import parametric
from nli_app.large_batch.study import (SharpnessSettings, Study, TargetAccuracyStop, loss_plateau_stop,
                                       regime_batch_sizes)
from nli_app.train.trainer import TrainerConfig


def test_perf_model_against_hand_computed_numbers():
    # The paper's example: f_s(P) = 0.2, B_s / B_l = 0.1 -> LB must take at most half the iterations.
    assert perf_model.max_iteration_ratio(256, 2560, 0.2) == pytest.approx(0.5)
    # SB: 1000 its x 256 / (64 x 0.2) = 20000; LB: 400 its x 2560 / 64 = 16000.
    c = perf_model.compare(1000, 400, 256, 2560, 64, 0.2)
    assert (c.sb_time, c.lb_time, c.speedup, c.lb_wins) == (pytest.approx(20000), pytest.approx(16000),
                                                              pytest.approx(1.25), True)
    assert not perf_model.compare(1000, 600, 256, 2560, 64, 0.2).lb_wins  # 24000 > 20000
    rows = perf_model.table((0.1,), (0.2, 1.0))
    assert [r["max_iteration_ratio"] for r in rows] == [pytest.approx(0.5), pytest.approx(0.1)]
    assert "0.5" in perf_model.format_table(rows)
    with pytest.raises(ValueError, match="processors < large_batch"):
        perf_model.compare(10, 5, 32, 64, 64, 0.5)
    with pytest.raises(ValueError, match="efficiency"):
        perf_model.max_iteration_ratio(1, 10, 1.5)


def _softmax_model(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])


def _numpy_loss_accuracy(w, b, x, y):
    logits = x @ w + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(y)), y])), np.mean(p.argmax(1) == y)


def _splits():
    rng = np.random.default_rng(0)
    return Splits(rng.normal(size=(40, 5)).astype(np.float32), rng.integers(0, 3, 40),
                  rng.normal(size=(20, 5)).astype(np.float32), rng.integers(0, 3, 20), 3, "test")


@pytest.mark.parametrize("path", parametric.PATHS)
def test_interpolation_endpoints_and_midpoint(path):
    splits = _splits()
    ws, wl = _softmax_model(0).get_weights(), _softmax_model(1).get_weights()
    curve = parametric.interpolate(_softmax_model(2), ws, wl, splits, alphas=[0.0, 0.5, 1.0], path=path)
    for alpha, weights in ((0.0, ws), (1.0, wl)):
        i = curve["alpha"].index(alpha)
        loss, acc = _numpy_loss_accuracy(*weights, splits.x_test, splits.y_test)
        assert curve["test_loss"][i] == pytest.approx(loss, rel=1e-5)
        assert curve["test_accuracy"][i] == pytest.approx(acc)
        assert curve["train_loss"][i] == pytest.approx(_numpy_loss_accuracy(*weights, splits.x_train,
                                                                           splits.y_train)[0], rel=1e-5)
    c_l, c_s = (0.5, 0.5) if path == "linear" else (np.sin(np.pi / 4), np.cos(np.pi / 4))
    mid = [c_l * l_ + c_s * s_ for s_, l_ in zip(ws, wl)]
    assert curve["train_loss"][1] == pytest.approx(_numpy_loss_accuracy(*mid, splits.x_train, splits.y_train)[0],
                                                   rel=1e-5)
    assert len(parametric.interpolate(_softmax_model(2), ws, wl, splits)["alpha"]) == 25
    with pytest.raises(ValueError, match="path"):
        parametric.coefficients(0.5, "spiral")


def test_recalibrate_batchnorm_sets_population_statistics():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d"),
                              keras.layers.BatchNormalization(name="bn"), keras.layers.Dropout(0.5),
                              keras.layers.Dense(2, activation="softmax")])
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    recalibrate_batchnorm(model, x)
    w, b = model.get_layer("d").get_weights()
    pre = x @ w + b
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), pre.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), pre.var(0), rtol=1e-4, atol=1e-6)
    assert bn.momentum == 0.99 and model.layers[2].rate == 0.5  # restored
    result = evaluate(model, x, np.zeros(50, np.int64), batch_size=7)
    assert 0 <= result["accuracy"] <= 1 and result["loss"] > 0


def test_loss_plateau_stop():
    stop = loss_plateau_stop(2)
    stop.set_model(_softmax_model(0))
    stop.model.stop_training = False
    for epoch, loss in enumerate([1.0, 0.5, 0.6, 0.4, 0.45]):
        stop.on_epoch_end(epoch, {"loss": loss})
        assert not stop.model.stop_training
    stop.on_epoch_end(5, {"loss": 0.41})
    assert stop.model.stop_training


def test_target_accuracy_stop():
    measured = iter([0.5, 0.98, 0.9899, 0.99])
    stop = TargetAccuracyStop(0.99, lambda model: next(measured))
    stop.set_model(_softmax_model(0))
    stop.model.stop_training = False
    for epoch in range(3):
        logs = {"loss": 0.1, "accuracy": 1.0}  # the running accuracy is not what it looks at
        stop.on_epoch_end(epoch, logs)
        assert not stop.model.stop_training
    stop.on_epoch_end(3, logs)
    assert stop.model.stop_training and stop.measured == [0.5, 0.98, 0.9899, 0.99]
    with pytest.raises(ValueError, match="target training accuracy"):
        TargetAccuracyStop(99, None)


def test_study_run_stops_at_the_target_training_accuracy(tmp_path):
    splits = mnist.load(mnist.SAMPLE_PATH).subset(256, 32)
    config = TrainerConfig(epochs=5, verbose=0, log_every_steps=10 ** 6, checkpoint_every_steps=0)
    study = Study(splits, "F1", str(tmp_path), config, SharpnessSettings(), patience=None,
                  target_train_accuracy=0.01)  # reached by the first epoch
    run = study.train("b64_seed0", 64)
    assert len(run.history["accuracy"]) == 1
    # What it looks at is the training accuracy that the finished run reports.
    measured = study.training_accuracy(study.scratch_model(run.weights))
    assert measured == study.accuracy(run.weights)["train_accuracy"] >= 0.01


def test_regime_batch_sizes():
    assert regime_batch_sizes(60000) == {"SB": 256, "LB": 6000}
    assert regime_batch_sizes(1497) == {"SB": 23, "LB": 149}
    with pytest.raises(ValueError, match="SB batch"):
        regime_batch_sizes(100, sb=50, lb=20)


def test_augmentation_shifts_whole_images():
    from nli_app.large_batch.data.augmentation import augment_fn, image_shape_of
    assert image_shape_of((64,)) == (8, 8, 1) and image_shape_of((32, 32, 3)) == (32, 32, 3)
    with pytest.raises(ValueError, match="square"):
        image_shape_of((60,))
    image = np.zeros((8, 8), np.float32)
    image[3:5, 3:5] = 1.0
    x = tf.constant(image.reshape(64))
    identity = augment_fn((64,), max_shift=0)(x, 1)[0].numpy()
    np.testing.assert_array_equal(identity, image.reshape(64))
    shifted = [augment_fn((64,), max_shift=2, seed=s)(x, 1)[0].numpy().reshape(8, 8) for s in range(6)]
    for out in shifted:  # the 2x2 blob stays whole (it is 3 pixels from every border), only moved
        assert out.sum() == 4.0
        rows, cols = np.nonzero(out)
        assert rows.max() - rows.min() == 1 and cols.max() - cols.min() == 1
    assert len({tuple(np.argwhere(o)[0]) for o in shifted}) > 1


def _train(trainer_cls, seed=0, steps=6, batch_fn=None, optimizer="sgd", lr=0.1):
    from nli_app.train.trainer import TrainerConfig
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(32, 5)).astype(np.float32), rng.integers(0, 3, 32)
    config = TrainerConfig(optimizer=optimizer, optimizer_kwargs={"learning_rate": lr}, global_batch_size=8,
                           epochs=10, max_steps=steps, seed=0, shuffle=False, verbose=0)
    kwargs = {"batch_fn": batch_fn} if batch_fn else {}
    trainer = trainer_cls(lambda: _softmax_model(0), config, strategy=tf.distribute.get_strategy(),
                          loss=keras.losses.SparseCategoricalCrossentropy(), **kwargs)
    start = np.concatenate([w.ravel() for w in trainer.model.get_weights()])
    trainer.fit((x, y))
    return start, np.concatenate([w.ravel() for w in trainer.model.get_weights()])


@pytest.fixture(scope="module")
def plain_run():
    """(start, end) weights of a plain Trainer run, the reference of both remedies' tests."""
    from nli_app.train.trainer import Trainer
    return _train(Trainer)


def test_conservative_training_proximal_term(plain_run):
    from nli_app.large_batch.conservative import ConservativeTrainer, repeating_batch_fn

    def conservative(lam, inner_steps):
        return functools.partial(ConservativeTrainer, proximal_lambda=lam, inner_steps=inner_steps)

    plain_start, plain_end = plain_run
    # inner_steps = 1: the anchor is the current point at every step, the proximal gradient is 0 -> plain SGD.
    _, same = _train(conservative(100.0, 1), batch_fn=repeating_batch_fn(1))
    np.testing.assert_allclose(same, plain_end, rtol=1e-5, atol=1e-6)
    # A strong pull back to x_k over 3 inner steps on each batch keeps the iterate much closer to the start.
    _, pulled = _train(conservative(8.0, 3), batch_fn=repeating_batch_fn(3), steps=18)
    _, free = _train(conservative(0.0, 3), batch_fn=repeating_batch_fn(3), steps=18)
    assert np.linalg.norm(pulled - plain_start) < 0.6 * np.linalg.norm(free - plain_start)


def test_adversarial_training(plain_run):
    from nli_app.large_batch.adversarial import AdversarialTrainer
    _, plain = plain_run
    _, zero_eps = _train(functools.partial(AdversarialTrainer, epsilon=0.0))  # x_adv = x: the clean loss
    np.testing.assert_allclose(zero_eps, plain, rtol=1e-5, atol=1e-6)
    _, adv = _train(functools.partial(AdversarialTrainer, epsilon=0.5))
    assert np.max(np.abs(adv - plain)) > 1e-3


def test_trial_statistics_use_the_sample_std_and_the_figure_has_a_log_axis(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    from nli_app.large_batch.experiments import plots, sb_vs_lb
    stats = sb_vs_lb._stats  # pylint: disable=protected-access
    assert stats([1.0, 2.0, 4.0])["mean"] == pytest.approx(7 / 3)
    assert stats([1.0, 2.0, 4.0])["std"] == pytest.approx(np.std([1, 2, 4], ddof=1)) and stats([5.0])["std"] == 0.0
    summary = {"SB": {"test_accuracy": stats([0.97, 0.98]), "sharpness": stats([1.0, 3.0])},
               "LB": {"test_accuracy": stats([0.95, 0.96]), "sharpness": stats([200.0, 300.0])}}
    shown, original = {}, plt.Figure.savefig

    def savefig(fig, *args, **kwargs):
        shown["axes"] = fig.axes
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", savefig)
    plots.regimes(summary, str(tmp_path / "r.png"))
    acc, sharp = shown["axes"]
    assert sharp.get_yscale() == "log" and acc.get_yscale() == "linear"
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
