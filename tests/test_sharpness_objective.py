"""The sharpness objective's open choices (README: the scale of phi): mean vs sum, BatchNorm with moving vs batch
statistics, float32 vs float64, and x = trainable weights only — f(x) against a numpy transcription."""
import keras
import numpy as np
import pytest

from nli_app.sharpness import model_sharpness
from nli_app.sharpness.tf_objective import FlatObjective


def _model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((3,))
    h = keras.layers.Dense(4, name="dense")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.Dropout(0.5)(h)
    outputs = keras.layers.Dense(3, activation="softmax", name="out")(h)
    model = keras.Model(inputs, outputs)
    bn = model.get_layer("bn")
    bn.gamma.assign([1.5, 0.5, 1.0, 2.0])
    bn.beta.assign([0.1, -0.2, 0.3, 0.0])
    bn.moving_mean.assign([0.2, -0.1, 0.0, 0.4])
    bn.moving_variance.assign([0.5, 2.0, 1.0, 0.25])
    return model


def _numpy_loss(model, x, y, batch_size, batch_stats):
    """Per-example cross-entropy of the model in float64, BatchNorm on moving or per-batch statistics."""
    w, b = (np.asarray(v, np.float64) for v in model.get_layer("dense").get_weights())
    gamma, beta, mean, var = (np.asarray(v, np.float64) for v in model.get_layer("bn").get_weights())
    w2, b2 = (np.asarray(v, np.float64) for v in model.get_layer("out").get_weights())
    eps = model.get_layer("bn").epsilon
    losses = []
    for s in range(0, len(y), batch_size):
        h = x[s:s + batch_size].astype(np.float64) @ w + b
        m, v = (h.mean(0), h.var(0)) if batch_stats else (mean, var)
        h = np.maximum(gamma * (h - m) / np.sqrt(v + eps) + beta, 0) @ w2 + b2
        logp = h - h.max(1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(1, keepdims=True))
        losses.append(-logp[np.arange(len(h)), y[s:s + batch_size]])
    return np.concatenate(losses)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 3)).astype(np.float32), rng.integers(0, 3, 20)


def test_mean_and_sum_and_inference_batchnorm(data):
    model, (x, y) = _model(), data
    reference = _numpy_loss(model, x, y, 8, batch_stats=False)
    mean = model_sharpness(model, (x, y), 1e-3, max_iterations=1, batch_size=8)
    total = model_sharpness(model, (x, y), 1e-3, max_iterations=1, batch_size=8, reduction="sum")
    assert mean.f0 == pytest.approx(reference.mean(), rel=1e-5)
    assert total.f0 == pytest.approx(reference.sum(), rel=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        model_sharpness(model, (x, y), 1e-3, reduction="median")


def test_batch_statistics_leave_moving_statistics_and_dropout_alone(data):
    model, (x, y) = _model(), data
    before = [np.array(w) for w in model.get_weights()]
    for batch_size in (8, 20):  # f depends on the evaluation batch: each batch is normalised by its own statistics
        result = model_sharpness(model, (x, y), 1e-3, max_iterations=2, batch_size=batch_size, batchnorm="batch")
        reference = _numpy_loss(model, x, y, batch_size, batch_stats=True).mean()
        assert result.f0 == pytest.approx(reference, rel=1e-5)
    for got, want in zip(model.get_weights(), before):  # moving statistics untouched, weights restored
        np.testing.assert_array_equal(got, want)
    assert model.get_layer("bn").momentum == 0.99 and model.layers[4].rate == 0.5
    with pytest.raises(ValueError, match="batchnorm"):
        model_sharpness(model, (x, y), 1e-3, batchnorm="train")


def test_float64_objective_on_a_copy(data):
    model, (x, y) = _model(), data
    reference = _numpy_loss(model, x, y, 20, batch_stats=False).mean()
    f64 = model_sharpness(model, (x, y), 1e-3, max_iterations=1, dtype="float64")
    f32 = model_sharpness(model, (x, y), 1e-3, max_iterations=1)
    assert abs(f64.f0 - reference) < 1e-12 < abs(f32.f0 - reference)
    assert all(v.dtype == "float32" for v in model.weights)
    with pytest.raises(ValueError, match="dtype"):
        model_sharpness(model, (x, y), 1e-3, dtype="float16")


def test_x_is_the_trainable_weights_only(data):
    model, (x, y) = _model(), data
    objective = FlatObjective(model, [(x, y)], keras.losses.sparse_categorical_crossentropy)
    trainable = np.concatenate([np.ravel(v.numpy()) for v in model.trainable_variables])
    np.testing.assert_array_equal(objective.x0, trainable.astype(np.float64))
    assert objective.x0.size == 3 * 4 + 4 + 4 + 4 + 4 * 3 + 3  # dense, gamma, beta, out: no moving mean/variance
