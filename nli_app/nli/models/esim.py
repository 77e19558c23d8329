"""ESIM: Enhanced Sequential Inference Model (Chen et al., 2017, Sec. 3.1-3.3), Keras layers and keras.ops only.

Input encoding (eq. 1-2): a shared BiLSTM over the word embeddings gives ā, b̄. Local inference (eq. 11-13): soft
alignment e_ij = āᵢᵀb̄ⱼ, ãᵢ = Σⱼ softmaxⱼ(e_ij) b̄ⱼ, b̃ⱼ = Σᵢ softmaxᵢ(e_ij) āᵢ, masked both ways; enhancement
(eq. 14-15) m = [ā; ã; ā−ã; ā⊙ã]. Inference composition (eq. 17-21): F = Dense 8h→h ReLU, a BiLSTM over F(m),
masked average and max pooling of both sentences v = [v_a,ave; v_a,max; v_b,ave; v_b,max], then an MLP with one
tanh hidden layer and a softmax over the three labels. Dropout 0.5 on the embeddings and the MLP's inputs.
With the paper's sizes (300-d embeddings, 300 units) there are 4,326,303 trainable parameters besides embeddings.

Ablations of Table 2 (``ABLATIONS``): ``no_avg_max`` (model 4: sum pooling), ``no_diff_prod`` (5: m = [ā; ã]),
``ffn_inference`` (6: a ReLU feed-forward layer instead of the composition BiLSTM), ``ffn_encoding`` (7: one instead
of the encoding BiLSTM), ``no_premise_attention`` (8: eq. 12 removed, ã = 0 so the premise is enhanced with nothing
from the hypothesis) and ``no_hypothesis_attention`` (9: eq. 13 removed, b̃ = 0). Every switch lives in a layer's
config, so a saved model rebuilds itself and ``explainer(model)`` works on any of them.

``explainer(model)`` shares the trained layers and also returns the attention weights of eq. 12-13 and the l2 norms
of the composition BiLSTM's input gates per word, for the heat maps of Figure 3.
"""
import keras
from keras import ops

NUM_CLASSES = 3
ABLATIONS = ("no_avg_max", "no_diff_prod", "ffn_inference", "ffn_encoding", "no_premise_attention",
             "no_hypothesis_attention")
_PACKAGE = "nli_app"


def masked_softmax(scores, mask, axis=-1):
    """Softmax over ``axis`` where ``mask`` (broadcastable bool) is False gets probability exactly 0."""
    return ops.softmax(ops.where(mask, scores, ops.cast(-1e9, scores.dtype)), axis=axis)


class _ExplicitMaskLayer(keras.layers.Layer):
    """Takes padding masks as explicit inputs; consumes (does not propagate) Keras' implicit masks."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PaddingMask(keras.layers.Layer):
    """``ids != 0`` (``_PAD_``)."""

    def call(self, ids):
        return ops.not_equal(ids, 0)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SoftAlignment(_ExplicitMaskLayer):
    """Eq. 11-13: returns ``(ã, b̃, premise_attention [B, La, Lb], hypothesis_attention [B, Lb, La])``.

    ``use_premise_attention=False`` removes eq. 12 (ã = 0); ``use_hypothesis_attention=False`` removes eq. 13.
    Aligned vectors at padding positions are zero.
    """

    def __init__(self, use_premise_attention=True, use_hypothesis_attention=True, **kwargs):
        super().__init__(**kwargs)
        self.use_premise_attention = use_premise_attention
        self.use_hypothesis_attention = use_hypothesis_attention

    def call(self, inputs):
        a, b, mask_a, mask_b = inputs
        scores = ops.matmul(a, ops.transpose(b, (0, 2, 1)))                       # e_ij, eq. 11
        premise_attention = masked_softmax(scores, mask_b[:, None, :], axis=-1)  # over j, eq. 12
        hypothesis_attention = ops.transpose(
            masked_softmax(scores, mask_a[:, :, None], axis=1), (0, 2, 1))       # over i, eq. 13
        mask_a = ops.cast(mask_a, a.dtype)[..., None]
        mask_b = ops.cast(mask_b, b.dtype)[..., None]
        a_tilde = ops.matmul(premise_attention, b) * mask_a
        b_tilde = ops.matmul(hypothesis_attention, a) * mask_b
        if not self.use_premise_attention:
            a_tilde = ops.zeros_like(a)
        if not self.use_hypothesis_attention:
            b_tilde = ops.zeros_like(b)
        return a_tilde, b_tilde, premise_attention, hypothesis_attention

    def compute_output_spec(self, inputs):
        a, b = inputs[0], inputs[1]
        batch, la, lb = a.shape[0], a.shape[1], b.shape[1]
        return (keras.KerasTensor(a.shape, a.dtype), keras.KerasTensor(b.shape, b.dtype),
                keras.KerasTensor((batch, la, lb), a.dtype), keras.KerasTensor((batch, lb, la), a.dtype))

    def get_config(self):
        return {**super().get_config(), "use_premise_attention": self.use_premise_attention,
                "use_hypothesis_attention": self.use_hypothesis_attention}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Enhancement(_ExplicitMaskLayer):
    """Eq. 14-15: ``[x; x̃; x − x̃; x ⊙ x̃]``, or ``[x; x̃]`` with ``difference_and_product=False``."""

    def __init__(self, difference_and_product=True, **kwargs):
        super().__init__(**kwargs)
        self.difference_and_product = difference_and_product

    def call(self, inputs):
        x, x_tilde = inputs
        parts = [x, x_tilde]
        if self.difference_and_product:
            parts += [x - x_tilde, x * x_tilde]
        return ops.concatenate(parts, axis=-1)

    def get_config(self):
        return {**super().get_config(), "difference_and_product": self.difference_and_product}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskedPooling(_ExplicitMaskLayer):
    """Eq. 18-19 over valid positions: ``[average; max]`` (mode ``avg_max``) or the sum (mode ``sum``)."""

    def __init__(self, mode="avg_max", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("avg_max", "sum"):
            raise ValueError(f"MaskedPooling mode must be 'avg_max' or 'sum', got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        v, mask = inputs
        weights = ops.cast(mask, v.dtype)[..., None]
        total = ops.sum(v * weights, axis=1)
        if self.mode == "sum":
            return total
        average = total / ops.maximum(ops.sum(weights, axis=1), 1.0)
        maximum = ops.max(ops.where(mask[..., None], v, ops.cast(-1e9, v.dtype)), axis=1)
        return ops.concatenate([average, maximum], axis=-1)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class InputGateNorms(_ExplicitMaskLayer):
    """l2 norm per position of the input gates [i_fwd; i_bwd] of a trained ``Bidirectional(LSTM)`` (Figure 3).

    Recomputes iₜ = σ(W_i xₜ + U_i hₜ₋₁ + b_i) from the layer's kernels and its output sequence (hₜ₋₁ is the
    forward output at t−1, the backward output at t+1; zero at the ends and at padding). Not saved with models.
    """

    def __init__(self, bilstm, **kwargs):
        super().__init__(**kwargs)
        self._cells = (bilstm.forward_layer.cell, bilstm.backward_layer.cell)

    def _gate(self, cell, x, h_prev):
        units = cell.units
        z = ops.matmul(x, cell.kernel[:, :units]) + ops.matmul(h_prev, cell.recurrent_kernel[:, :units])
        if cell.use_bias:
            z = z + cell.bias[:units]
        return ops.sigmoid(z)

    def call(self, inputs):
        x, h, mask = inputs
        weights = ops.cast(mask, x.dtype)[..., None]
        h = h * weights
        units = self._cells[0].units
        forward, backward = h[..., :units], h[..., units:]
        zeros = ops.zeros_like(forward[:, :1])
        gate_f = self._gate(self._cells[0], x, ops.concatenate([zeros, forward[:, :-1]], axis=1))
        gate_b = self._gate(self._cells[1], x, ops.concatenate([backward[:, 1:], zeros], axis=1))
        squares = ops.sum(ops.square(gate_f), axis=-1) + ops.sum(ops.square(gate_b), axis=-1)
        return ops.sqrt(squares) * weights[..., 0]


def _sequence_layer(kind, units, name):
    if kind == "bilstm":
        return keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True), name=name)
    return keras.layers.Dense(2 * units, activation="relu", name=name)


def _apply(layer, x, mask):
    if isinstance(layer, keras.layers.Bidirectional):
        return layer(x, mask=mask)
    return layer(x)


def _check_ablation(ablation):
    if ablation is None:
        return frozenset()
    if isinstance(ablation, str):
        ablation = [a for a in ablation.split(",") if a]
    unknown = sorted(set(ablation) - set(ABLATIONS))
    if unknown:
        raise ValueError(f"unknown ESIM ablation(s) {unknown}; choose from {ABLATIONS}")
    return frozenset(ablation)


def _forward(layers, premise, hypothesis):
    """The ESIM graph over ``layers`` (a dict by role); returns every intermediate the explainer needs."""
    mask_a, mask_b = layers["mask"](premise), layers["mask"](hypothesis)
    dropout = layers["dropout"]
    a = _apply(layers["encoder"], dropout(layers["embedding"](premise)), mask_a)
    b = _apply(layers["encoder"], dropout(layers["embedding"](hypothesis)), mask_b)
    a_tilde, b_tilde, premise_attention, hypothesis_attention = layers["alignment"]([a, b, mask_a, mask_b])
    f_a = layers["projection"](layers["enhancement"]([a, a_tilde]))
    f_b = layers["projection"](layers["enhancement"]([b, b_tilde]))
    v_a, v_b = _apply(layers["composition"], f_a, mask_a), _apply(layers["composition"], f_b, mask_b)
    v = layers["concat"]([layers["pooling"]([v_a, mask_a]), layers["pooling"]([v_b, mask_b])])
    hidden = layers["mlp_hidden"](dropout(v))
    probabilities = layers["classifier"](dropout(hidden))
    return dict(probabilities=probabilities, premise_attention=premise_attention,
                hypothesis_attention=hypothesis_attention, masks=(mask_a, mask_b), composition_inputs=(f_a, f_b),
                composition_outputs=(v_a, v_b))


def _inputs():
    return {"premise": keras.Input((None,), dtype="int32", name="premise"),
            "hypothesis": keras.Input((None,), dtype="int32", name="hypothesis")}


def build_esim(vocab_size, embedding_dim=300, hidden_units=300, dropout=0.5, embeddings=None,
               trainable_embeddings=True, ablation=None, num_classes=NUM_CLASSES):
    """ESIM as a functional Keras model: ``{"premise", "hypothesis"}`` int32 ids -> probabilities [B, 3].

    ``embeddings``: optional [vocab_size, embedding_dim] matrix (e.g. ``glove.load_glove``); all vectors are
    updated in training unless ``trainable_embeddings=False``. ``ablation``: names from ``ABLATIONS`` (a list or a
    comma-separated string).
    """
    ablation = _check_ablation(ablation)
    layers = dict(
        mask=PaddingMask(name="padding_mask"),
        embedding=keras.layers.Embedding(vocab_size, embedding_dim, trainable=trainable_embeddings,
                                         name="embedding"),
        dropout=keras.layers.Dropout(dropout, name="dropout"),
        encoder=_sequence_layer("ffn" if "ffn_encoding" in ablation else "bilstm", hidden_units, "encoder"),
        alignment=SoftAlignment("no_premise_attention" not in ablation, "no_hypothesis_attention" not in ablation,
                                name="alignment"),
        enhancement=Enhancement("no_diff_prod" not in ablation, name="enhancement"),
        projection=keras.layers.Dense(hidden_units, activation="relu", name="projection"),
        composition=_sequence_layer("ffn" if "ffn_inference" in ablation else "bilstm", hidden_units,
                                    "composition"),
        pooling=MaskedPooling("sum" if "no_avg_max" in ablation else "avg_max", name="pooling"),
        concat=keras.layers.Concatenate(name="pooled"),
        mlp_hidden=keras.layers.Dense(hidden_units, activation="tanh", name="mlp_hidden"),
        classifier=keras.layers.Dense(num_classes, activation="softmax", name="probabilities"),
    )
    inputs = _inputs()
    outputs = _forward(layers, inputs["premise"], inputs["hypothesis"])
    model = keras.Model(inputs, outputs["probabilities"], name="esim")
    if embeddings is not None:
        if tuple(embeddings.shape) != (vocab_size, embedding_dim):
            raise ValueError(f"embeddings shape {tuple(embeddings.shape)} != ({vocab_size}, {embedding_dim})")
        layers["embedding"].embeddings.assign(embeddings)
    return model


_LAYER_NAMES = dict(mask="padding_mask", embedding="embedding", dropout="dropout", encoder="encoder",
                    alignment="alignment", enhancement="enhancement", projection="projection",
                    composition="composition", pooling="pooling", concat="pooled", mlp_hidden="mlp_hidden",
                    classifier="probabilities")


def explainer(model):
    """A model sharing ``model``'s layers that returns a dict: ``probabilities``, ``premise_attention``
    [B, Lp, Lh] (eq. 12), ``hypothesis_attention`` [B, Lh, Lp] (eq. 13) and, when the composition layer is a
    BiLSTM, ``premise_gate_norms`` / ``hypothesis_gate_norms`` [B, L] (Figure 3)."""
    layers = {role: model.get_layer(name) for role, name in _LAYER_NAMES.items()}
    inputs = _inputs()
    out = _forward(layers, inputs["premise"], inputs["hypothesis"])
    outputs = {k: out[k] for k in ("probabilities", "premise_attention", "hypothesis_attention")}
    if isinstance(layers["composition"], keras.layers.Bidirectional):
        gates = InputGateNorms(layers["composition"], name="input_gate_norms")
        for side, x, h, mask in zip(("premise", "hypothesis"), out["composition_inputs"],
                                    out["composition_outputs"], out["masks"]):
            outputs[f"{side}_gate_norms"] = gates([x, h, mask])
    return keras.Model(inputs, outputs, name="esim_explainer")


def count_trainable_parameters(model, exclude=("embedding",)):
    """Trainable parameters outside the layers named in ``exclude``."""
    excluded = {id(v) for name in exclude for v in model.get_layer(name).trainable_weights}
    return sum(int(ops.size(v)) for v in model.trainable_weights if id(v) not in excluded)
