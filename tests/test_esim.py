"""ESIM (Chen et al. 2017, eq. 1-21): parameter count, masking, attention/pooling/gates vs numpy, ablations."""
import keras
import numpy as np
import pytest

from nli_app.nli.models import esim

TINY = dict(vocab_size=30, embedding_dim=8, hidden_units=6)


def _batch(lengths_p=(5, 3), lengths_h=(4, 6), pad=0, seed=0):
    rng = np.random.default_rng(seed)

    def ids(lengths):
        out = np.zeros((len(lengths), max(lengths) + pad), np.int32)
        for row, n in zip(out, lengths):
            row[:n] = rng.integers(1, TINY["vocab_size"], n)
        return out

    return {"premise": ids(lengths_p), "hypothesis": ids(lengths_h)}


def _pad_more(batch, extra):
    return {k: np.pad(v, ((0, 0), (0, extra))) for k, v in batch.items()}


def test_paper_parameter_count():
    model = esim.build_esim(vocab_size=100)
    assert esim.count_trainable_parameters(model) == 4_326_303
    frozen = esim.build_esim(vocab_size=100, embedding_dim=20, hidden_units=10, trainable_embeddings=False)
    assert sum(int(np.prod(v.shape)) for v in frozen.trainable_weights) == esim.count_trainable_parameters(frozen)


def test_embeddings_are_loaded():
    matrix = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    model = esim.build_esim(**TINY, embeddings=matrix)
    np.testing.assert_array_equal(model.get_layer("embedding").embeddings.numpy(), matrix)
    with pytest.raises(ValueError, match="embeddings shape"):
        esim.build_esim(**TINY, embeddings=matrix[:, :4])


@pytest.mark.parametrize("ablation", [None, "ffn_encoding,ffn_inference", "no_avg_max"])
def test_extra_padding_changes_nothing(ablation):
    model = esim.build_esim(**TINY, ablation=ablation)
    explain = esim.explainer(model)
    batch = _batch()
    base, padded = explain(batch), explain(_pad_more(batch, 7))
    np.testing.assert_allclose(padded["probabilities"], base["probabilities"], rtol=1e-5, atol=1e-6)
    lp, lh = batch["premise"].shape[1], batch["hypothesis"].shape[1]
    np.testing.assert_allclose(padded["premise_attention"][:, :lp, :lh], base["premise_attention"], atol=1e-6)
    assert not np.asarray(padded["premise_attention"])[:, :, lh:].any()  # padding gets exactly zero weight
    if "premise_gate_norms" in base:
        np.testing.assert_allclose(padded["premise_gate_norms"][:, :lp], base["premise_gate_norms"], atol=1e-6)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_soft_alignment_matches_numpy_eq_11_to_13():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 5, 4)).astype(np.float32), rng.normal(size=(2, 3, 4)).astype(np.float32)
    la, lb = [5, 2], [3, 1]
    mask_a = np.arange(5)[None] < np.array(la)[:, None]
    mask_b = np.arange(3)[None] < np.array(lb)[:, None]
    a_t, b_t, att_a, att_b = [np.asarray(t) for t in esim.SoftAlignment()([a, b, mask_a, mask_b])]
    for k in range(2):
        ak, bk = a[k, :la[k]], b[k, :lb[k]]
        e = ak @ bk.T                                                        # eq. 11
        np.testing.assert_allclose(att_a[k, :la[k], :lb[k]], _softmax(e, 1), rtol=1e-5)
        np.testing.assert_allclose(a_t[k, :la[k]], _softmax(e, 1) @ bk, rtol=1e-5, atol=1e-6)    # eq. 12
        np.testing.assert_allclose(b_t[k, :lb[k]], _softmax(e, 0).T @ ak, rtol=1e-5, atol=1e-6)  # eq. 13
        assert not a_t[k, la[k]:].any() and not b_t[k, lb[k]:].any()
        assert not att_a[k, :, lb[k]:].any() and not att_b[k, :, la[k]:].any()
    a_t0, b_t0, _, _ = esim.SoftAlignment(use_premise_attention=False)([a, b, mask_a, mask_b])
    assert not np.asarray(a_t0).any()
    np.testing.assert_allclose(b_t0, b_t, atol=1e-6)


def test_enhancement_and_pooling_match_numpy():
    rng = np.random.default_rng(2)
    x, xt = rng.normal(size=(2, 4, 3)).astype(np.float32), rng.normal(size=(2, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(esim.Enhancement()([x, xt]), np.concatenate([x, xt, x - xt, x * xt], -1), rtol=1e-6)
    np.testing.assert_allclose(esim.Enhancement(False)([x, xt]), np.concatenate([x, xt], -1))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    pooled = np.asarray(esim.MaskedPooling()([x, mask]))
    summed = np.asarray(esim.MaskedPooling("sum")([x, mask]))
    for k in range(2):
        valid = x[k][mask[k]]
        np.testing.assert_allclose(pooled[k], np.concatenate([valid.mean(0), valid.max(0)]), rtol=1e-5)
        np.testing.assert_allclose(summed[k], valid.sum(0), rtol=1e-5)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _numpy_lstm(x, kernel, recurrent, bias):
    """Keras LSTM (gates i, f, c, o) over one unpadded sequence; returns outputs and input gates."""
    units = recurrent.shape[0]
    h, c, outputs, gates = np.zeros(units), np.zeros(units), [], []
    for xt in x:
        z = xt @ kernel + h @ recurrent + bias
        i, f, g, o = (z[j * units:(j + 1) * units] for j in range(4))
        i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
        c = f * c + i * g
        h = o * np.tanh(c)
        outputs.append(h), gates.append(i)
    return np.array(outputs), np.array(gates)


def test_input_gate_norms_match_numpy_lstm():
    rng = np.random.default_rng(3)
    bilstm = keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True))
    x = rng.normal(size=(2, 6, 4)).astype(np.float32)
    mask = np.arange(6)[None] < np.array([[6], [4]])
    h = bilstm(x, mask=mask)
    norms = np.asarray(esim.InputGateNorms(bilstm)([x, h, mask]))
    fwd, bwd = bilstm.forward_layer.cell, bilstm.backward_layer.cell
    for k, n in enumerate((6, 4)):
        hf, gf = _numpy_lstm(x[k, :n], *(w.numpy() for w in fwd.weights))
        hb, gb = _numpy_lstm(x[k, :n][::-1], *(w.numpy() for w in bwd.weights))
        np.testing.assert_allclose(np.asarray(h)[k, :n], np.concatenate([hf, hb[::-1]], -1), atol=1e-5)
        expected = np.sqrt((gf ** 2).sum(-1) + (gb[::-1] ** 2).sum(-1))
        np.testing.assert_allclose(norms[k, :n], expected, rtol=1e-5)
        assert not norms[k, n:].any()


@pytest.mark.parametrize("ablation", esim.ABLATIONS)
def test_each_ablation_builds_and_trains_one_step(ablation):
    import optimizers
    model = esim.build_esim(**TINY, ablation=ablation)
    model.compile(optimizer=optimizers.get("adam", learning_rate=1e-2, global_clipnorm=10.0),
                  loss="sparse_categorical_crossentropy", run_eagerly=True)  # tracing an LSTM step is slow
    before = [w.numpy().copy() for w in model.trainable_weights]
    batch, labels = _batch(), np.array([0, 2], np.int32)
    loss = model.train_on_batch(batch, labels)
    assert np.isfinite(loss)
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    assert all(changed[1:])  # every non-embedding weight moved (the embedding only on the rows used)
    out = esim.explainer(model)(batch)
    np.testing.assert_allclose(np.asarray(out["probabilities"]).sum(-1), 1, rtol=1e-5)
    assert ("premise_gate_norms" in out) == (ablation != "ffn_inference")


def test_unknown_ablation_is_rejected():
    with pytest.raises(ValueError, match="unknown ESIM ablation"):
        esim.build_esim(**TINY, ablation="no_attention")


def test_save_load_round_trip(tmp_path):
    model = esim.build_esim(**TINY, ablation="no_diff_prod,no_hypothesis_attention")
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    batch = _batch()
    np.testing.assert_allclose(loaded(batch), model(batch), rtol=1e-6)
    assert loaded.get_layer("alignment").use_hypothesis_attention is False
    np.testing.assert_allclose(esim.explainer(loaded)(batch)["premise_attention"],
                               esim.explainer(model)(batch)["premise_attention"], rtol=1e-6)
