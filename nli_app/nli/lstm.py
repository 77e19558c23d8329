"""Bidirectional LSTM for ESIM's input encoding (Chen et al. 2017, eq. 1-2) and inference composition (eq. 17),
with the loop carrying only the recurrent part; Keras layers and keras.ops only.

The function is exactly ``keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True))`` with a
padding mask (the BiLSTM this project's ESIM used first): per direction, with gates in Keras' order ``i, f, c, o``,

    z_t = x_t W + h_{t-1} U + b,  i, f, o = σ(z_i), σ(z_f), σ(z_o),  c_t = f ⊙ c_{t-1} + i ⊙ tanh(z_c),
    h_t = o ⊙ tanh(c_t)

(Hochreiter & Schmidhuber 1997; eq. 1-2 of the paper), the backward direction reading the sequence right to left;
at a masked step the state is carried over unchanged and the output is zero; the output is ``[h_fwd; h_bwd]``.
Weights have Keras' layout and order (forward kernel [D, 4u], recurrent kernel [u, 4u], bias [4u], then the same
for the backward direction), so ``BiLSTM.set_weights(bidirectional_lstm.get_weights())`` carries a trained layer
over.

What it does differently from Keras' generic LSTM loop (which multiplies each step's input by the kernel inside the
loop, one direction at a time, and runs every padded step for every row):

* the input projection ``x W + b`` of both directions is ONE matmul over the whole sequence before the loop;
* both directions advance in the same loop iteration (one batched ``[2, R, u] x [2, u, 4u]`` matmul per step);
* each row's valid steps are moved to the front (the backward direction's reversed within the row) and rows are
  sorted longest first, so at step t only the rows still running (a prefix) are computed, as PyTorch's packed
  sequences do (TensorFlow backend; backends that need static shapes compute every row and mask);
* called with a list of sequences (ESIM's premise and hypothesis), they are padded to the longest, concatenated
  along the batch and encoded in ONE loop, then split back.
"""
import keras
from keras import ops

from nli_app.nli import pair_batch



@keras.saving.register_keras_serializable(package="nli_app")
class BiLSTM(keras.layers.Layer):
    """``x [B, T, D]`` (mask ``[B, T]`` bool, optional) -> ``[B, T, 2 * units]``; or lists of those (one loop).

    Initialisers as ``keras.layers.LSTM``: Glorot-uniform kernels, orthogonal recurrent kernels, zero biases with
    the forget gate's set to 1 (``unit_forget_bias``).
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        u = self.units

        def forget_bias(shape, dtype=None):
            return ops.concatenate([ops.zeros((u,), dtype), ops.ones((u,), dtype), ops.zeros((2 * u,), dtype)])

        self.direction_weights = []
        for direction in ("forward", "backward"):
            kernel = self.add_weight(shape=(input_shape[-1], 4 * u), initializer=self.kernel_initializer,
                                     name=f"{direction}_kernel")
            recurrent = self.add_weight(shape=(u, 4 * u), initializer=self.recurrent_initializer,
                                        name=f"{direction}_recurrent_kernel")
            bias = self.add_weight(shape=(4 * u,), initializer=forget_bias, name=f"{direction}_bias")
            self.direction_weights.append((kernel, recurrent, bias))

    def _encode(self, x, mask):
        u = self.units
        rows, steps = ops.shape(x)[0], ops.shape(x)[1]
        if mask is None:
            mask = ops.ones((rows, steps), "bool")
        lengths = ops.sum(ops.cast(mask, "int32"), axis=1)  # [R]
        position = ops.expand_dims(ops.arange(steps, dtype="int32"), 0)  # [1, T]
        # Each row's valid steps first, in order (masked steps leave the state alone, so skipping them is exact);
        # the backward direction reads them right to left; rows longest first, so the rows still running at step t
        # are a prefix of the batch.
        compact = ops.argsort(ops.where(mask, position, position + steps), axis=1)  # [R, T]
        ends = ops.expand_dims(lengths, 1)
        reverse = ops.take_along_axis(compact, ops.where(position < ends, ends - 1 - position, position), axis=1)
        by_length = ops.argsort(-lengths)
        base = ops.expand_dims(by_length * steps, 1)
        index_f = ops.reshape(ops.take(compact, by_length, axis=0) + base, (-1,))  # [R*T] into [R*T] positions
        index_b = ops.reshape(ops.take(reverse, by_length, axis=0) + base, (-1,))
        running = ops.sum(ops.cast(ops.take(lengths, by_length)[:, None] > position, "int32"), axis=0)  # [T]

        (kf, rf, bf), (kb, rb, bb) = self.direction_weights
        xw = ops.matmul(ops.reshape(x, (-1, ops.shape(x)[-1])), ops.concatenate([kf, kb], axis=1))
        xw = xw + ops.concatenate([bf, bb])  # [R*T, 8u]: the input projection of both directions, one matmul

        def time_major(index, part):
            return ops.transpose(ops.reshape(ops.take(part, index, axis=0), (rows, steps, 4 * u)), (1, 0, 2))

        inputs = ops.stack([time_major(index_f, xw[:, :4 * u]), time_major(index_b, xw[:, 4 * u:])], axis=1)
        recurrent = ops.stack([rf.value, rb.value])  # [2, u, 4u]
        dynamic = keras.backend.backend() == "tensorflow"  # other backends need static shapes: no row slicing

        def step(carry, z_x):
            h, c, t = carry
            n = ops.take(running, t)
            if dynamic:  # only the rows still running
                h, c, z_x = h[:, :n], c[:, :n], z_x[:, :n]
            z = z_x + ops.matmul(h, recurrent)
            i, f = ops.sigmoid(z[..., :u]), ops.sigmoid(z[..., u:2 * u])
            c_new = f * c + i * ops.tanh(z[..., 2 * u:3 * u])
            h_new = ops.sigmoid(z[..., 3 * u:]) * ops.tanh(c_new)
            h_all, c_all, _ = carry
            if dynamic:
                done = h_all[:, n:]
                out = ops.concatenate([h_new, ops.zeros_like(done)], axis=1)
                h_new, c_new = ops.concatenate([h_new, done], axis=1), ops.concatenate([c_new, c_all[:, n:]], axis=1)
            else:
                keep = ops.cast(ops.arange(rows)[None, :, None] < n, h.dtype)
                out = keep * h_new
                h_new, c_new = out + (1 - keep) * h_all, keep * c_new + (1 - keep) * c_all
            # keras.ops.scan wants outputs shaped like the carry, and one input tensor (several fail to trace
            # when the number of steps is unknown), hence the step counter in the carry.
            return (h_new, c_new, t + 1), (out, c_all, t)

        zeros = ops.zeros((2, rows, u), x.dtype)
        start = ops.convert_to_tensor(0, "int32")
        _, (outputs, _, _) = ops.scan(step, (zeros, zeros, start), inputs)  # [T, 2, R, u], sorted rows
        outputs = ops.reshape(ops.transpose(outputs, (1, 2, 0, 3)), (2, -1, u))  # [2, R*T, u]
        forward = ops.take(outputs[0], ops.argsort(index_f), axis=0)  # back to (row, position)
        backward = ops.take(outputs[1], ops.argsort(index_b), axis=0)
        return ops.reshape(ops.concatenate([forward, backward], axis=-1), (rows, steps, 2 * u))

    def call(self, inputs, mask=None):
        if not isinstance(inputs, (list, tuple)):
            return self._encode(inputs, mask)
        masks = list(mask) if mask is not None else [None] * len(inputs)
        masks = [ops.ones(ops.shape(x)[:2], "bool") if m is None else m for x, m in zip(inputs, masks)]
        encoded = self._encode(pair_batch.concat_padded(inputs), pair_batch.concat_padded(masks, False))
        return pair_batch.split_padded(encoded, inputs)

    def compute_output_spec(self, inputs, mask=None):
        def spec(x):
            return keras.KerasTensor(tuple(x.shape[:-1]) + (2 * self.units,), dtype=self.compute_dtype)

        return [spec(x) for x in inputs] if isinstance(inputs, (list, tuple)) else spec(inputs)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer)}


def direction_weights(layer):
    """``[(kernel, recurrent_kernel, bias)]`` forward then backward, of a ``BiLSTM`` or a Keras
    ``Bidirectional(LSTM)`` (the layer older saved ESIM models hold)."""
    if isinstance(layer, BiLSTM):
        return list(layer.direction_weights)
    return [(d.cell.kernel, d.cell.recurrent_kernel, d.cell.bias) for d in (layer.forward_layer, layer.backward_layer)]
