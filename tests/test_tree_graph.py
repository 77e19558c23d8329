"""In-graph tree building (``tree_graph``, used by the SavedModel export) equals ``trees.py`` array for array."""
import json

import numpy as np
import pytest
import tensorflow as tf

from nli_app.nli import tree_graph
from nli_app.nli.data import snli, trees

SAMPLE = snli.sample_path("dev")
PARSE_TREES = tf.function(tree_graph.parse_trees, input_signature=[tf.TensorSpec([None], tf.string)])


def assert_same(graph, reference):
    assert set(graph) == set(reference)
    for k in reference:
        np.testing.assert_array_equal(graph[k].numpy(), reference[k], err_msg=k)


def test_full_binary_trees_match():
    counts = list(range(1, 18)) + [33]
    graph = tf.function(tree_graph.full_binary_trees)(tf.constant(counts))
    assert_same(graph, trees.pad_tree_batch([trees.full_binary_tree(n) for n in counts]))


def test_real_parses_and_fallback_match():
    with open(SAMPLE) as f:
        rows = [json.loads(line) for line in f][:40]
    parses = [r[k] for r in rows for k in ("sentence1_binary_parse", "sentence2_binary_parse")]
    parses += ["( Hi )", "( ( dog ) ( runs ) )", "word"]
    assert_same(PARSE_TREES(tf.constant(parses)),
                trees.pad_tree_batch([trees.parse_tree(p) for p in parses]))
    mixed = tf.function(tree_graph.trees_or_full)(tf.constant([parses[0], "", "  "]), tf.constant([0, 4, 2]))
    assert_same(mixed, trees.pad_tree_batch([trees.parse_tree(parses[0]), trees.full_binary_tree(4),
                                             trees.full_binary_tree(2)]))
    words = tree_graph.parse_words(tf.constant(parses[:3]))
    assert [[w.decode() for w in row] for row in words.to_list()] == [trees.parse_tokens(p) for p in parses[:3]]


@pytest.mark.parametrize("parse", ["( ( A dog ) runs", "( A dog ) )", "( A dog runs )", "( ( ) dog )",
                                   "( A dog ) ( runs )", "( )"])
def test_malformed_parse_fails_with_invalid_argument(parse):
    with pytest.raises(tf.errors.InvalidArgumentError, match="malformed binary parse"):
        PARSE_TREES(tf.constant([parse]))
