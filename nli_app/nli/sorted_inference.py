"""Inference on length-sorted sub-batches (TF-only): ``model(x, training=False)``'s outputs with less padding.

A batch of pairs is padded to its longest premise and longest hypothesis, and ESIM's LSTMs run every padded step of
every row (masked, so the padding changes nothing but the cost). At inference the rows are independent (dropout is
off and ESIM has no batch statistics), so ``predict`` sorts the rows by length, runs sub-batches of ``sub_batch``
rows, each cut to its own longest premise and hypothesis, and puts the outputs back in the input order: the same
probabilities (up to float rounding of different matmul shapes) with far fewer padded steps. With 256 SNLI-shaped
pairs in random order it is about 1.5x faster on 2 CPU cores (``bench/esim_vs_pytorch.py``: ``infer256`` against
``infer256_sorted``).

A small batch (at most ``inference_lstm.MAX_BATCH`` = 16 rows and ``sub_batch``: a served single pair, a lightly
loaded server's batches) takes a faster path: no sorting, loop or reordering, only the cut to its longest sentences,
and one model call under ``inference_lstm.fast_lstms`` (its ``Bidirectional(LSTM)`` layers compute the same outputs
with fewer ops per time step, most of a small batch's latency on CPU). A larger batch runs the sorted sub-batches
with Keras' own LSTM loops, faster there.

It applies to models whose inputs are exactly ``{"premise", "hypothesis"}`` id matrices (ESIM and its ablations;
only trailing ``_PAD_`` columns are ever cut); any other model (the tree models carry per-node arrays) is called as
it is.
"""
import tensorflow as tf

from nli_app.nli import inference_lstm
from nli_app.nli.data import vocab as vocab_lib

SIDES = ("premise", "hypothesis")
DEFAULT_SUB_BATCH = 64


def applies_to(inputs):
    """Whether ``inputs`` are the two id matrices this module knows how to cut."""
    return isinstance(inputs, dict) and set(inputs) == set(SIDES)


def _lengths(ids):
    """Per row, 1 + the position of the last non-``_PAD_`` id: cutting there drops only trailing padding."""
    positions = tf.range(1, tf.shape(ids)[1] + 1)[None, :]
    return tf.reduce_max(tf.where(tf.not_equal(ids, vocab_lib.PAD_ID), positions, 0), axis=1)


def _cut(inputs, lengths):
    """Every side cut to its longest row: only trailing ``_PAD_`` columns go."""
    return {side: inputs[side][:, :tf.reduce_max(lengths[side])] for side in SIDES}


def predict(model, inputs, sub_batch=DEFAULT_SUB_BATCH, kernels=None):
    """``model(inputs, training=False)`` computed on sub-batches of length-sorted rows, in the input order.
    ``kernels``: ``inference_lstm.FusedKernels`` of ``model`` for the small-batch path (a graph whose weights no
    longer change: the export), else stacked in the graph."""
    if not applies_to(inputs):
        return model(inputs, training=False)
    if sub_batch < 1:
        raise ValueError(f"sub_batch must be >= 1, got {sub_batch}")
    inputs = {side: tf.convert_to_tensor(inputs[side]) for side in SIDES}
    lengths = {side: _lengths(inputs[side]) for side in SIDES}
    if inputs["premise"].shape[0] == 0:  # known to be empty: Keras' LSTMs cannot be traced over 0 rows
        return _sorted_predict(model, inputs, lengths, sub_batch)
    batch = tf.shape(inputs["premise"])[0]
    return tf.cond((batch > 0) & (batch <= min(sub_batch, inference_lstm.MAX_BATCH)),
                   lambda: _small_predict(model, inputs, lengths, kernels),
                   lambda: _sorted_predict(model, inputs, lengths, sub_batch))


def _small_predict(model, inputs, lengths, kernels):
    with inference_lstm.fast_lstms(model, kernels):
        return model(_cut(inputs, lengths), training=False)


def _sorted_predict(model, inputs, lengths, sub_batch):
    # Premise length first (it dominates the cost), hypothesis length to break ties.
    key = lengths["premise"] * (tf.shape(inputs["hypothesis"])[1] + 1) + lengths["hypothesis"]
    order = tf.argsort(key, stable=True)
    batch = tf.shape(order)[0]
    chunks = (batch + sub_batch - 1) // sub_batch
    output_spec = model.outputs[0]
    outputs = tf.TensorArray(output_spec.dtype, size=chunks, infer_shape=False,
                             element_shape=tf.TensorShape([None]).concatenate(output_spec.shape[1:]))

    def body(i, outputs):
        rows = order[i * sub_batch:tf.minimum((i + 1) * sub_batch, batch)]
        chunk = _cut({side: tf.gather(inputs[side], rows) for side in SIDES},
                     {side: tf.gather(lengths[side], rows) for side in SIDES})
        return i + 1, outputs.write(i, model(chunk, training=False))

    _, outputs = tf.while_loop(lambda i, _: i < chunks, body, (tf.constant(0), outputs))
    empty = tf.zeros([0] + list(output_spec.shape[1:]), output_spec.dtype)  # an empty batch has empty outputs
    in_order = tf.cond(chunks > 0, outputs.concat, lambda: empty)
    return tf.gather(in_order, tf.math.invert_permutation(order))
