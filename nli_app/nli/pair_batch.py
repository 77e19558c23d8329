"""Both sentences of a pair through one recurrent layer call: pad along axis 1 to the longer, concatenate along the
batch, and split the result back (keras.ops only).

A recurrent loop costs per step, not per row, so encoding premise and hypothesis together (ESIM's shared BiLSTMs,
eq. 1-2 and 17; the shared tree-LSTMs of the tree model, eq. 3-10) halves the number of loops; the padding added
to the shorter side is masked, so it changes nothing.
"""
from keras import ops


def concat_padded(tensors, value=0):
    """``[B_k, T_k, ...]`` tensors -> ``[sum B_k, max T_k, ...]``, each padded with ``value`` along axis 1."""
    lengths = [ops.shape(t)[1] for t in tensors]
    length = max(lengths) if all(isinstance(n, int) for n in lengths) else ops.max(ops.stack(lengths))
    padded = []
    for t, n in zip(tensors, lengths):
        width = [[0, 0], [0, length - n]] + [[0, 0]] * (len(t.shape) - 2)
        padded.append(ops.pad(t, width, constant_values=value))
    return ops.concatenate(padded, axis=0)


def split_padded(x, like):
    """Inverse of ``concat_padded``: ``x [sum B_k, T, ...]`` -> the ``[B_k, T_k, ...]`` rows of each of ``like``."""
    out, start = [], 0
    for t in like:
        batch, length = ops.shape(t)[0], ops.shape(t)[1]
        out.append(x[start:start + batch, :length])
        start = start + batch
    return out
