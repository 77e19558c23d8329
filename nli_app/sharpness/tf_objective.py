"""The TensorFlow part of ``model_sharpness``: f(w) = mean loss of a Keras model over a dataset, and its gradient,
as functions of the model's trainable weights flattened into one float64 vector.

Kept apart from the numpy/scipy metric (``box``) so that only this file knows about TensorFlow. Evaluation is
batched: one compiled ``tf.function`` per batch shape sums the per-example losses and their gradient; the weights are
written into the model's variables once per evaluation. By default layers run in inference mode (BatchNorm uses its
moving statistics, Dropout is off), so f is deterministic; ``training=True`` calls the model in training mode, which
``model.batch_statistics`` turns into "BatchNorm normalises with each batch's own statistics, nothing else changes".
f is the mean (or, with ``reduction="sum"``, the sum) of the per-example losses, computed in the variables' dtype.
"""
import numpy as np
import tensorflow as tf


class FlatObjective:
    """``objective(w) -> (f, grad)`` for ``box_sharpness``; ``objective.x0`` is the model's current weight vector.

    Args:
      model: a built Keras model.
      batches: a list of ``(features, labels)`` batches (numpy arrays or nested dicts of them).
      loss_fn: ``loss_fn(labels, predictions) -> per-example losses`` (keras.ops or TF).
      jit_compile: compile each batch step with XLA.
      reduction: "mean" (f = the average loss) or "sum" (f = the total loss over the examples).
      training: call the model with ``training=True`` (see the module docstring).
    """

    def __init__(self, model, batches, loss_fn, jit_compile=False, reduction="mean", training=False):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        if not batches:
            raise ValueError("model_sharpness needs at least one example")
        self._model = model
        self._variables = list(model.trainable_variables)
        if not self._variables:
            raise ValueError(f"model {model.name!r} has no trainable weights")
        self._shapes = [tuple(v.shape) for v in self._variables]
        self._sizes = [int(np.prod(s)) for s in self._shapes]
        self._batches = batches
        self.count = sum(int(tf.nest.flatten(y)[0].shape[0]) for _, y in batches)
        self._loss_fn = loss_fn
        self._divisor = self.count if reduction == "mean" else 1
        self._training = bool(training)
        self._dtype = self._variables[0].dtype
        self._step = tf.function(self._sum_loss_and_gradient, jit_compile=jit_compile, reduce_retracing=True)
        self._hvp_step = tf.function(self._sum_hvp, jit_compile=jit_compile, reduce_retracing=True)
        self._loss_step = tf.function(self._sum_loss, jit_compile=jit_compile, reduce_retracing=True)
        self.evaluations = 0

    @property
    def x0(self):
        return np.concatenate([np.asarray(v.numpy(), np.float64).ravel() for v in self._variables])

    def assign(self, w):
        """Write the flat vector w into the model's trainable variables."""
        for v, part, shape in zip(self._variables, np.split(np.asarray(w), np.cumsum(self._sizes)[:-1]),
                                  self._shapes):
            v.assign(part.reshape(shape).astype(v.dtype.name if hasattr(v.dtype, "name") else v.dtype))

    def _sum_loss(self, features, labels):
        predictions = self._model(features, training=self._training)
        return tf.reduce_sum(tf.cast(self._loss_fn(labels, predictions), self._dtype))

    def _flat(self, grads):
        return tf.concat([tf.reshape(tf.zeros_like(v) if g is None else tf.convert_to_tensor(g), [-1])
                          for g, v in zip(grads, self._variables)], axis=0)

    def _sum_loss_and_gradient(self, features, labels):
        with tf.GradientTape() as tape:
            total = self._sum_loss(features, labels)
        return total, self._flat(tape.gradient(total, self._variables))

    def _sum_hvp(self, features, labels, vector):
        """H v of the summed loss by double backpropagation: the gradient of (grad f . v)."""
        parts = tf.split(vector, self._sizes)
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                total = self._sum_loss(features, labels)
            grads = inner.gradient(total, self._variables)
            dot = tf.add_n([tf.reduce_sum(tf.convert_to_tensor(g) * tf.reshape(part, v.shape))
                            for g, part, v in zip(grads, parts, self._variables) if g is not None])
        return self._flat(outer.gradient(dot, self._variables))

    def loss(self, w):
        """f(w) alone (a forward pass per batch), for loss surfaces."""
        self.assign(w)
        return sum(float(self._loss_step(features, labels)) for features, labels in self._batches) / self._divisor

    def hvp(self, w, v):
        """The Hessian-vector product H(w) v of f (exact, float32 arithmetic), as a float64 vector."""
        self.assign(w)
        vector = tf.constant(np.asarray(v), dtype=self._variables[0].dtype)
        out = np.zeros(sum(self._sizes), np.float64)
        for features, labels in self._batches:
            out += self._hvp_step(features, labels, vector).numpy()
        return out / self._divisor

    def __call__(self, w):
        self.assign(w)
        total, grad = 0.0, np.zeros(sum(self._sizes), np.float64)
        for features, labels in self._batches:
            loss, g = self._step(features, labels)
            total += float(loss)
            grad += g.numpy()
        self.evaluations += 1
        return total / self._divisor, grad / self._divisor
