"""A faster inference graph for ``Bidirectional(LSTM)`` layers (TF-only): the same outputs, one op per direction.

On CPU, Keras runs each direction of a ``Bidirectional(LSTM)`` as a ``tf.while_loop`` whose every step multiplies
that step's input by the input kernel, adds the bias, splits, activates, masks and writes: about 25 small ops per
step, and at batch 1 each op costs more to dispatch than to compute. ESIM runs four such loops per sentence, so one
SNLI pair (16 + 10 steps with ``_BOS_``/``_EOS_``) costs ~2,500 op dispatches, most of its latency (on 2 CPU cores,
one 16-step BiLSTM is a third of the whole single-pair predict; everything but the LSTMs, a tenth).

:func:`bidirectional_lstm` runs each direction as one ``BlockLSTMV2`` op (TensorFlow's fused LSTM kernel, a core
op TF Serving has too) with the layer's own weights. That kernel has no mask, so it relies on right padding: the
backward direction reverses each row's words only (``tf.reverse_sequence``), and the outputs of padding steps
are zeroed as Keras' ``Bidirectional`` does. A mask with padding inside a row (Keras keeps the state across it)
falls back to Keras' loop (:func:`is_right_padded`, a ``tf.cond``). Outputs equal Keras' up to float rounding
(~1e-7). A whole ESIM call on one SNLI-shaped pair (paper sizes, 2 CPU cores under load, same process): 13.6 ms
against 21.9 ms with Keras' loops (and 14.9 ms with a hand-written loop whose input projections are hoisted out).

It wins only on small batches: 1.15x at 16 rows, but about 6% slower than Keras' loop at 32 and more at 64, where
Keras' loop overlaps each step's input matmul with the recurrence of the step before. :data:`MAX_BATCH` is where
``sorted_inference`` stops using it.

:func:`fast_lstms` applies it while a model is called for inference: inside the ``with`` block every
``Bidirectional(LSTM)`` of the model whose configuration it reproduces (``tanh`` / ``sigmoid``, a bias, full
sequences concatenated, no initial state, ``training`` false) computes with it; everything else (training, other
layers, unusual configurations) runs Keras' own code. The weights and the saved model are untouched: it is a
different graph for the same layer, chosen when the inference graph is traced (``sorted_inference.predict``).

``BlockLSTMV2`` takes one weight matrix, the input and recurrent kernels stacked ([W_x; W_h], :func:`fused_kernel`).
Within a ``fast_lstms`` block each direction's is stacked once, however often the layer is called (ESIM's encoder
runs on both sentences). A graph whose weights no longer change (a SavedModel) reads them from
:class:`FusedKernels`, variables stacked once at export, instead. Stacking at every call made 8 copies of 2.9 MB
for one pair at the paper's sizes, 2.2 of its 16 ms of op time (``bench/esim_step_profile.py --step=predict``).
"""
import contextlib

import keras
import tensorflow as tf

MAX_BATCH = 16  # rows; see above


def applies_to(layer):
    """Whether ``layer`` is a ``Bidirectional(LSTM)`` whose inference :func:`bidirectional_lstm` reproduces."""
    if not isinstance(layer, keras.layers.Bidirectional) or layer.merge_mode != "concat":
        return False
    for lstm, backwards in ((layer.forward_layer, False), (layer.backward_layer, True)):
        if not isinstance(lstm, keras.layers.LSTM) or lstm.go_backwards != backwards:
            return False
        if not lstm.return_sequences or lstm.return_state or lstm.stateful:
            return False
        cell = lstm.cell
        if (cell.activation is not keras.activations.tanh or cell.recurrent_activation is not keras.activations.sigmoid
                or not cell.use_bias):
            return False
    return True


def is_right_padded(mask):
    """Whether every row of ``mask`` [B, T] is ``True`` up to its length and ``False`` after (no inner padding)."""
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    return tf.reduce_all(tf.equal(mask, tf.sequence_mask(lengths, tf.shape(mask)[1])))


def fused_kernel(cell):
    """[W_x; W_h] [D + H, 4H]: an LSTM cell's input and recurrent kernels stacked, the matrix ``BlockLSTMV2`` takes."""
    return tf.concat([cell.kernel.value, cell.recurrent_kernel.value], axis=0)


class FusedKernels(tf.Module):
    """:func:`fused_kernel` of every direction of a model's ``Bidirectional(LSTM)`` layers that :func:`applies_to`,
    as non-trainable variables stacked when this is made: for an inference graph whose weights no longer change
    (the SavedModel export), which then reads them instead of stacking the kernels at every call. Made from a
    model that later trains, they go stale."""

    def __init__(self, model):
        super().__init__()
        cells = {id(lstm.cell): lstm.cell for layer in _layers(model) if applies_to(layer)
                 for lstm in (layer.forward_layer, layer.backward_layer)}
        self._index = {key: i for i, key in enumerate(cells)}
        self.kernels = [tf.Variable(fused_kernel(cell), trainable=False) for cell in cells.values()]

    def get(self, cell):
        """The variable of ``cell``'s stacked kernels (None for a cell this was not made with)."""
        i = self._index.get(id(cell))
        return None if i is None else self.kernels[i]


def _direction(cell, kernel, time_major, lengths, backwards):
    """One LSTM direction as one ``BlockLSTMV2`` op over ``time_major`` [T, B, D]; rows end at ``lengths``;
    ``kernel``: the cell's :func:`fused_kernel`."""
    if backwards:  # each row's own words reversed, its padding left at the end
        time_major = tf.reverse_sequence(time_major, lengths, seq_axis=0, batch_axis=1)
    dtype = time_major.dtype
    zeros = tf.zeros(tf.stack([tf.shape(time_major)[1], cell.units]), dtype)
    no_peephole = tf.zeros([cell.units], dtype)
    outputs = tf.raw_ops.BlockLSTMV2(  # gates in Keras' order i, f, c, o
        seq_len_max=tf.cast(tf.shape(time_major)[0], tf.int64), x=time_major, cs_prev=zeros, h_prev=zeros,
        w=tf.cast(kernel, dtype),
        wci=no_peephole, wcf=no_peephole, wco=no_peephole, b=tf.cast(cell.bias.value, dtype), cell_clip=0.0,
        use_peephole=False).h
    if backwards:
        outputs = tf.reverse_sequence(outputs, lengths, seq_axis=0, batch_axis=1)
    return outputs


def bidirectional_lstm(layer, sequences, mask=None, kernels=None):
    """``layer(sequences, mask=mask, training=False)`` of a ``Bidirectional(LSTM)`` (see :func:`applies_to`) whose
    ``mask`` [B, T] is right-padded (:func:`is_right_padded`; None: no padding). ``kernels``: the forward and
    backward cells' :func:`fused_kernel` when already stacked (None: stacked here)."""
    cells = (layer.forward_layer.cell, layer.backward_layer.cell)
    if kernels is None:
        kernels = tuple(fused_kernel(cell) for cell in cells)
    sequences = tf.convert_to_tensor(sequences)
    if mask is None:
        mask = tf.ones(tf.shape(sequences)[:2], tf.bool)
    mask = tf.cast(mask, tf.bool)
    lengths = tf.reduce_sum(tf.cast(mask, tf.int64), axis=1)
    time_major = tf.transpose(sequences, (1, 0, 2))
    outputs = tf.concat([_direction(cell, kernel, time_major, lengths, backwards)
                         for cell, kernel, backwards in zip(cells, kernels, (False, True))], axis=-1)
    # Keras' masked steps output zeros; the ops above ran them as ordinary steps after each row's end.
    return tf.transpose(outputs, (1, 0, 2)) * tf.cast(mask, sequences.dtype)[..., None]


def _fast_call(layer, kernels):
    keras_call = layer.call

    def call(sequences, initial_state=None, mask=None, training=None):
        if training or initial_state is not None:
            return keras_call(sequences, initial_state=initial_state, mask=mask, training=training)
        if mask is None:
            return bidirectional_lstm(layer, sequences, None, kernels)
        return tf.cond(is_right_padded(mask), lambda: bidirectional_lstm(layer, sequences, mask, kernels),
                       lambda: keras_call(sequences, mask=mask, training=False))

    return call


def _layers(model):
    """``model`` and every layer in it, nested models included (a plain function has none)."""
    yield model
    for layer in getattr(model, "layers", ()):
        yield from _layers(layer)


def _stacked(cell, kernels):
    """``cell``'s stacked kernels: its variable in ``kernels`` (:class:`FusedKernels` or None), else stacked now."""
    kernel = None if kernels is None else kernels.get(cell)
    return fused_kernel(cell) if kernel is None else kernel


@contextlib.contextmanager
def fast_lstms(model, kernels=None):
    """Within the block, calling ``model`` for inference runs its ``Bidirectional(LSTM)`` layers with
    :func:`bidirectional_lstm` (the layer objects' ``call`` is replaced, then restored: one thread at a time
    should trace a given model under it, as the exporter and the Trainer do). The stacked kernels come from
    ``kernels`` (:class:`FusedKernels`) or are stacked once on entering (in the graph being traced)."""
    replaced = []
    try:
        for layer in _layers(model):
            if not applies_to(layer):
                continue
            if "call" not in vars(layer):  # not already inside another fast_lstms block
                cells = (layer.forward_layer.cell, layer.backward_layer.cell)
                layer.call = _fast_call(layer, tuple(_stacked(cell, kernels) for cell in cells))
                replaced.append(layer)
        yield
    finally:
        for layer in replaced:
            del layer.call
