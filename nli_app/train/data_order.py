"""The order in which an epoch visits the training examples (Ruder's survey, section 5.1 "Shuffling and
Curriculum Learning").

Each order is a small callable ``order(dataset, epoch, seed) -> dataset`` over the *unbatched* training set; the
trainer calls it at the start of every epoch (before ``batch_fn``), so an epoch is a pure function of
``(seed, epoch)`` and a resumed run sees exactly the batches an uninterrupted one would.

* :class:`Shuffle`  — a fresh permutation every epoch, seeded by ``seed + epoch`` (the survey: "shuffle the
  training data after every epoch" to avoid biasing the optimisation).
* :class:`InOrder`  — the dataset's own order.
* :class:`Curriculum` — easy to hard by a user key (smaller key = easier), the same order every epoch.
* :class:`MixedCurriculum` — Zaremba & Sutskever's ("Learning to Execute", 2014) level-based strategies, which the
  survey reports work better than plain sorting: ``naive_fraction=1`` is their *naive* curriculum (draw only from
  the current difficulty level, one level up every ``epochs_per_level`` epochs), ``0`` their *mix* strategy
  (a uniformly random level for every example), ``0.5`` their *combined* strategy (each example from the naive
  or the mix strategy with equal probability).
"""
import numpy as np
import tensorflow as tf


def cardinality(dataset):
    """Number of elements of a finite dataset (counted once when tf.data cannot tell statically)."""
    n = int(dataset.cardinality())
    if n == tf.data.INFINITE_CARDINALITY:
        raise ValueError("the training dataset is infinite; pass a finite dataset and let the trainer repeat it")
    if n < 0:
        n = int(dataset.reduce(np.int64(0), lambda count, _: count + 1))
    return n


class InOrder:
    """The dataset's own order, every epoch."""

    def __call__(self, dataset, epoch, seed):
        return dataset


class Shuffle:
    """A new permutation each epoch, seeded by ``seed + epoch``.

    ``buffer_size`` None shuffles the whole dataset (a uniform permutation); a smaller buffer bounds memory.
    """

    def __init__(self, buffer_size=None):
        self.buffer_size = buffer_size
        self._sizes = {}

    def __call__(self, dataset, epoch, seed):
        if not self.buffer_size and id(dataset) not in self._sizes:  # counted once per dataset
            self._sizes = {id(dataset): max(cardinality(dataset), 1)}
        buffer_size = self.buffer_size or self._sizes[id(dataset)]
        return dataset.shuffle(buffer_size, seed=seed + epoch, reshuffle_each_iteration=False)


class _Materialized:
    """The examples of a finite dataset held in memory, with their difficulty keys, for reordering by index."""

    def __init__(self, dataset, key_fn):
        n = cardinality(dataset)
        self.table = next(iter(dataset.ragged_batch(max(n, 1))))
        batches = [np.asarray(k) for k in dataset.map(lambda *element: key_fn(*element)).batch(4096)]
        if any(k.ndim != 1 for k in batches):
            raise ValueError("key_fn must return one scalar per example, got keys of shape "
                             f"{[k.shape[1:] for k in batches if k.ndim != 1][0]}")
        self.keys = np.concatenate(batches).astype(np.float64) if batches else np.zeros(0)

    def take(self, indices):
        """The examples at ``indices`` (a 1-D int array), in that order, as an unbatched dataset."""
        table = self.table
        return tf.data.Dataset.from_tensor_slices(np.asarray(indices, np.int64)).map(
            lambda i: tf.nest.map_structure(lambda t: t[i], table))


class _KeyedOrder:
    def __init__(self, key_fn):
        self.key_fn = key_fn
        self._cache = {}

    def _materialized(self, dataset):
        # The trainer passes the same dataset object every epoch; the keys are computed once.
        if id(dataset) not in self._cache:
            self._cache = {id(dataset): _Materialized(dataset, self.key_fn)}
        return self._cache[id(dataset)]


class Curriculum(_KeyedOrder):
    """Easiest first: examples sorted by ``key_fn(features, label)`` ascending (stable for ties), every epoch."""

    def order(self, keys):
        return np.argsort(keys, kind="stable")

    def __call__(self, dataset, epoch, seed):
        table = self._materialized(dataset)
        return table.take(self.order(table.keys))


class MixedCurriculum(_KeyedOrder):
    """Zaremba & Sutskever's naive / mix / combined curricula over ``num_levels`` difficulty levels.

    Levels are equal-sized groups of the examples sorted by key (level 1 the easiest). At epoch ``e`` the current
    level is ``min(1 + e // epochs_per_level, num_levels)``. An epoch draws as many examples as the dataset holds,
    with replacement: each draw, with probability ``naive_fraction``, is a uniform example of the current level
    (naive); otherwise a uniform level from 1..num_levels, then a uniform example of it (mix).
    """

    def __init__(self, key_fn, num_levels=4, epochs_per_level=1, naive_fraction=0.5):
        super().__init__(key_fn)
        if num_levels < 1 or epochs_per_level < 1 or not 0.0 <= naive_fraction <= 1.0:
            raise ValueError("need num_levels >= 1, epochs_per_level >= 1 and 0 <= naive_fraction <= 1, got "
                             f"{num_levels}, {epochs_per_level}, {naive_fraction}")
        self.num_levels = num_levels
        self.epochs_per_level = epochs_per_level
        self.naive_fraction = naive_fraction

    def levels(self, keys):
        """List of index arrays, one per level, easiest level first."""
        if len(keys) < self.num_levels:
            raise ValueError(f"{len(keys)} examples cannot fill {self.num_levels} difficulty levels")
        return np.array_split(np.argsort(keys, kind="stable"), self.num_levels)

    def current_level(self, epoch):
        """0-based index of the naive strategy's level at ``epoch``."""
        return min(epoch // self.epochs_per_level, self.num_levels - 1)

    def order(self, keys, epoch, seed):
        levels = self.levels(keys)
        rng = np.random.default_rng([seed, epoch])
        naive = rng.random(len(keys)) < self.naive_fraction
        chosen_level = np.where(naive, self.current_level(epoch), rng.integers(0, self.num_levels, len(keys)))
        sizes = np.array([len(level) for level in levels])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        within = np.floor(rng.random(len(keys)) * sizes[chosen_level]).astype(np.int64)
        return np.concatenate(levels)[starts[chosen_level] + within]

    def __call__(self, dataset, epoch, seed):
        table = self._materialized(dataset)
        return table.take(self.order(table.keys, epoch, seed))
