"""Tree arrays of ``nli_app.nli.data.trees``: hand-checked parses, the full binary tree, batching and errors."""
import numpy as np
import pytest

from nli_app.nli.data import trees


def test_parse_arrays_hand_checked():
    # ( ( A dog ) ( ( runs fast ) . ) ): post-order A dog (A dog) runs fast (runs fast) . (.. .) root.
    t = trees.tree_features("( ( A dog ) ( ( runs fast ) . ) )", "A dog runs fast .".split())
    # Sorted by height, children first: leaves 0-4, then (A dog)=5 and (runs fast)=6, ((runs fast) .)=7, root=8.
    np.testing.assert_array_equal(t["height"], [0, 0, 0, 0, 0, 1, 1, 2, 3])
    np.testing.assert_array_equal(t["leaf"], [1, 2, 3, 4, 5, -1, -1, -1, -1])  # _BOS_ is position 0
    np.testing.assert_array_equal(t["left"], [-1, -1, -1, -1, -1, 0, 2, 6, 5])
    np.testing.assert_array_equal(t["right"], [-1, -1, -1, -1, -1, 1, 3, 4, 7])
    assert all(v.dtype == np.int32 for v in t.values())


def test_children_before_parents_on_real_parses():
    parse = "( ( The sisters ) ( ( are ( ( hugging goodbye ) ( while ( holding ( to ( ( go packages ) " \
            "( after ( just ( eating lunch ) ) ) ) ) ) ) ) ) . ) )"
    t = trees.parse_tree(parse, offset=0)
    n = len(t["height"])
    assert n == 2 * len(trees.parse_tokens(parse)) - 1
    assert np.all(np.diff(t["height"]) >= 0)
    for i in range(n):
        for child in (t["left"][i], t["right"][i]):
            if child >= 0:
                assert child < i and t["height"][child] < t["height"][i]
    internal = t["leaf"] < 0
    np.testing.assert_array_equal(t["height"][internal], 1 + np.maximum(t["height"][t["left"][internal]],
                                                                        t["height"][t["right"][internal]]))
    np.testing.assert_array_equal(t["leaf"][~internal], np.arange(len(trees.parse_tokens(parse))))


def test_unary_group_and_single_word():
    np.testing.assert_array_equal(trees.parse_tree("( ( dog ) ( runs ) )")["left"], [-1, -1, 0])
    single = trees.tree_features("( Hi )", ["Hi"])
    assert {k: v.tolist() for k, v in single.items()} == {"left": [-1], "right": [-1], "height": [0], "leaf": [1]}


def test_full_binary_tree_with_padding_nodes():
    # 5 words padded to 8 leaves: level1 (01)(23)(4 pad), level2 ((01)(23)) ((4 pad) pad), root.
    t = trees.tree_features(None, "a b c d e".split())
    np.testing.assert_array_equal(t["height"], [0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3])
    np.testing.assert_array_equal(t["left"], [-1] * 5 + [0, 2, 4, 5, 7, 8])
    np.testing.assert_array_equal(t["right"], [-1] * 5 + [1, 3, -1, 6, -1, 9])
    np.testing.assert_array_equal(t["leaf"], [1, 2, 3, 4, 5] + [-1] * 6)
    assert trees.full_binary_tree(8)["height"].max() == 3 and len(trees.full_binary_tree(8)["height"]) == 15
    with pytest.raises(ValueError, match="at least one word"):
        trees.full_binary_tree(0)


def test_pad_tree_batch():
    batch = trees.pad_tree_batch([trees.full_binary_tree(2), trees.full_binary_tree(3)])
    assert set(batch) == {"left", "right", "height", "leaf"}
    np.testing.assert_array_equal(batch["height"], [[0, 0, 1, -1, -1, -1], [0, 0, 0, 1, 1, 2]])
    np.testing.assert_array_equal(batch["left"][0], [-1, -1, 0, -1, -1, -1])
    with pytest.raises(ValueError):
        trees.pad_tree_batch([])


@pytest.mark.parametrize("parse, message", [
    ("( ( A dog ) runs", "unclosed"),
    ("( A dog ) )", "without '\\('"),
    ("( A dog runs )", "not binary"),
    ("( ( ) dog )", "empty"),
    ("( A dog ) ( runs )", "top-level"),
    ("( )", "empty"),
])
def test_bad_parses_name_the_problem_and_place(parse, message):
    with pytest.raises(ValueError, match=message) as err:
        trees.parse_tree(parse, where="train.jsonl:7")
    assert "train.jsonl:7" in str(err.value)


def test_parse_must_match_tokens():
    with pytest.raises(ValueError, match="dev.jsonl:3: parse words"):
        trees.tree_features("( A dog )", ["A", "cat"], where="dev.jsonl:3")
