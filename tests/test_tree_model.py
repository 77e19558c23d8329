"""Syntactic tree-LSTM NLI model and HIM: parameter count, padding invariance, a training step on real SNLI trees
through the project's tf.data pipeline, save/load, and HIM = mean of its members' probabilities."""
import numpy as np
import pytest

import keras
from nli_app.nli.data import dataset, snli, trees
from nli_app.nli.data import vocab as vocab_lib
from nli_app.nli.models import esim, him
from nli_app.nli.models.tree_model import build_tree_model, is_tree_model

DEV = snli.sample_path("dev")


def side_inputs(side, parses, offset=1):
    tokens = [trees.parse_tokens(p) for p in parses]
    width = max(len(t) for t in tokens) + 2
    ids = np.zeros((len(parses), width), np.int32)
    for i, t in enumerate(tokens):
        ids[i, :len(t) + 2] = [vocab_lib.BOS_ID] + [4 + (hash(w) % 20) for w in t] + [vocab_lib.EOS_ID]
    batch = trees.pad_tree_batch([trees.tree_features(p, t) for p, t in zip(parses, tokens)])
    return {side: ids, **{f"{side}_{k}": v for k, v in batch.items()}}


def pair_inputs(premises, hypotheses):
    return {**side_inputs("premise", premises), **side_inputs("hypothesis", hypotheses)}


PREMISES = ["( ( A dog ) ( ( runs fast ) . ) )", "( Hi )"]
HYPOTHESES = ["( ( The cat ) sleeps )", "( ( ( A b ) ( c d ) ) ( e f ) )"]


def test_parameter_count_matches_the_architecture():
    d, h = 7, 5
    model = build_tree_model(30, d, h)
    tree_lstm = lambda x: x * 4 * h + 2 * h * 5 * h + 4 * h  # noqa: E731  W [x,4h], U [2h,5h], b [4h]
    expected = (tree_lstm(d) + (4 * h * h + h) + tree_lstm(h)   # encoder, F, composition
                + (6 * h * h + h) + (3 * h + 3))                # MLP over [root; avg; max] x 2, classifier
    assert esim.count_trainable_parameters(model) == expected
    assert is_tree_model(model) and not is_tree_model(esim.build_esim(30, d, h))


def test_padding_and_batch_mates_change_nothing():
    model = build_tree_model(30, 6, 4, dropout=0.0)
    both = model(pair_inputs(PREMISES, HYPOTHESES)).numpy()
    for i in range(2):
        alone = model(pair_inputs(PREMISES[i:i + 1], HYPOTHESES[i:i + 1])).numpy()
        np.testing.assert_allclose(both[i], alone[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(both.sum(-1), 1.0, rtol=1e-6)


@pytest.mark.slow
def test_trains_a_step_on_real_snli_trees_and_saves(tmp_path):
    examples = snli.read_snli(DEV, limit=16).examples
    vocabulary = vocab_lib.Vocabulary.from_examples(examples)
    data = dataset.bucket_batch_fn(())(dataset.make_dataset(examples, vocabulary, with_trees=True), 8)
    features, labels = next(iter(data))
    model = build_tree_model(len(vocabulary), 8, 6, dropout=0.0)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    before = [w.numpy().copy() for w in model.trainable_weights]
    first = model.train_on_batch(features, labels)
    for _ in range(5):
        last = model.train_on_batch(features, labels)
    assert np.isfinite(first) and last < first
    assert all(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
    model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(restored(features).numpy(), model(features).numpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_him_averages_member_probabilities_with_full_binary_tree_member():
    keras.utils.set_random_seed(3)  # fixed weights: the two tree shapes must give visibly different outputs
    inputs = pair_inputs(PREMISES, HYPOTHESES)
    full = dict(inputs)
    for side, parses in (("premise", PREMISES), ("hypothesis", HYPOTHESES)):
        batch = trees.pad_tree_batch([trees.tree_features(None, trees.parse_tokens(p)) for p in parses])
        full.update({f"{side}_{k}": v for k, v in batch.items()})
    esim_model = esim.build_esim(30, 6, 4)
    tree_member = build_tree_model(30, 6, 4, name="tree_model")
    combined = him.build_him([esim_model, tree_member])
    assert sorted(t.name for t in combined.inputs) == sorted(inputs)
    for features in (inputs, full):  # HIM (syntactic trees) and Table 2's "ESIM + tree" (full binary trees)
        expected = (esim_model({k: features[k] for k in ("premise", "hypothesis")}).numpy()
                    + tree_member(features).numpy()) / 2
        np.testing.assert_allclose(combined(features).numpy(), expected, rtol=1e-5, atol=1e-7)
    difference = np.abs(combined(inputs).numpy() - combined(full).numpy()).max()
    assert difference > 1e-6, difference  # exactly 0 if the tree arrays were ignored; about 2e-5 at this seed
    with pytest.raises(ValueError, match="at least two"):
        him.build_him([esim_model])


def test_explainer_shares_weights_and_returns_node_attention_and_gate_norms():
    from nli_app.nli.models.tree_model import explainer
    model = build_tree_model(30, 6, 4)
    inputs = pair_inputs(PREMISES, HYPOTHESES)
    out = explainer(model)(inputs)
    np.testing.assert_allclose(out["probabilities"].numpy(), model(inputs).numpy(), rtol=1e-6)
    nodes_p, nodes_h = inputs["premise_height"].shape[1], inputs["hypothesis_height"].shape[1]
    attention = out["premise_attention"].numpy()
    assert attention.shape == (2, nodes_p, nodes_h)
    real_h = inputs["hypothesis_height"] >= 0
    np.testing.assert_allclose(attention.sum(-1)[inputs["premise_height"] >= 0], 1.0, rtol=1e-5)
    assert np.all(attention[~np.broadcast_to(real_h[:, None, :], attention.shape)] == 0)
    norms = out["hypothesis_gate_norms"].numpy()
    assert norms.shape == (2, nodes_h) and np.all(norms[real_h] > 0) and np.all(norms[~real_h] == 0)
