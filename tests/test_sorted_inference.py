"""Length-sorted sub-batch inference gives the plain call's outputs, in the input order, on any batch size."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from nli_app.nli import sorted_inference
from nli_app.nli.models import esim
from nli_app.train.strategy import make_strategy
from nli_app.train.trainer import Trainer, TrainerConfig

TINY = dict(vocab_size=30, embedding_dim=8, hidden_units=6)


@pytest.fixture(scope="module")
def model():
    return esim.build_esim(**TINY)


def _batch(size, extra_padding=0, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for side, longest in (("premise", 17), ("hypothesis", 9)):
        lengths = rng.integers(1, longest + 1, size)
        ids = np.zeros((size, longest + extra_padding), np.int32)
        for row, n in zip(ids, lengths):
            row[:n] = rng.integers(1, TINY["vocab_size"], n)
        out[side] = ids
    return out


@pytest.mark.parametrize("size,sub_batch", [(1, 4), (4, 4), (11, 4), (23, 5), (9, 64)])
def test_same_outputs_as_the_plain_call_in_the_input_order(model, size, sub_batch):
    batch = _batch(size, extra_padding=3, seed=size)
    expected = model(batch, training=False).numpy()
    got = sorted_inference.predict(model, batch, sub_batch=sub_batch).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_padding_inside_a_row_is_kept(model):
    batch = {"premise": np.array([[5, 0, 7, 0, 0], [5, 6, 0, 0, 0]], np.int32),
             "hypothesis": np.array([[4, 0, 0], [0, 4, 0]], np.int32)}
    np.testing.assert_allclose(sorted_inference.predict(model, batch, sub_batch=1).numpy(),
                               model(batch, training=False).numpy(), rtol=1e-5, atol=1e-6)


def test_an_empty_batch_has_empty_outputs(model):
    empty = {side: np.zeros((0, 4), np.int32) for side in sorted_inference.SIDES}
    assert sorted_inference.predict(model, empty).shape == (0, 3)
    traced = tf.function(lambda x: sorted_inference.predict(model, x))
    assert traced(empty).shape == (0, 3)


def test_traced_once_for_every_batch_shape(model):
    spec = {s: tf.TensorSpec([None, None], tf.int32) for s in sorted_inference.SIDES}
    predict = tf.function(lambda x: sorted_inference.predict(model, x, sub_batch=3), input_signature=[spec])
    for size in (1, 7, 12):
        batch = _batch(size, seed=size)
        np.testing.assert_allclose(predict(batch).numpy(), model(batch, training=False).numpy(),
                                   rtol=1e-5, atol=1e-6)
    assert len(predict.get_concrete_function().graph.inputs) >= 2
    assert predict.experimental_get_tracing_count() == 1


def test_sorting_cuts_padding_only_sub_batches_of_similar_length(model):
    """Each sub-batch is cut to its own longest sentences: the model sees no all-padding column."""
    seen = []

    def recording(inputs, training):
        seen.append({k: v for k, v in inputs.items()})
        return model(inputs, training=training)

    recording.outputs = model.outputs
    batch = {"premise": np.array([[5, 6, 7, 8, 0, 0], [5, 0, 0, 0, 0, 0], [5, 6, 7, 8, 9, 0], [5, 6, 0, 0, 0, 0]],
                                 np.int32),
             "hypothesis": np.array([[4, 0, 0], [4, 4, 0], [4, 0, 0], [4, 4, 4]], np.int32)}
    tf.config.run_functions_eagerly(True)
    try:
        sorted_inference.predict(recording, batch, sub_batch=2)
    finally:
        tf.config.run_functions_eagerly(False)
    shapes = [(tuple(c["premise"].shape), tuple(c["hypothesis"].shape)) for c in seen]
    assert shapes == [((2, 2), (2, 3)), ((2, 5), (2, 1))]


def test_other_models_are_called_as_they_are(model):
    calls = []

    def tree_like(inputs, training):
        calls.append(sorted(inputs))
        return tf.zeros([2, 3])

    inputs = {"premise": np.ones((2, 3), np.int32), "hypothesis": np.ones((2, 3), np.int32),
              "premise_parents": np.zeros((2, 5), np.int32)}
    assert sorted_inference.predict(tree_like, inputs).shape == (2, 3)
    assert calls == [["hypothesis", "premise", "premise_parents"]]
    with pytest.raises(ValueError, match="sub_batch"):
        sorted_inference.predict(model, _batch(2), sub_batch=0)


def test_trainer_predict_runs_through_predict_fn(model):
    traced = []

    def predict_fn(m, x):
        traced.append(sorted(x))
        return sorted_inference.predict(m, x, sub_batch=4)

    config = TrainerConfig(global_batch_size=8, eval_batch_size=16, epochs=1, verbose=0)
    trainer = Trainer(lambda: esim.build_esim(**TINY), config, strategy=make_strategy(),
                      loss=keras.losses.SparseCategoricalCrossentropy(), predict_fn=predict_fn)
    batch = _batch(21, seed=3)
    got = trainer.predict(batch)
    np.testing.assert_allclose(got, trainer.model(batch, training=False).numpy(), rtol=1e-5, atol=1e-6)
    assert traced and traced[0] == ["hypothesis", "premise"]
