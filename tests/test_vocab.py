"""Vocabulary ids, save/load round trip, and raw-text tokenisation identical in Python and tf.strings."""
import pytest
import tensorflow as tf

from nli_app.nli import graph_tokenizer
from nli_app.nli.data import vocab


def test_special_ids_and_frequency_order():
    v = vocab.Vocabulary.build([["a", "dog", "runs"], ["A", "dog", "."], ["dog", "."]])
    assert v.tokens[:4] == ("_PAD_", "_UNK_", "_BOS_", "_EOS_")
    assert (vocab.PAD_ID, vocab.UNK_ID, vocab.BOS_ID, vocab.EOS_ID) == (0, 1, 2, 3)
    assert v.tokens[4:] == ("dog", ".", "A", "a", "runs")  # by count, ties alphabetical; cased
    assert v.encode(["a", "dog", "cat"]) == [2, 7, 4, 1, 3]
    assert len(vocab.Vocabulary.build([["x", "y", "y"]], max_size=5)) == 5
    assert "x" not in vocab.Vocabulary.build([["x", "y", "y"]], min_count=2)


def test_save_load_round_trip(tmp_path):
    v = vocab.Vocabulary.build([["über", "'s", "n't", "corn-on-the-cob"]])
    path = tmp_path / "vocab.txt"
    v.save(path)
    assert vocab.Vocabulary.load(path).tokens == v.tokens
    path.write_text("_PAD_\n_UNK_\nx\n")
    with pytest.raises(ValueError, match="vocab.txt: a vocabulary must start with"):
        vocab.Vocabulary.load(path)
    with pytest.raises(ValueError, match="duplicate"):
        vocab.Vocabulary(vocab.SPECIALS + ("x", "x"))


def test_tokenize_follows_snli_conventions():
    assert vocab.tokenize("The dog isn't in the woman's car.") == [
        "The", "dog", "is", "n't", "in", "the", "woman", "'s", "car", "."]
    assert vocab.tokenize("A man can't sell corn-on-the-cob for $3.50, OK?") == [
        "A", "man", "ca", "n't", "sell", "corn-on-the-cob", "for", "$", "3.50", ",", "OK", "?"]


TEXTS = ["A man isn't here.", "Two dogs' toys, \"HELP ME\" they're won't\ttab\n\x0bvt\ffeed\r",
         "café naïve 東京 x\u00a0y", "", "   ", "--a-b--", "U.S. 1,000.5 3:30pm"]


def test_python_and_tf_strings_tokenisation_identical():
    in_graph = graph_tokenizer.tokenize_in_graph(tf.constant(TEXTS)).to_list()
    assert [[t.decode("utf-8") for t in row] for row in in_graph] == [vocab.tokenize(t) for t in TEXTS]


def test_encode_in_graph_matches_python_encode():
    v = vocab.Vocabulary.build([vocab.tokenize(TEXTS[0]), ["dogs"]])
    ids = graph_tokenizer.encode_in_graph(tf.constant(TEXTS[:2]), graph_tokenizer.lookup_table(v)).numpy()
    for row, text in zip(ids, TEXTS[:2]):
        expected = v.encode(vocab.tokenize(text))
        assert list(row[:len(expected)]) == expected and not row[len(expected):].any()
