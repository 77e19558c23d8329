"""tf.data input pipeline for SNLI (TF-only): examples -> unbatched ``(features, label)`` and length bucketing.

Features follow DESIGN.md: ``premise`` / ``hypothesis`` int32 ids ``_BOS_ w_1 ... w_n _EOS_``; with ``with_trees``
also ``premise_<k>`` / ``hypothesis_<k>`` for every array ``k`` of ``trees.tree_features`` (syntactic parse, or
the full binary tree of Table 2's "ESIM + tree" with ``tree_kind="full"``). Labels are int32 ids of
``snli.LABELS``. ``bucket_batch_fn`` is the ``batch_fn`` for ``Trainer``: it groups examples of similar length
(Chen et al. 2017 bucket by length too) and pads ids with ``_PAD_`` and tree arrays exactly as
``trees.pad_tree_batch`` does (with ``trees.PAD``).
"""
import numpy as np
import tensorflow as tf

from nli_app.nli.data import trees
from nli_app.nli.data import vocab as vocab_lib

SIDES = ("premise", "hypothesis")
DEFAULT_BUCKET_BOUNDARIES = (8, 12, 16, 20, 25, 30, 40, 50, 70)


def encode_examples(examples, vocabulary, with_trees=False, tree_kind="syntactic"):
    """Python lists of per-example arrays: ``(features: dict name -> list[np.ndarray], labels: np.ndarray)``."""
    if tree_kind not in ("syntactic", "full"):
        raise ValueError(f"tree_kind must be 'syntactic' or 'full', got {tree_kind!r}")
    features = {side: [] for side in SIDES}
    for e in examples:
        for side in SIDES:
            features[side].append(np.asarray(vocabulary.encode(getattr(e, f"{side}_tokens")), np.int32))
            if with_trees:
                parse = getattr(e, f"{side}_parse") if tree_kind == "syntactic" else None
                if tree_kind == "syntactic" and parse is None:
                    raise ValueError(f"{e.pair_id}: no binary parse of the {side}; syntactic trees need one")
                tree = trees.tree_features(parse, list(getattr(e, f"{side}_tokens")), where=e.pair_id)
                for key, value in tree.items():
                    features.setdefault(f"{side}_{key}", []).append(np.asarray(value))
    labels = np.asarray([e.label for e in examples], np.int32)
    return features, labels


def _ragged_slices(rows):
    lengths = np.asarray([len(r) for r in rows], np.int64)
    values = np.concatenate(rows) if rows else np.zeros([0], np.int32)
    return tf.RaggedTensor.from_row_lengths(values, lengths)


def make_dataset(examples, vocabulary, with_trees=False, tree_kind="syntactic"):
    """Unbatched ``tf.data.Dataset`` of ``({"premise", "hypothesis"[, tree arrays]}, label)``."""
    if not examples:
        raise ValueError("make_dataset needs at least one example")
    features, labels = encode_examples(examples, vocabulary, with_trees, tree_kind)
    ragged = {name: _ragged_slices(rows) for name, rows in features.items()}
    dataset = tf.data.Dataset.from_tensor_slices((ragged, labels))
    return dataset.map(lambda x, y: ({k: v.to_tensor() if isinstance(v, tf.RaggedTensor) else v
                                      for k, v in x.items()}, y))


def _padding_values(element_spec):
    features, label = element_spec
    pad = {}
    for name, spec in features.items():
        value = vocab_lib.PAD_ID if name in SIDES else trees.PAD
        pad[name] = tf.constant(value, spec.dtype)
    return pad, tf.constant(0, label.dtype)


def bucket_batch_fn(boundaries=DEFAULT_BUCKET_BOUNDARIES):
    """``batch_fn(unbatched_ds, global_batch_size)`` grouping by max(premise, hypothesis) length into buckets
    split at ``boundaries``; ``boundaries=()`` is plain padded batching. Partial batches are kept."""
    boundaries = tf.constant(sorted(boundaries), tf.int32)

    def batch_fn(dataset, global_batch_size):
        if global_batch_size is None:  # full-batch gradient descent
            global_batch_size = int(dataset.cardinality())
            if global_batch_size < 1:
                raise ValueError("full-batch training needs a dataset of known, non-zero size")
        padding = _padding_values(dataset.element_spec)

        def key(features, label):
            length = tf.maximum(tf.shape(features["premise"])[0], tf.shape(features["hypothesis"])[0])
            return tf.reduce_sum(tf.cast(length > boundaries, tf.int64))

        return dataset.group_by_window(
            key, lambda _, window: window.padded_batch(global_batch_size, padding_values=padding),
            window_size=global_batch_size)

    return batch_fn
