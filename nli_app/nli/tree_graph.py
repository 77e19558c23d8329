"""``trees.py`` inside a TensorFlow graph (TF-only), so a SavedModel builds tree arrays from raw strings.

Same arrays, order and padding as ``trees.tree_features`` / ``trees.pad_tree_batch`` (children before parents,
sorted by height, ``-1`` = no child / padding, leaves at word position + 1 for ``_BOS_``):

* ``full_binary_trees(num_words [B])`` -- the full binary tree over each sentence's words (an empty sentence gets
  a one-leaf tree on position 1, its ``_EOS_``, where ``trees.py`` would raise);
* ``parse_trees(parses [B])`` -- the tree of each binary parse string; a malformed parse fails the call with
  ``InvalidArgumentError`` ("malformed binary parse");
* ``trees_or_full(parses, num_words)`` -- the parse where one is given (non-empty), else the full binary tree.
"""
import tensorflow as tf

from nli_app.nli.data import trees

_ROW = tf.RaggedTensorSpec(shape=[None], dtype=tf.int32, ragged_rank=0)
_SIGNATURE = {k: _ROW for k in trees.FEATURES}


def _full_tree(n, offset=1):
    """One sentence of ``n`` (>= 1) words."""
    n = tf.maximum(tf.cast(n, tf.int32), 1)
    h = tf.range(32)
    count = tf.bitwise.right_shift(n + tf.bitwise.left_shift(1, h) - 1, h)  # ceil(n / 2**h)
    previous = tf.concat([[n + 1], count[:-1]], 0)
    count = tf.boolean_mask(count, previous > 1)  # a level exists while the one below has >= 2 nodes
    start = tf.cumsum(count, exclusive=True)
    heights = tf.repeat(tf.range(tf.size(count)), count)
    index = tf.range(tf.size(heights)) - tf.gather(start, heights)  # j within its level
    below = tf.maximum(heights - 1, 0)
    first = tf.gather(start, below) + 2 * index
    internal = heights > 0
    left = tf.where(internal, first, -1)
    right = tf.where(internal & (2 * index + 1 < tf.gather(count, below)), first + 1, -1)
    leaf = tf.where(internal, -1, index + offset)
    return {"left": left, "right": right, "height": heights, "leaf": leaf}


def _parse_tree(parse, offset=1):
    """One binary parse string, by the stack algorithm of ``trees.parse_tree`` in a ``tf.while_loop``."""
    tokens = tf.strings.split(parse)
    size = tf.size(tokens)
    kind = tf.where(tokens == "(", 0, tf.where(tokens == ")", 1, 2))
    zeros = tf.zeros([size], tf.int32)
    open_mark = -1

    def put(t, i, v):
        return tf.tensor_scatter_nd_update(t, [[i]], [v])

    def body(i, sp, nodes, words, ok, stack, left, right, height, leaf):
        def open_():
            return sp + 1, nodes, words, ok, put(stack, sp, open_mark), left, right, height, leaf

        def word():
            return (sp + 1, nodes + 1, words + 1, ok, put(stack, sp, nodes), put(left, nodes, -1),
                    put(right, nodes, -1), put(height, nodes, 0), put(leaf, nodes, words + offset))

        def close():
            at = lambda k: tf.cond(sp >= k, lambda: stack[tf.maximum(sp - k, 0)], lambda: -2)  # noqa: E731
            top, second, third = at(1), at(2), at(3)
            unary = (top >= 0) & (second == open_mark)
            binary = (top >= 0) & (second >= 0) & (third == open_mark)

            def reduce_unary():
                return sp - 1, nodes, words, ok, put(stack, sp - 2, top), left, right, height, leaf

            def reduce_binary():
                h = 1 + tf.maximum(height[second], height[top])
                return (sp - 2, nodes + 1, words, ok, put(stack, sp - 3, nodes), put(left, nodes, second),
                        put(right, nodes, top), put(height, nodes, h), put(leaf, nodes, -1))

            def fail():
                return sp, nodes, words, tf.constant(False), stack, left, right, height, leaf

            return tf.cond(unary, reduce_unary, lambda: tf.cond(binary, reduce_binary, fail))

        state = tf.switch_case(kind[i], [open_, close, word])
        return (i + 1,) + tuple(state)

    loop = tf.while_loop(lambda i, sp, nodes, words, ok, *_: (i < size) & ok, body,
                         (0, 0, 0, 0, tf.constant(True), zeros, zeros, zeros, zeros, zeros))
    _, sp, nodes, words, ok, stack, left, right, height, leaf = loop
    ok = ok & tf.equal(sp, 1) & (words > 0) & tf.reduce_all(stack[:tf.maximum(sp, 0)] >= 0)
    check = tf.debugging.Assert(ok, ["malformed binary parse (unbalanced, non-binary or empty):", parse])
    with tf.control_dependencies([check]):
        height = tf.identity(height[:nodes])
    order = tf.argsort(height, stable=True)
    new_index = tf.math.invert_permutation(order)

    def remap(children):
        children = tf.gather(children[:nodes], order)
        return tf.where(children >= 0, tf.gather(new_index, tf.maximum(children, 0)), -1)

    return {"left": remap(left), "right": remap(right), "height": tf.gather(height, order),
            "leaf": tf.gather(leaf[:nodes], order)}


def _batch(fn, elems):
    rows = tf.map_fn(fn, elems, fn_output_signature=_SIGNATURE)
    return {k: v.to_tensor(trees.PAD) for k, v in rows.items()}


def full_binary_trees(num_words):
    """int [B] word counts -> dict of int32 [B, S] arrays (``trees.full_binary_tree`` per row, padded)."""
    return _batch(_full_tree, tf.cast(num_words, tf.int32))


def parse_trees(parses):
    """tf.string [B] binary parses -> dict of int32 [B, S] arrays (``trees.parse_tree`` per row, padded)."""
    return _batch(_parse_tree, parses)


def trees_or_full(parses, num_words):
    """The parse's tree where ``parses[b]`` is non-empty, else the full binary tree over ``num_words[b]``."""
    def one(args):
        parse, n = args
        return tf.cond(tf.strings.length(tf.strings.strip(parse)) > 0, lambda: _parse_tree(parse),
                       lambda: _full_tree(n))
    return _batch(one, (parses, tf.cast(num_words, tf.int32)))


def parse_words(parses):
    """tf.string [B] binary parses -> ragged [B, None] words (parentheses stripped)."""
    tokens = tf.strings.split(parses)
    return tf.ragged.boolean_mask(tokens, (tokens != "(") & (tokens != ")"))
