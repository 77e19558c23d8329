"""GloVe text reader: restricted to the vocabulary, OOV ~ N(0, 0.01^2) seeded, file:line errors."""
import numpy as np
import pytest

from nli_app.nli import glove, vocab


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
