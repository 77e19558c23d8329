"""Data augmentation, the first remedy of Keskar et al. (Section 4): random translations (and horizontal flips for
natural images) applied per example on the fly, as a trainer ``batch_fn`` (tf.data code, kept in this module)."""
import math

import tensorflow as tf


def image_shape_of(input_shape):
    """(H, W, C) of an input: [H, W, C] as is, a flat [D] with D a square (MNIST) as [sqrt D, sqrt D, 1]."""
    if len(input_shape) == 3:
        return tuple(input_shape)
    if len(input_shape) == 1 and math.isqrt(input_shape[0]) ** 2 == input_shape[0]:
        side = math.isqrt(input_shape[0])
        return (side, side, 1)
    raise ValueError(f"data augmentation needs image inputs [H, W, C] or flat square images, got {input_shape}")


def augment_fn(input_shape, max_shift=2, flip=False, seed=0):
    """``f(x, y) -> (x', y)``: shift by up to ``max_shift`` pixels each way (zero padding), optionally flip."""
    h, w, c = image_shape_of(input_shape)
    generator = tf.random.Generator.from_seed(seed)

    def augment(x, y):
        image = tf.reshape(x, (h, w, c))
        padded = tf.pad(image, [[max_shift, max_shift], [max_shift, max_shift], [0, 0]])
        offset = generator.uniform([2], 0, 2 * max_shift + 1, dtype=tf.int32)
        image = tf.slice(padded, [offset[0], offset[1], 0], [h, w, c])
        if flip:
            image = tf.cond(generator.uniform([]) < 0.5, lambda: tf.reverse(image, [1]), lambda: image)
        return tf.reshape(image, tf.shape(x)), y

    return augment


def augmenting_batch_fn(input_shape, max_shift=2, flip=False, seed=0):
    """A trainer ``batch_fn(unbatched_ds, global_batch_size)`` that augments every example, then batches."""
    augment = augment_fn(input_shape, max_shift, flip, seed)

    def batch_fn(dataset, global_batch_size):
        return dataset.map(augment).batch(global_batch_size)

    return batch_fn
