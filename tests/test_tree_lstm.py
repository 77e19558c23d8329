"""Level-batched ``TreeLSTM`` against a per-node numpy transcription of Chen et al. 2017, eq. 3-10."""
import numpy as np

from nli_app.nli.data import trees
from nli_app.nli.models.tree_lstm import TreeLSTM

UNITS, DIM = 5, 3
PARSES = ["( ( A dog ) ( ( runs fast ) . ) )", "( ( ( The sisters ) hug ) ( ( ( in ( the park ) ) today ) . ) )",
          "( Hi )"]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def nested(parse):
    """Independent recursive-descent reading of a binary parse into nested tuples of word positions."""
    tokens, words = parse.split(), iter(range(1000))

    def read(i):
        if tokens[i] != "(":
            return next(words), i + 1
        items, i = [], i + 1
        while tokens[i] != ")":
            item, i = read(i)
            items.append(item)
        return (items[0] if len(items) == 1 else tuple(items)), i + 1
    return read(0)[0]


def reference(tree, x, layer, out):
    """Eq. 3-10 node by node (recursion, one node at a time); ``out[span] = h``; returns (h, c, span)."""
    w, uk, b = (v.numpy() for v in (layer.kernel, layer.recurrent_kernel, layer.bias))
    u = UNITS
    if isinstance(tree, int):
        hl = cl = hr = cr = np.zeros(u)
        xt, span = x[tree], (tree, tree)
    else:
        (hl, cl, sl), (hr, cr, sr) = (reference(child, x, layer, out) for child in tree)
        xt, span = np.zeros(x.shape[1]), (sl[0], sr[1])  # internal nodes of the encoder take x_t = 0
    wx, uh = xt @ w + b, np.concatenate([hl, hr]) @ uk
    i = sigmoid(wx[:u] + uh[:u])                          # eq. 9
    f_l = sigmoid(wx[u:2 * u] + uh[u:2 * u])              # eq. 7
    f_r = sigmoid(wx[u:2 * u] + uh[2 * u:3 * u])          # eq. 8
    o = sigmoid(wx[2 * u:3 * u] + uh[3 * u:4 * u])        # eq. 5
    g = np.tanh(wx[3 * u:] + uh[4 * u:])                  # eq. 10
    c = f_l * cl + f_r * cr + i * g                       # eq. 6
    h = o * np.tanh(c)                                    # eq. 4
    out[span] = h
    return h, c, span


def spans(t):
    """Word span of every node of a tree dict (via the arrays), to match nodes with the reference."""
    result = []
    for i in range(len(t["height"])):
        if t["leaf"][i] >= 0:
            result.append((t["leaf"][i], t["leaf"][i]))
        else:
            result.append((result[t["left"][i]][0], result[t["right"][i]][1]))
    return result


def node_inputs(batch, words):
    """Leaf rows get the word vector, internal and padding nodes zero."""
    leaf = batch["leaf"]
    return np.where((leaf >= 0)[..., None], words[np.arange(len(leaf))[:, None], np.maximum(leaf, 0)], 0)


def test_level_batched_equals_per_node_reference():
    rng = np.random.default_rng(0)
    tree_list = [trees.parse_tree(p, offset=0) for p in PARSES]
    batch = trees.pad_tree_batch(tree_list)
    words = rng.normal(size=(len(PARSES), 12, DIM)).astype("float32")
    layer = TreeLSTM(UNITS)
    layer.build((None, None, DIM))
    layer.bias.assign(rng.normal(size=(4 * UNITS,)).astype("float32"))  # non-zero biases are checked too
    h = layer(node_inputs(batch, words), batch["left"], batch["right"], batch["height"]).numpy()
    for b, (parse, t) in enumerate(zip(PARSES, tree_list)):
        ref = {}
        reference(nested(parse), words[b].astype("float64"), layer, ref)
        for node, span in enumerate(spans(t)):
            np.testing.assert_allclose(h[b, node], ref[span], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(h[b, len(t["height"]):], 0)  # padding nodes stay zero


def test_padding_nodes_and_batch_mates_change_nothing():
    rng = np.random.default_rng(1)
    small = trees.full_binary_tree(3, offset=0)
    layer = TreeLSTM(UNITS)
    words = rng.normal(size=(1, 3, DIM)).astype("float32")
    alone = trees.pad_tree_batch([small])
    h_alone = layer(node_inputs(alone, words), alone["left"], alone["right"], alone["height"]).numpy()
    big = trees.parse_tree(PARSES[1], offset=0)
    mixed = trees.pad_tree_batch([small, big])  # pads `small` with 9 padding nodes and adds deeper levels
    words2 = np.concatenate([np.pad(words, [(0, 0), (0, 9), (0, 0)]), rng.normal(size=(1, 12, DIM))]).astype(
        "float32")
    inputs = node_inputs(mixed, words2)
    inputs[0, len(small["height"]):] = 100.0  # garbage on padding nodes must not leak
    h_mixed = layer(inputs, mixed["left"], mixed["right"], mixed["height"]).numpy()
    np.testing.assert_allclose(h_mixed[0, :len(small["height"])], h_alone[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(h_mixed[0, len(small["height"]):], 0)


def test_input_gate_norms_and_gradients_flow():
    import tensorflow as tf
    t = trees.pad_tree_batch([trees.parse_tree(PARSES[0], offset=0)])
    layer = TreeLSTM(UNITS)
    x = tf.constant(np.random.default_rng(2).normal(size=(1, 9, DIM)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        h, norms = layer(x, t["left"], t["right"], t["height"], return_input_gate_norms=True)
        loss = tf.reduce_sum(h[:, -1])  # the root
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    assert norms.shape == (1, 9) and np.all(norms.numpy() > 0) and np.all(norms.numpy() < np.sqrt(UNITS))
    assert all(g is not None and np.any(g.numpy() != 0) for g in grads)
