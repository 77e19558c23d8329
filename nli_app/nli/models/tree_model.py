"""Syntactic tree-LSTM NLI model of Chen et al. 2017 (Sec. 3.1-3.3, "Tree-LSTM" branch of Figure 1).

Input encoding (eq. 3-10): a tree-LSTM (``tree_lstm.TreeLSTM``) over each sentence's tree; leaves take their word
embeddings, internal nodes a zero input. Local inference (eq. 11-15) over *all node pairs* of the two trees: soft
alignment with masked softmax both ways and enhancement ``m = [a; ã; a − ã; a ⊙ ã]`` (ESIM's layers, with node
masks instead of word masks). Inference composition (eq. 16-21): ``F`` = Dense 4h→h ReLU, a second tree-LSTM over
``F(m)`` on the same trees (every node has an input now), pooling ``[v_root; v_ave; v_max]`` of both trees, an MLP
with one tanh hidden layer and a softmax. Dropout 0.5 on the embeddings and the MLP's inputs, as ESIM.

Inputs (DESIGN.md): ``premise`` / ``hypothesis`` int32 ids ``_BOS_ w_1 ... w_n _EOS_`` (shared with ESIM, so HIM
feeds one dict to both) and ``{premise,hypothesis}_{left,right,height,leaf}`` int32 node arrays from
``trees.tree_features`` / ``trees.pad_tree_batch``. The leaves point at word positions, so ``_BOS_``/``_EOS_`` are
embedded but not part of the tree. Feeding full binary trees instead of parses gives Table 2's "ESIM + tree"
member.
"""
import keras
from keras import ops

from nli_app.nli.data import trees
from nli_app.nli.models import esim
from nli_app.nli.models.tree_lstm import TreeLSTM

SIDES = ("premise", "hypothesis")
_PACKAGE = "nli_app"


def tree_input_names(side):
    return [f"{side}_{k}" for k in trees.FEATURES]


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NodeInputs(keras.layers.Layer):
    """``(word vectors [B, L, D], leaf [B, S]) -> [B, S, D]``: a leaf's word vector, zero for other nodes."""

    def call(self, inputs):
        words, leaf = inputs
        leaf = ops.cast(leaf, "int32")
        gathered = ops.take_along_axis(words, ops.expand_dims(ops.maximum(leaf, 0), -1), axis=1)
        return ops.where(ops.expand_dims(leaf >= 0, -1), gathered, ops.zeros_like(gathered))

    def compute_output_spec(self, inputs):
        words, leaf = inputs
        return keras.KerasTensor(tuple(leaf.shape) + (words.shape[-1],), words.dtype)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NodeMask(keras.layers.Layer):
    """``height >= 0``: real nodes (padding nodes have height -1)."""

    def call(self, height):
        return ops.greater_equal(height, 0)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RootState(keras.layers.Layer):
    """``(v [B, S, H], node mask [B, S]) -> v_root [B, H]``: the last real node (trees are sorted by height)."""

    def call(self, inputs):
        v, mask = inputs
        root = ops.maximum(ops.sum(ops.cast(mask, "int32"), axis=1) - 1, 0)
        return ops.take_along_axis(v, ops.reshape(root, (-1, 1, 1)), axis=1)[:, 0]

    def compute_output_spec(self, inputs):
        v = inputs[0]
        return keras.KerasTensor((v.shape[0], v.shape[-1]), v.dtype)


class _WithGateNorms(keras.layers.Layer):
    """A trained ``TreeLSTM`` (same weights) that also returns its input-gate norms; for ``explainer`` only."""

    def __init__(self, tree_lstm, **kwargs):
        super().__init__(**kwargs)
        self.tree_lstm = tree_lstm

    def call(self, nodes, left, right, height):
        return self.tree_lstm.call(nodes, left, right, height, return_input_gate_norms=True)

    def compute_output_spec(self, nodes, left, right, height):
        return self.tree_lstm.compute_output_spec(nodes, left, right, height, return_input_gate_norms=True)


def tree_inputs():
    """Keras inputs of the tree model: ids and node arrays of both sentences."""
    inputs = {side: keras.Input((None,), dtype="int32", name=side) for side in SIDES}
    for side in SIDES:
        for name in tree_input_names(side):
            inputs[name] = keras.Input((None,), dtype="int32", name=name)
    return inputs


def _layers(vocab_size, embedding_dim, hidden_units, dropout, trainable_embeddings, num_classes):
    return dict(
        embedding=keras.layers.Embedding(vocab_size, embedding_dim, trainable=trainable_embeddings,
                                         name="embedding"),
        dropout=keras.layers.Dropout(dropout, name="dropout"),
        node_inputs=NodeInputs(name="node_inputs"),
        node_mask=NodeMask(name="node_mask"),
        encoder=TreeLSTM(hidden_units, name="encoder"),
        alignment=esim.SoftAlignment(name="alignment"),
        enhancement=esim.Enhancement(name="enhancement"),
        projection=keras.layers.Dense(hidden_units, activation="relu", name="projection"),
        composition=TreeLSTM(hidden_units, name="composition"),
        root=RootState(name="root"),
        pooling=esim.MaskedPooling("avg_max", name="pooling"),
        concat=keras.layers.Concatenate(name="pooled"),
        mlp_hidden=keras.layers.Dense(hidden_units, activation="tanh", name="mlp_hidden"),
        classifier=keras.layers.Dense(num_classes, activation="softmax", name="probabilities"),
    )


def _forward(layers, inputs, gate_norms=False):
    """The model graph over ``layers`` (a dict by role, also the layer names); returns a dict of outputs."""
    drop = layers["dropout"]
    encoded, masks, structure, outputs = {}, {}, {}, {}
    for side in SIDES:
        left, right, height, leaf = (inputs[n] for n in tree_input_names(side))
        structure[side] = (left, right, height)
        masks[side] = layers["node_mask"](height)
        x = layers["node_inputs"]([drop(layers["embedding"](inputs[side])), leaf])
        encoded[side] = layers["encoder"](x, left, right, height)
    a_tilde, b_tilde, outputs["premise_attention"], outputs["hypothesis_attention"] = layers["alignment"](
        [encoded["premise"], encoded["hypothesis"], masks["premise"], masks["hypothesis"]])
    pooled = []
    for side, tilde in zip(SIDES, (a_tilde, b_tilde)):
        f = layers["projection"](layers["enhancement"]([encoded[side], tilde]))
        if gate_norms:
            v, outputs[f"{side}_gate_norms"] = layers["composition_gate_norms"](f, *structure[side])
        else:
            v = layers["composition"](f, *structure[side])
        pooled += [layers["root"]([v, masks[side]]), layers["pooling"]([v, masks[side]])]
    hidden = layers["mlp_hidden"](drop(layers["concat"](pooled)))
    outputs["probabilities"] = layers["classifier"](drop(hidden))
    return outputs


def build_tree_model(vocab_size, embedding_dim=300, hidden_units=300, dropout=0.5, embeddings=None,
                     trainable_embeddings=True, num_classes=esim.NUM_CLASSES, name="tree_model"):
    """The tree-LSTM model: ``tree_inputs()`` -> class probabilities [B, 3]."""
    layers = _layers(vocab_size, embedding_dim, hidden_units, dropout, trainable_embeddings, num_classes)
    inputs = tree_inputs()
    model = keras.Model(inputs, _forward(layers, inputs)["probabilities"], name=name)
    if embeddings is not None:
        if tuple(embeddings.shape) != (vocab_size, embedding_dim):
            raise ValueError(f"embeddings shape {tuple(embeddings.shape)} != ({vocab_size}, {embedding_dim})")
        layers["embedding"].embeddings.assign(embeddings)
    return model


def explainer(model):
    """A model sharing ``model``'s layers that returns a dict: ``probabilities``, ``premise_attention``
    [B, Sp, Sh] and ``hypothesis_attention`` [B, Sh, Sp] over tree nodes (eq. 12-13), and the composition
    tree-LSTM's input-gate l2 norms per node ``premise_gate_norms`` / ``hypothesis_gate_norms`` (Figure 3)."""
    names = ("embedding", "dropout", "node_inputs", "node_mask", "encoder", "alignment", "enhancement",
             "projection", "composition", "root", "pooling", "mlp_hidden")
    layers = {name: model.get_layer(name) for name in names}
    layers.update(concat=model.get_layer("pooled"), classifier=model.get_layer("probabilities"),
                  composition_gate_norms=_WithGateNorms(layers["composition"], name="composition_gate_norms"))
    inputs = tree_inputs()
    return keras.Model(inputs, _forward(layers, inputs, gate_norms=True), name=f"{model.name}_explainer")


def is_tree_model(model):
    """Whether ``model`` takes tree arrays (the tree model, or an HIM with a tree member)."""
    names = {t.name for t in keras.tree.flatten(model.inputs)}
    return any(n in names for n in tree_input_names("premise"))
