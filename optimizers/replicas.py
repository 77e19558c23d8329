"""How many replicas' shares a Keras optimizer sums when it applies a gradient (TF-only: tf.distribute).

A Keras optimizer called in a ``tf.distribute`` replica context (``model.fit`` under a strategy) gets each
replica's share of the gradient and sums the shares itself; called anywhere else (no strategy, or cross-replica
context as in nli_app's trainer) it takes the gradient as given. TensorFlow is imported only under its backend, so
`import optimizers` does not load it under JAX.
"""
import keras


def summed_replicas():
    """The number of per-replica shares the optimizer applied now will sum (1: the gradient is used as given)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf  # noqa: PLC0415 - TF-only, and only here (see the module docstring)

    context = tf.distribute.get_replica_context()
    return context.num_replicas_in_sync if context is not None else 1
