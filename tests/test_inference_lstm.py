"""The inference graph of ``Bidirectional(LSTM)`` layers gives Keras' outputs, and ESIM's with it gives today's."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from nli_app.nli import inference_lstm, sorted_inference
from nli_app.nli.models import esim

TINY = dict(vocab_size=30, embedding_dim=8, hidden_units=6)


def _sequences(batch, steps, features=5, seed=0, inner_padding=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, steps, features)).astype(np.float32)
    lengths = rng.integers(0, steps + 1, batch)  # all-padding rows too
    mask = np.arange(steps)[None, :] < lengths[:, None]
    if inner_padding:
        mask[0] = [True, False] * (steps // 2) + [True] * (steps % 2)
    return x, mask


@pytest.fixture(scope="module")
def bilstm():
    layer = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))
    layer.build((None, None, 5))
    rng = np.random.default_rng(1)
    layer.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in layer.get_weights()])
    return layer


@pytest.mark.parametrize("batch,steps", [(1, 1), (1, 7), (3, 6), (9, 11)])
def test_equals_the_keras_layer(bilstm, batch, steps):
    x, mask = _sequences(batch, steps, seed=batch * steps)
    expected = bilstm(x, mask=mask, training=False).numpy()
    np.testing.assert_allclose(inference_lstm.bidirectional_lstm(bilstm, x, mask).numpy(), expected,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inference_lstm.bidirectional_lstm(bilstm, x).numpy(),
                               bilstm(x, training=False).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("inner_padding", [False, True])
def test_fast_lstms_give_keras_outputs_for_any_mask(bilstm, inner_padding):
    x, mask = _sequences(4, 7, seed=5, inner_padding=inner_padding)
    assert bool(inference_lstm.is_right_padded(mask)) != inner_padding
    expected = bilstm(x, mask=mask, training=False).numpy()
    with inference_lstm.fast_lstms(bilstm):
        np.testing.assert_allclose(bilstm(x, mask=mask, training=False).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_traced_over_any_shape(bilstm):
    spec = (tf.TensorSpec([None, None, 5], tf.float32), tf.TensorSpec([None, None], tf.bool))
    traced = tf.function(lambda x, m: inference_lstm.bidirectional_lstm(bilstm, x, m), input_signature=spec)
    for batch, steps in ((2, 3), (5, 8)):
        x, mask = _sequences(batch, steps, seed=steps)
        np.testing.assert_allclose(traced(x, mask).numpy(), bilstm(x, mask=mask, training=False).numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_applies_only_to_configurations_it_reproduces(bilstm):
    assert inference_lstm.applies_to(bilstm)
    others = [keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True), merge_mode="sum"),
              keras.layers.Bidirectional(keras.layers.LSTM(4)),
              keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True, activation="relu")),
              keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True, use_bias=False)),
              keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True)),
              keras.layers.LSTM(4, return_sequences=True)]
    assert not any(inference_lstm.applies_to(layer) for layer in others)


def test_fast_lstms_replaces_inference_only_and_restores(monkeypatch):
    model = esim.build_esim(**TINY)
    encoder = model.get_layer("encoder")
    x, mask = _sequences(3, 6, features=TINY["embedding_dim"], seed=2)
    calls = []
    original = inference_lstm.bidirectional_lstm
    monkeypatch.setattr(inference_lstm, "bidirectional_lstm", lambda *args: calls.append(args) or original(*args))
    with inference_lstm.fast_lstms(model):
        with inference_lstm.fast_lstms(model):  # nested: the outer block still restores
            encoder(x, mask=mask, training=False)
        encoder(x, mask=mask, training=True)
        encoder(x, mask=mask, training=False)
    assert len(calls) == 2  # the two inference calls; training ran Keras' loop
    assert "call" not in vars(encoder) and "call" not in vars(model.get_layer("composition"))


def _pairs(size, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for side, longest in (("premise", 17), ("hypothesis", 9)):
        lengths = rng.integers(1, longest + 1, size)
        ids = np.zeros((size, longest + 2), np.int32)  # two all-padding columns
        for row, n in zip(ids, lengths):
            row[:n] = rng.integers(1, TINY["vocab_size"], n)
        out[side] = ids
    return out


@pytest.mark.parametrize("size", [1, 2, 16, 17, 64, 65])
def test_esim_predictions_equal_the_plain_call(size):
    keras.utils.set_random_seed(size)
    model = esim.build_esim(**TINY)
    batch = _pairs(size, seed=size)
    expected = model(batch, training=False).numpy()
    spec = {s: tf.TensorSpec([None, None], tf.int32) for s in sorted_inference.SIDES}
    predict = tf.function(lambda x: sorted_inference.predict(model, x), input_signature=[spec])
    np.testing.assert_allclose(predict(batch).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert predict({s: np.zeros((0, 5), np.int32) for s in sorted_inference.SIDES}).shape == (0, 3)


@pytest.mark.parametrize("size,fast", [(1, True), (inference_lstm.MAX_BATCH, True), (inference_lstm.MAX_BATCH + 1, False)])
def test_sorted_inference_uses_it_for_small_batches_only(monkeypatch, size, fast):
    model = esim.build_esim(**TINY)
    calls = []
    original = inference_lstm.bidirectional_lstm
    monkeypatch.setattr(inference_lstm, "bidirectional_lstm", lambda *args: calls.append(args) or original(*args))
    sorted_inference.predict(model, _pairs(size, seed=0))  # eagerly: only the branch taken runs
    assert len(calls) == (4 if fast else 0)  # encoder and composition, premise and hypothesis


@pytest.mark.parametrize("size", [1, 5])
def test_fused_kernels_are_the_stacked_kernels_and_predict_the_same(size):
    keras.utils.set_random_seed(size)
    model = esim.build_esim(**TINY)
    kernels = inference_lstm.FusedKernels(model)
    assert len(kernels.kernels) == 4 and not any(v.trainable for v in kernels.kernels)
    for name in ("encoder", "composition"):
        for lstm in (model.get_layer(name).forward_layer, model.get_layer(name).backward_layer):
            expected = np.concatenate([lstm.cell.kernel.numpy(), lstm.cell.recurrent_kernel.numpy()])
            np.testing.assert_array_equal(kernels.get(lstm.cell).numpy(), expected)
    batch = _pairs(size, seed=size)
    np.testing.assert_allclose(sorted_inference.predict(model, batch, kernels=kernels).numpy(),
                               model(batch, training=False).numpy(), rtol=1e-5, atol=1e-6)


def _concat_ops(model, **kwargs):
    """ConcatV2 ops in the traced inference graph, its cond branches included."""
    spec = {s: tf.TensorSpec([None, None], tf.int32) for s in sorted_inference.SIDES}
    graph = tf.function(lambda x: sorted_inference.predict(model, x, **kwargs), input_signature=[spec])
    graph_def = graph.get_concrete_function().graph.as_graph_def()
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    return sum(n.op == "ConcatV2" for n in nodes)


def test_kernels_are_stacked_once_a_trace_and_never_with_fused_kernels():
    model = esim.build_esim(**TINY)
    stacked, read = _concat_ops(model), _concat_ops(model, kernels=inference_lstm.FusedKernels(model))
    assert stacked - read == 4  # one per direction of the encoder and the composition, though each runs twice
