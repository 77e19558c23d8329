"""lstm.BiLSTM is exactly keras.layers.Bidirectional(LSTM(return_sequences=True)) on the same weights: outputs and
gradients, with right padding, masks with holes, empty rows, no mask, and two sequences encoded in one call."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from nli_app.nli import lstm


@pytest.fixture(scope="module")
def layers():
    rng = np.random.default_rng(0)
    reference = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))
    reference.build((None, None, 5))
    reference.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in reference.get_weights()])
    fast = lstm.BiLSTM(4)
    fast.build((None, None, 5))
    fast.set_weights(reference.get_weights())
    return reference, fast


def _data(seed=1):
    rng = np.random.default_rng(seed)
    xa, xb = rng.normal(size=(4, 7, 5)).astype(np.float32), rng.normal(size=(4, 3, 5)).astype(np.float32)
    ma = np.arange(7)[None] < np.array([[7], [2], [0], [5]])  # an empty row too
    mb = np.arange(3)[None] < np.array([[1], [3], [2], [3]])
    return xa, xb, ma, mb


def test_same_outputs_as_keras_bidirectional_lstm(layers):
    reference, fast = layers
    xa, xb, ma, mb = _data()
    holes = np.random.default_rng(2).random(ma.shape) < 0.6
    for mask in (ma, holes, None):
        np.testing.assert_allclose(fast(xa, mask=mask), reference(xa, mask=mask), atol=1e-6)
    out_a, out_b = fast([xa, xb], mask=[ma, mb])  # both sentences, one loop
    np.testing.assert_allclose(out_a, reference(xa, mask=ma), atol=1e-6)
    np.testing.assert_allclose(out_b, reference(xb, mask=mb), atol=1e-6)
    assert not np.asarray(out_a)[~ma].any()  # zero output at masked steps, as Bidirectional's


def test_same_gradients(layers):
    reference, fast = layers
    xa, xb, ma, mb = (tf.constant(v) for v in _data(3))

    def gradients(layer, pair):
        with tf.GradientTape() as tape:
            tape.watch([xa, xb])
            outs = layer([xa, xb], mask=[ma, mb]) if pair else [layer(xa, mask=ma), layer(xb, mask=mb)]
            loss = sum(tf.reduce_sum(tf.sin(o)) for o in outs)
        return tape.gradient(loss, [xa, xb] + layer.trainable_weights)

    for got, want in zip(gradients(fast, True), gradients(reference, False)):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_config_round_trip_and_weight_layout(layers):
    _, fast = layers
    clone = lstm.BiLSTM.from_config(fast.get_config())
    clone.build((None, None, 5))
    assert [w.shape for w in clone.weights] == [w.shape for w in fast.weights]
    assert [w.name for w in clone.weights][:3] == ["forward_kernel", "forward_recurrent_kernel", "forward_bias"]
    np.testing.assert_array_equal(clone.weights[2].numpy()[4:8], 1)  # unit_forget_bias, as keras.layers.LSTM


def test_traced_with_unknown_lengths_and_the_static_shape_path(layers, monkeypatch):
    """Under tf.function with [None, None] inputs (the Trainer's signature), and with the path that backends with
    static shapes take (every row computed and masked), the outputs are the same."""
    reference, fast = layers
    xa, xb, ma, mb = _data(5)
    spec = [tf.TensorSpec([None, None, 5]), tf.TensorSpec([None, None, 5]), tf.TensorSpec([None, None], tf.bool),
            tf.TensorSpec([None, None], tf.bool)]
    traced = tf.function(lambda a, b, m, n: fast([a, b], mask=[m, n]), input_signature=spec)
    want = [reference(xa, mask=ma), reference(xb, mask=mb)]
    for got, expected in zip(traced(xa, xb, ma, mb), want):
        np.testing.assert_allclose(got, expected, atol=1e-6)
    monkeypatch.setattr(lstm.keras.backend, "backend", lambda: "jax")
    for got, expected in zip(fast([xa, xb], mask=[ma, mb]), want):
        np.testing.assert_allclose(got, expected, atol=1e-6)
