"""Sparse gradients: what the optimizers in this package do with them.

With the TensorFlow backend, the gradient of a gather (e.g. a `keras.layers.Embedding`) arrives as a
`tf.IndexedSlices`: the rows that were looked up, one slice per lookup, so a token that occurs twice in a batch
contributes two slices with the same index. Keras' own optimizers feed such gradients to sparse-aware `keras.ops`,
which keeps some updates sparse but applies element-wise non-linearities slice by slice: Keras' `Adagrad` adds
`g_1^2 + g_2^2` for a repeated row instead of the survey's `(g_1 + g_2)^2`, and its `Adam` densifies anyway.

This package uses one exact reading: every optimizer applies the survey's equations to the *equivalent dense
gradient* (slices summed into a zero tensor of the variable's shape, duplicates added). Rows that were not looked up
therefore see g = 0: their accumulators decay (RMSprop, Adadelta, Adam, ...) and momentum keeps moving them, exactly
as the equations say for a zero gradient. Only plain SGD keeps the update sparse, because there the scatter
`theta[i] -= eta * g_k` over all slices k of row i *is* the dense update.

Cost, and the faster option this package does not take: at ESIM's sizes (42,000 x 300 embedding, batch 32) the
dense reading makes Adam read and write every one of the 12.6 M embedding entries (and both moments) each step,
although only the few hundred rows of the batch have a non-zero gradient; that is as much work as PyTorch's default
(dense) `nn.Embedding` + `torch.optim.Adam`. A "lazy" Adam that updates only the looked-up rows (moments and
weights; TensorFlow 1's `LazyAdamOptimizer`, PyTorch's `SparseAdam`) would skip that work but is a different rule:
rows absent from a batch would keep stale moments instead of decaying, and would not move. Where that is
acceptable, freezing the embeddings (`build_esim(..., trainable_embeddings=False)`, e.g. with GloVe) removes the
cost exactly; the default stays the survey's equations.

What happens before `update_step` is Keras' base class, unchanged: under `tf.distribute` the replicas' slices are
concatenated by the all-reduce (still exact once summed here); gradient accumulation densifies; `clipnorm` clips
an `IndexedSlices` by the norm of its slices, which for repeated rows is not the norm of the dense gradient.
"""
from keras import ops


def is_sparse(gradient):
    """True for `tf.IndexedSlices` / `tf.SparseTensor` gradients (the objects that carry a `dense_shape`)."""
    return getattr(gradient, "dense_shape", None) is not None


def to_dense(gradient):
    """The dense tensor equal to `gradient`: duplicate slices are summed, dense gradients pass through unchanged.

    Keras' sparse-aware element-wise ops densify an `IndexedSlices` operand that meets a dense one (a sum over
    duplicates, `tf.convert_to_tensor`'s rule), so adding a dense zero is the backend-agnostic conversion.
    """
    if not is_sparse(gradient):
        return gradient
    return ops.add(gradient, ops.zeros((), dtype=gradient.dtype))
