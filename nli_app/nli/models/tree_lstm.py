"""Binary (N-ary, N = 2) tree-LSTM of Chen et al. 2017, eq. 3-10, batched one tree level at a time.

For node ``t`` with input ``x_t`` and children states ``(h_L, c_L)``, ``(h_R, c_R)`` (zero for a missing child,
so a leaf has zero children), with ``h = [h_L; h_R]``:

    h_t   = TrLSTM(x_t, h_L, h_R)                                            (eq. 3)
    h_t   = o_t * tanh(c_t)                                                  (eq. 4)
    o_t   = sigmoid(W_o x_t + U_o h + b_o)                                   (eq. 5)
    c_t   = f_L * c_L + f_R * c_R + i_t * u_t                                (eq. 6)
    f_L   = sigmoid(W_f x_t + U_fL h + b_f)                                  (eq. 7)
    f_R   = sigmoid(W_f x_t + U_fR h + b_f)                                  (eq. 8)
    i_t   = sigmoid(W_i x_t + U_i h + b_i)                                   (eq. 9)
    u_t   = tanh(W_u x_t + U_u h + b_u)                                      (eq. 10)

(the paper omits the biases; they are kept as in Tai et al. 2015). ``W_f`` is shared by both forget gates, the
``U`` blocks are per child as in the N-ary tree-LSTM.

Batching: node arrays come from ``trees.py`` (children before parents, each height one contiguous block, padding
nodes with height -1). The layer keeps flat ``[batch * (nodes + 2), units]`` buffers of ``h`` and ``c`` (per tree
two extra slots: the always-zero "no child" and a discard slot), and runs ONE batched cell call per height: it
gathers the nodes of that height from every tree in the batch (``max count`` of them), gathers their children from
the buffers, applies eq. 4-10 and scatters the results into their rows (``keras.ops.scatter_update``). ``W x``
is computed for all nodes at once before the loop, and so are the leaves (height 0, about half of the nodes): their
children are zero, so ``U h = 0`` and ``c_t = i_t * u_t`` exactly, with no recurrent matmul; the loop starts at
height 1. The number of heights and the width of each level are read from the data (``keras.ops.while_loop``),
which the TensorFlow backend runs with dynamic shapes. JAX's loops need static shapes, and reverse-mode gradients
need a static trip count, so under JAX the layer runs ``nodes - 1`` levels (``keras.ops.fori_loop``), each
``nodes`` wide: the same outputs and gradients for more work (``tests/test_jax_backend.py`` compares both with
the TensorFlow backend).
"""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nli_app")
class TreeLSTM(keras.layers.Layer):
    """Tree-LSTM over flat node arrays: ``(nodes [B,S,D], left, right, height [B,S]) -> h [B,S,units]``.

    Padding nodes (height < 0) get zero output and change nothing else. Called with
    ``return_input_gate_norms=True`` it also returns ``||i_t||_2`` per node ``[B,S]`` (Figure 3 of the paper).
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)

    def build(self, nodes_shape, left_shape=None, right_shape=None, height_shape=None):
        u = self.units
        # W: [i, f, o, u] blocks (f shared by both children); U: [i, f_L, f_R, o, u] blocks over [h_L; h_R].
        self.kernel = self.add_weight(shape=(nodes_shape[-1], 4 * u), initializer=self.kernel_initializer,
                                      name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(2 * u, 5 * u), initializer=self.recurrent_initializer,
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=(4 * u,), initializer="zeros", name="bias")

    def cell(self, wx, h_left, c_left, h_right, c_right):
        """Eq. 4-10 for a block of nodes: ``wx`` = W x + b ``[..., 4u]``, children states ``[..., u]``."""
        u = self.units
        uh = ops.matmul(ops.concatenate([h_left, h_right], axis=-1), self.recurrent_kernel)
        i = ops.sigmoid(wx[..., :u] + uh[..., :u])
        f_left = ops.sigmoid(wx[..., u:2 * u] + uh[..., u:2 * u])
        f_right = ops.sigmoid(wx[..., u:2 * u] + uh[..., 2 * u:3 * u])
        o = ops.sigmoid(wx[..., 2 * u:3 * u] + uh[..., 3 * u:4 * u])
        g = ops.tanh(wx[..., 3 * u:] + uh[..., 4 * u:])
        c = f_left * c_left + f_right * c_right + i * g
        return o * ops.tanh(c), c, i

    def _leaves(self, wx, height, slots):
        """Level 0 for all nodes at once: ``(h, c, ||i||)`` buffers holding the leaves' states, zero elsewhere."""
        u = self.units
        batch, size = ops.shape(height)[0], ops.shape(height)[1]
        leaf = ops.reshape(ops.cast(height == 0, self.compute_dtype), (-1, 1))
        i = ops.sigmoid(wx[:, :u])
        c = i * ops.tanh(wx[:, 3 * u:]) * leaf                     # eq. 6 with c_L = c_R = 0 (eq. 10: U h = 0)
        h = ops.sigmoid(wx[:, 2 * u:3 * u]) * ops.tanh(c)           # eq. 4-5
        gate_norms = ops.sqrt(ops.sum(ops.square(i), axis=-1)) * leaf[:, 0]

        def buffer(values, width):  # [B * size, width] -> [B * slots, width], each tree's two extra slots zero
            values = ops.reshape(values, (batch, size, width))
            values = ops.concatenate([values, ops.zeros((batch, 2, width), dtype=values.dtype)], axis=1)
            return ops.reshape(values, (batch * slots, width))

        return buffer(h, u), buffer(c, u), ops.reshape(buffer(gate_norms, 1), (-1,))

    def call(self, nodes, left, right, height, return_input_gate_norms=False):
        u = self.units
        left, right, height = (ops.cast(t, "int32") for t in (left, right, height))
        batch, size = ops.shape(height)[0], ops.shape(height)[1]
        slots = size + 2  # slot `size`: the zero state of a missing child; slot `size + 1`: discarded writes
        wx = ops.reshape(ops.matmul(nodes, self.kernel) + self.bias, (-1, 4 * u))
        offsets = ops.expand_dims(ops.arange(batch, dtype="int32") * slots, 1)  # [B, 1]
        wx_offsets = ops.expand_dims(ops.arange(batch, dtype="int32") * size, 1)
        child_left = ops.where(left < 0, size, left) + offsets
        child_right = ops.where(right < 0, size, right) + offsets
        real = height >= 0
        num_levels = ops.max(ops.where(real, height, -1)) + 1
        h0, c0, g0 = self._leaves(wx, height, slots)
        static_shapes = keras.backend.backend() == "jax"  # JAX loops carry static shapes (see the docstring)

        def max_width(count):  # TensorFlow: this level's longest row; JAX: every node
            return size if static_shapes else ops.max(count)

        def body(level, h_buf, c_buf, g_buf):
            count = ops.sum(ops.cast(height == level, "int32"), axis=1)  # [B]
            start = ops.sum(ops.cast(real & (height < level), "int32"), axis=1)
            k = ops.expand_dims(ops.arange(max_width(count), dtype="int32"), 0)
            member = ops.minimum(ops.expand_dims(start, 1) + k, size - 1)  # [B, W] node ids of this level

            def gather(buffer, index):
                return ops.take(buffer, ops.reshape(index, (-1,)), axis=0)

            wx_level = gather(wx, member + wx_offsets)
            children_l = ops.take_along_axis(child_left, member, axis=1)
            children_r = ops.take_along_axis(child_right, member, axis=1)
            h_new, c_new, i = self.cell(wx_level, gather(h_buf, children_l), gather(c_buf, children_l),
                                        gather(h_buf, children_r), gather(c_buf, children_r))
            # Scatter the level's nodes into their rows; the padding of short levels goes to the discard slot.
            rows = ops.where(k < ops.expand_dims(count, 1), member, size + 1) + offsets
            rows = ops.reshape(rows, (-1, 1))

            def scatter(buffer, new):
                return ops.scatter_update(buffer, rows, ops.reshape(new, (-1,) + tuple(buffer.shape[1:])))

            i_norm = ops.sqrt(ops.sum(ops.square(i), axis=-1))
            return level + 1, scatter(h_buf, h_new), scatter(c_buf, c_new), scatter(g_buf, i_norm)

        if static_shapes:  # a static trip count (levels 1 .. size - 1; the ones above the root write nothing)
            h_buf, _, g_buf = ops.fori_loop(1, size, lambda level, bufs: body(level, *bufs)[1:], (h0, c0, g0))
        else:
            _, h_buf, _, g_buf = ops.while_loop(lambda level, *_: level < num_levels, body,
                                                (ops.convert_to_tensor(1, "int32"), h0, c0, g0))
        h = ops.reshape(h_buf, (batch, slots, u))[:, :size]
        if return_input_gate_norms:
            return h, ops.reshape(g_buf, (batch, slots))[:, :size]
        return h

    def compute_output_spec(self, nodes, left, right, height, return_input_gate_norms=False):
        h = keras.KerasTensor(tuple(height.shape) + (self.units,), dtype=self.compute_dtype)
        if return_input_gate_norms:
            return h, keras.KerasTensor(tuple(height.shape), dtype=self.compute_dtype)
        return h

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer)}
