"""Conservative training (Mu Li et al., 2014), a remedy of Keskar et al. (Section 4):

    x_{k+1} = argmin_x  (1/|B_k|) sum_{i in B_k} f_i(x) + lambda/2 ||x - x_k||^2,

solved approximately with a few (``inner_steps``) optimizer steps on the same batch B_k. The trainer's loss gets the
proximal term through a ``compute_loss`` override; ``repeating_batch_fn`` feeds every batch ``inner_steps`` times in a
row, and the anchor x_k is refreshed to the current weights at the first of them.
"""
import tensorflow as tf

from nli_app.train.trainer import Trainer


def repeating_batch_fn(inner_steps):
    """``batch_fn`` that yields every batch ``inner_steps`` times consecutively (the inner iterations on B_k)."""
    def batch_fn(dataset, global_batch_size):
        return dataset.batch(global_batch_size).flat_map(
            lambda x, y: tf.data.Dataset.from_tensors((x, y)).repeat(inner_steps))
    return batch_fn


class ConservativeTrainer(Trainer):
    """Trainer with the proximal term lambda/2 ||x - x_k||^2 of conservative training (use it with
    ``repeating_batch_fn(inner_steps)``).

    Args (beyond ``Trainer``'s): ``proximal_lambda``, the lambda above; ``inner_steps``, steps per batch B_k.
    """

    def __init__(self, *args, proximal_lambda, inner_steps, **kwargs):
        super().__init__(*args, **kwargs)
        self.proximal_lambda, self.inner_steps = proximal_lambda, inner_steps
        on_write, first = tf.VariableSynchronization.ON_WRITE, tf.VariableAggregation.ONLY_FIRST_REPLICA
        with self.strategy.scope():
            self._anchors = [tf.Variable(tf.convert_to_tensor(v), trainable=False, synchronization=on_write,
                                         aggregation=first) for v in self.model.trainable_variables]
            self._inner = tf.Variable(0, trainable=False, dtype=tf.int64, synchronization=on_write,
                                      aggregation=first)

    def compute_loss(self, model, x, y, training):
        loss, y_pred = super().compute_loss(model, x, y, training)
        if not training:
            return loss, y_pred
        refresh = tf.equal(self._inner % self.inner_steps, 0)
        weights = [tf.convert_to_tensor(v) for v in model.trainable_variables]
        penalty = []
        for anchor, w in zip(self._anchors, weights):
            anchor.assign(tf.where(refresh, w, anchor))
            penalty.append(tf.reduce_sum(tf.square(w - tf.stop_gradient(tf.convert_to_tensor(anchor)))))
        self._inner.assign_add(1)
        # Written as on one device: the trainer weights each replica's loss by its share of the batch.
        return loss + (0.5 * self.proximal_lambda) * tf.add_n(penalty), y_pred
