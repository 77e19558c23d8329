"""Binary trees as flat node arrays that batch well (Chen et al. 2017, Sec. 3.1-3.3 tree models).

A sentence of ``n`` words becomes a binary tree whose nodes are stored in one flat list, *children before parents*,
sorted by height (leaves have height 0, a parent has ``1 + max(children)``). Nodes of one height form one
contiguous block, so a batched tree-LSTM (``tree_lstm.TreeLSTM``) runs one cell call per height over the whole batch.

Per-node arrays returned by :func:`tree_features` (all ``int32``, length = number of nodes):

* ``left`` / ``right`` -- index of the left / right child in the same list, ``-1`` for "no child" (leaves; the
  padding child of a full-binary-tree node). A missing child has zero state (the paper's leaf convention).
* ``height`` -- the node's level; padding nodes added by :func:`pad_tree_batch` have height ``-1``.
* ``leaf`` -- for a leaf, the position of its word in the model's token-id sequence; ``-1`` for internal nodes.

``_BOS_`` / ``_EOS_``: the model's id sequence is ``_BOS_ w_1 ... w_n _EOS_`` (DESIGN.md), and the trees cover the
words only: ``_BOS_``/``_EOS_`` are not leaves, so word ``k`` (0-based) has ``leaf == k + offset`` with
``offset=1`` by default. The ESIM and tree models can therefore share one id input.

Two tree kinds:

* the syntactic tree of an SNLI ``sentence{1,2}_binary_parse`` (``"( ( A dog ) ( runs . ) )"``); a group holding
  a single item ``( x )`` is the item itself; more than two items, an empty group or unbalanced parentheses raise
  ``ValueError``;
* the non-syntactic *full binary tree* (Table 2, "ESIM + tree"): adjacent nodes are merged pairwise level by
  level, i.e. the perfect binary tree over the words padded to a power of two with padding leaves. Padding nodes
  are zero, so they are not stored: a node whose right sibling is padding has ``right == -1`` and a node whose
  children are both padding does not exist.
"""
from __future__ import annotations

import numpy as np

FEATURES = ("left", "right", "height", "leaf")
PAD = -1


def parse_tokens(parse: str) -> list[str]:
    """The words of a binary parse string (parentheses stripped), as SNLI's tokens."""
    return [t for t in parse.split() if t not in ("(", ")")]


def _finish(left, right, height, leaf) -> dict[str, np.ndarray]:
    """Reorder post-order nodes stably by height (children stay before parents) and remap child indices."""
    height = np.asarray(height, np.int32)
    order = np.argsort(height, kind="stable")
    new_index = np.empty_like(order)
    new_index[order] = np.arange(len(order))

    def remap(children):
        children = np.asarray(children, np.int64)[order]
        return np.where(children >= 0, new_index[np.maximum(children, 0)], PAD).astype(np.int32)

    return {"left": remap(left), "right": remap(right), "height": height[order],
            "leaf": np.asarray(leaf, np.int32)[order]}


def parse_tree(parse: str, offset: int = 1, where: str | None = None) -> dict[str, np.ndarray]:
    """Node arrays of a binary parse string; ``where`` (e.g. ``"train.jsonl:12"``) prefixes error messages."""
    prefix = f"{where}: " if where else ""
    left, right, height, leaf = [], [], [], []
    stack: list[int | None] = []  # node ids, None marks an open parenthesis
    words = 0
    for token in parse.split():
        if token == "(":
            stack.append(None)
        elif token == ")":
            items = []
            while stack and stack[-1] is not None:
                items.append(stack.pop())
            if not stack:
                raise ValueError(f"{prefix}unbalanced parse: ')' without '(' in {parse!r}")
            stack.pop()
            if not items:
                raise ValueError(f"{prefix}empty '( )' group in parse {parse!r}")
            if len(items) > 2:
                raise ValueError(f"{prefix}parse is not binary: a group has {len(items)} children in {parse!r}")
            if len(items) == 1:
                stack.append(items[0])
                continue
            r, l = items
            left.append(l), right.append(r), leaf.append(PAD)
            height.append(1 + max(height[l], height[r]))
            stack.append(len(height) - 1)
        else:
            left.append(PAD), right.append(PAD), leaf.append(words + offset), height.append(0)
            words += 1
            stack.append(len(height) - 1)
    if None in stack:
        raise ValueError(f"{prefix}unbalanced parse: {stack.count(None)} unclosed '(' in {parse!r}")
    if not stack:
        raise ValueError(f"{prefix}parse has no words: {parse!r}")
    if len(stack) > 1:
        raise ValueError(f"{prefix}parse has {len(stack)} top-level trees, expected one: {parse!r}")
    return _finish(left, right, height, leaf)


def full_binary_tree(num_words: int, offset: int = 1) -> dict[str, np.ndarray]:
    """Node arrays of the full binary tree over ``num_words`` words (adjacent merging, padding nodes elided)."""
    if num_words < 1:
        raise ValueError(f"a tree needs at least one word, got {num_words}")
    left = [PAD] * num_words
    right = [PAD] * num_words
    height = [0] * num_words
    leaf = list(range(offset, offset + num_words))
    level = list(range(num_words))
    h = 0
    while len(level) > 1:
        h += 1
        parents = []
        for j in range(0, len(level), 2):
            left.append(level[j])
            right.append(level[j + 1] if j + 1 < len(level) else PAD)
            height.append(h), leaf.append(PAD)
            parents.append(len(height) - 1)
        level = parents
    return _finish(left, right, height, leaf)


def tree_features(parse: str | None, tokens, offset: int = 1, where: str | None = None) -> dict[str, np.ndarray]:
    """Tree arrays for one sentence: its parse (checked against ``tokens``), or the full binary tree if None."""
    if parse is None:
        return full_binary_tree(len(tokens), offset)
    words = parse_tokens(parse)
    if list(words) != list(tokens):
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}parse words {words} differ from the tokens {list(tokens)}")
    return parse_tree(parse, offset, where)


def pad_tree_batch(trees) -> dict[str, np.ndarray]:
    """Stack per-sentence tree dicts into ``[batch, max_nodes]`` arrays, padding with -1 (height -1 = no node)."""
    trees = list(trees)
    if not trees:
        raise ValueError("pad_tree_batch needs at least one tree")
    size = max(len(t["height"]) for t in trees)
    batch = {k: np.full((len(trees), size), PAD, np.int32) for k in FEATURES}
    for i, tree in enumerate(trees):
        for k in FEATURES:
            batch[k][i, :len(tree[k])] = tree[k]
    return batch
