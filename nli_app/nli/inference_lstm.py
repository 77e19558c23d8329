"""A faster inference graph for ``Bidirectional(LSTM)`` layers (TF-only): the same outputs, fewer ops per step.

On CPU, Keras runs each direction of a ``Bidirectional(LSTM)`` as a ``tf.while_loop`` whose every step multiplies
that step's input by the input kernel, adds the bias, splits, activates, masks and writes: about 25 small ops per
step, and at batch 1 each op costs more to dispatch than to compute. ESIM runs four such loops per sentence, so one
SNLI pair (16 + 10 steps with ``_BOS_``/``_EOS_``) costs ~2,500 op dispatches, most of its latency.

:func:`bidirectional_lstm` computes the same thing with the input projections ``x W + b`` of every step hoisted
out of the loops (one matmul per direction over the whole sequence) and a loop body of one matmul, one add, the
gates and the masking (Keras' rules: a masked step keeps the previous state and outputs zeros, the backward
direction runs over the reversed padded sequence). The two directions stay two loops, which the executor runs
concurrently. Outputs equal Keras' up to float rounding (the hoisted matmul sums in another order: ~1e-7).

It wins only on small batches: on 2 CPU cores a whole ESIM call is 1.4x faster at batch 1, 2x at 8, 1.15x at 16,
but 7% slower at 32 and 16% at 64, where Keras' loop overlaps each step's input matmul with the recurrence of the
step before. :data:`MAX_BATCH` is where it stops paying; ``sorted_inference.predict`` uses it up to there.

:func:`fast_lstms` applies it while a model is called for inference: inside the ``with`` block every
``Bidirectional(LSTM)`` of the model whose configuration it reproduces (``tanh`` / ``sigmoid``, a bias, full
sequences concatenated, no initial state, ``training`` false) computes with it; everything else (training, other
layers, unusual configurations) runs Keras' own code. The weights and the saved model are untouched: it is a
different graph for the same layer, chosen when the inference graph is traced (``sorted_inference.predict``).
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


def _direction(cell, projected, mask, backwards):
    """One LSTM direction over time-major ``projected`` = x W + b [T, B, 4H] and ``mask`` [T, B, 1]."""
    if backwards:
        projected, mask = tf.reverse(projected, [0]), tf.reverse(mask, [0])
    recurrent_kernel = tf.cast(cell.recurrent_kernel.value, projected.dtype)
    steps = tf.shape(projected)[0]
    zeros = tf.zeros(tf.stack([tf.shape(projected)[1], cell.units]), projected.dtype)
    projected_steps = tf.TensorArray(projected.dtype, size=steps).unstack(projected)
    mask_steps = tf.TensorArray(tf.bool, size=steps).unstack(mask)

    def step(t, h, c, outputs):
        z = projected_steps.read(t) + tf.matmul(h, recurrent_kernel)
        keep = mask_steps.read(t)
        i, f, g, o = tf.split(z, 4, axis=-1)   # Keras' gate order
        c_new = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h_new = tf.sigmoid(o) * tf.tanh(c_new)
        return (t + 1, tf.where(keep, h_new, h), tf.where(keep, c_new, c),
                outputs.write(t, tf.where(keep, h_new, zeros)))

    outputs = tf.TensorArray(projected.dtype, size=steps)
    *_, outputs = tf.while_loop(lambda t, *_: t < steps, step, (tf.constant(0), zeros, zeros, outputs))
    outputs = outputs.stack()
    return tf.reverse(outputs, [0]) if backwards else outputs


def bidirectional_lstm(layer, sequences, mask=None):
    """``layer(sequences, mask=mask, training=False)`` of a ``Bidirectional(LSTM)`` (see :func:`applies_to`)."""
    sequences = tf.convert_to_tensor(sequences)
    time_major = tf.transpose(sequences, (1, 0, 2))
    if mask is None:
        mask = tf.ones(tf.shape(sequences)[:2], tf.bool)
    mask = tf.transpose(tf.cast(mask, tf.bool), (1, 0))[..., None]
    outputs = []
    for lstm, backwards in ((layer.forward_layer, False), (layer.backward_layer, True)):
        cell = lstm.cell
        projected = (tf.matmul(time_major, tf.cast(cell.kernel.value, sequences.dtype)) +
                     tf.cast(cell.bias.value, sequences.dtype))
        outputs.append(_direction(cell, projected, mask, backwards))
    return tf.transpose(tf.concat(outputs, axis=-1), (1, 0, 2))


def _fast_call(layer):
    keras_call = layer.call

    def call(sequences, initial_state=None, mask=None, training=None):
        if training or initial_state is not None:
            return keras_call(sequences, initial_state=initial_state, mask=mask, training=training)
        return bidirectional_lstm(layer, sequences, mask)

    return call


@contextlib.contextmanager
def fast_lstms(model):
    """Within the block, calling ``model`` for inference runs its ``Bidirectional(LSTM)`` layers with
    :func:`bidirectional_lstm` (the layer objects' ``call`` is replaced, then restored: one thread at a time
    should trace a given model under it, as the exporter and the Trainer do)."""
    if not isinstance(model, keras.layers.Layer):  # a plain function: nothing to replace
        layers = []
    else:
        layers = [layer for layer in model._flatten_layers(include_self=True, recursive=True) if applies_to(layer)]
    replaced = []
    try:
        for layer in layers:
            if "call" not in vars(layer):  # not already inside another fast_lstms block
                layer.call = _fast_call(layer)
                replaced.append(layer)
        yield
    finally:
        for layer in replaced:
            del layer.call
