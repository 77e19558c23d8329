"""Token limits (serving/limits.py): the unit count is an upper bound of the graph tokenizer's tokens (checked
against ``vocab.tokenize``, its Python twin, and against whitespace splitting, the toy model's), equal to a regex
transcription of its definition, and the checks' messages and early exits."""
import random
import re

import grpc
import pytest

from nli_app.nli.data import vocab
from serving.errors import ServingError
from serving.limits import TokenLimits, check_strings, count_units, units_over

UNIT = re.compile(rb"[A-Za-z0-9]+|[^A-Za-z0-9 \t\n\x0b\f\r]")  # the definition, as a regex
PIECES = ["a", "B", "9", " ", "\t", "-", "'", ".", ",", ":", "n't", "isn't", "3.5", "'s", "é", "!", "\"", "well-known"]


def test_units_bound_the_graph_tokenizer_on_random_text():
    rng = random.Random(0)
    for _ in range(5000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 25)))
        data = text.encode("utf-8")
        assert count_units(data) == len(UNIT.findall(data)), text
        assert count_units(data) >= len(vocab.tokenize(text)), (text, vocab.tokenize(text))
        assert count_units(data) >= len(text.split()), text


def test_prose_counts_exactly_its_tokens():
    text = "Two dogs, a cat and three people sit on a bench."
    assert count_units(text.encode()) == len(vocab.tokenize(text)) == 13


def test_units_over_decides_a_long_string_on_a_prefix():
    assert units_over(b"word " * 200_000, 64) == 104  # the first 8 * 65 bytes hold 104 words: over 64
    assert units_over(b" " * 10_000 + b"a b", 64) == 2  # a long string of few tokens is counted whole


def check(strings, limits):
    return check_strings([("premise", i, s) for i, s in enumerate(strings)], limits)


def test_check_strings_limits_and_messages():
    assert check([b"a b c", b"d" * 40], TokenLimits(3, 100)) == 40  # the longest string's byte length
    with pytest.raises(ServingError) as info:
        check([b"a", b"a b c d"], TokenLimits(3, 100))
    assert (info.value.code, info.value.message) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Input premise[1] has more than 3 tokens, the limit per sentence (--max_sentence_tokens)")
    assert check([b"a b"] * 5, TokenLimits(0, 10)) == 3
    with pytest.raises(ServingError, match=r"^Request has more than 10 tokens in all, the limit per request "
                                           r"\(--max_request_tokens\)$"):
        check([b"a b"] * 5 + [b"c"], TokenLimits(0, 10))
    check([b"word " * 1000], TokenLimits(0, 0))  # 0: no limit
    with pytest.raises(ValueError, match="max_sentence_tokens must be >= 0"):
        TokenLimits(-1, 5)
