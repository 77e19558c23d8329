"""tf.data pipeline: ids with _BOS_/_EOS_, tree arrays, length bucketing, padding equal to trees.pad_tree_batch."""
import numpy as np
import pytest

from nli_app.nli.data import dataset, snli, trees, vocab


@pytest.fixture(scope="module")
def examples():
    return snli.read_snli(snli.sample_path("dev")).examples[:40]


@pytest.fixture(scope="module")
def vocabulary(examples):
    return vocab.Vocabulary.from_examples(examples[:20])


def test_unbatched_elements(examples, vocabulary):
    ds = dataset.make_dataset(examples, vocabulary)
    x, y = next(iter(ds))
    e = examples[0]
    assert list(x["premise"].numpy()) == [vocab.BOS_ID] + [vocabulary.id(t) for t in e.premise_tokens] + [vocab.EOS_ID]
    assert list(x["hypothesis"].numpy()) == vocabulary.encode(e.hypothesis_tokens)
    assert int(y) == e.label and len(list(ds)) == 40
    unknown = sum(t not in vocabulary for e in examples[20:] for t in e.premise_tokens)
    assert unknown > 0  # later examples do hit _UNK_
    assert sum(int((x["premise"].numpy() == vocab.UNK_ID).sum()) for x, _ in ds.skip(20)) == unknown


@pytest.mark.parametrize("tree_kind", ["syntactic", "full"])
def test_bucketed_batches_pad_like_pad_tree_batch(examples, vocabulary, tree_kind):
    ds = dataset.make_dataset(examples, vocabulary, with_trees=True, tree_kind=tree_kind)
    by_pair = {tuple(vocabulary.encode(e.premise_tokens) + [-9] + vocabulary.encode(e.hypothesis_tokens)): e
               for e in examples}
    boundaries = (12, 16)
    batches = list(dataset.bucket_batch_fn(boundaries)(ds, 8))
    assert sum(len(y) for _, y in batches) == len(examples)
    for x, y in batches:
        x = {k: v.numpy() for k, v in x.items()}
        rows = []
        for p, h in zip(x["premise"], x["hypothesis"]):
            rows.append(by_pair[tuple(list(p[p != 0]) + [-9] + list(h[h != 0]))])
        lengths = [max(len(e.premise_tokens), len(e.hypothesis_tokens)) + 2 for e in rows]
        buckets = {int(np.searchsorted(boundaries, n, side="left")) for n in lengths}
        assert len(buckets) == 1  # one length bucket per batch
        assert x["premise"].shape[1] == max(len(e.premise_tokens) for e in rows) + 2
        np.testing.assert_array_equal(y.numpy(), [e.label for e in rows])
        for side in dataset.SIDES:
            expected = trees.pad_tree_batch(
                [trees.tree_features(getattr(e, f"{side}_parse") if tree_kind == "syntactic" else None,
                                     getattr(e, f"{side}_tokens")) for e in rows])
            for key, value in expected.items():
                np.testing.assert_array_equal(x[f"{side}_{key}"], value)


def test_full_batch_and_plain_padding(examples, vocabulary):
    ds = dataset.make_dataset(examples[:10], vocabulary)
    (x, y), = list(dataset.bucket_batch_fn(())(ds, None))
    assert len(y) == 10 and x["premise"].shape == (10, max(len(e.premise_tokens) for e in examples[:10]) + 2)
    with pytest.raises(ValueError, match="tree_kind"):
        dataset.make_dataset(examples, vocabulary, with_trees=True, tree_kind="dependency")
