"""Bounded work per request: a per-sentence token limit and a per-request token budget, checked before any model
work (``--max_sentence_tokens``, ``--max_request_tokens``).

Tokenisation happens inside the SavedModel graph (``nli_app/nli/graph_tokenizer.py``: ``vocab.TOKEN_REGEX`` after
the ``n't`` rewrite; the toy test model splits on whitespace), so the server cannot see the model's tokens. It counts
*units* instead, a safe upper bound on both: maximal runs of ASCII letters and digits plus every other
non-whitespace byte. Each graph token is either an alphanumeric word (greedy, so at most one starts in each run)
or contains a non-alphanumeric byte of its own (numbers with separators, ``n't``, clitics, punctuation), and the
``n't`` rewrite only inserts spaces; whitespace-split tokens each contain a unit. Ordinary prose has exactly as
many units as graph tokens; ``isn't`` and ``3.5`` count one more, ``well-known`` two more. A string longer than
the limit is judged on a prefix first (:func:`units_over`), so a 1 MB sentence is refused after a few kilobytes.

Over a limit -> INVALID_ARGUMENT (HTTP 400) naming the input, the row and the limit (and its flag).
"""
import dataclasses

import grpc
import numpy as np

from serving.errors import ServingError

# Every byte as one of three classes: b"a" alphanumeric, b" " ASCII whitespace (as tf.strings.split and
# vocab.WHITESPACE), b"." anything else (non-ASCII bytes included: each counts, an over-estimate).
_ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_CLASSES = bytes(ord("a") if b in _ALNUM else ord(" ") if b in b" \t\n\x0b\f\r" else ord(".") for b in range(256))

DEFAULT_MAX_SENTENCE_TOKENS = 256
DEFAULT_MAX_REQUEST_TOKENS = 65536


@dataclasses.dataclass(frozen=True)
class TokenLimits:
    """``max_sentence_tokens`` bounds every string of a request, ``max_request_tokens`` their sum; 0 = no limit."""
    max_sentence_tokens: int = DEFAULT_MAX_SENTENCE_TOKENS
    max_request_tokens: int = DEFAULT_MAX_REQUEST_TOKENS

    def __post_init__(self):
        for name in ("max_sentence_tokens", "max_request_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0 (0: no limit), got {getattr(self, name)}")


NO_LIMITS = TokenLimits(0, 0)


def count_units(value: bytes) -> int:
    """The token upper bound of one string (module docstring): alphanumeric runs + other non-whitespace bytes,
    counted with C-speed byte operations (a few ms per MB, no per-token objects)."""
    classes = value.translate(_CLASSES)
    return (classes.count(b".") + classes.count(b" a") + classes.count(b".a")
            + classes.startswith(b"a"))


def _as_bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else value


def units_over(value: bytes, cap: int) -> int:
    """``count_units(value)`` when it is <= ``cap``, else some count > ``cap``: a 1 MB string over a 256-token limit
    is decided on its first few kilobytes (a prefix never has more units than the whole string)."""
    prefix = 8 * (cap + 1)
    if prefix < len(value):
        units = count_units(value[:prefix])
        if units > cap:
            return units
    return count_units(value)


def check_strings(strings, limits: TokenLimits) -> int:
    """Checks ``strings`` (an iterable of ``(input name, row, bytes)``) against ``limits``; returns the longest
    string's byte length (the batcher's length bucket). Raises INVALID_ARGUMENT over a limit."""
    sentence_limit, request_limit = limits.max_sentence_tokens, limits.max_request_tokens
    total = longest = 0
    for name, row, value in strings:
        longest = max(longest, len(value))
        if sentence_limit and len(value) > sentence_limit and units_over(value, sentence_limit) > sentence_limit:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, (
                f"Input {name}[{row}] has more than {sentence_limit} tokens, the limit per sentence "
                f"(--max_sentence_tokens)"))
        if request_limit:
            total += units_over(value, request_limit - total)
            if total > request_limit:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, (
                    f"Request has more than {request_limit} tokens in all, the limit per request "
                    f"(--max_request_tokens)"))
    return longest


def string_cells(inputs: dict):
    """``(name, row, bytes)`` for every element of the string (object) arrays of ``inputs``."""
    for name in sorted(inputs):
        value = inputs[name]
        if value.dtype == object:
            for row, item in enumerate(np.ravel(value)):
                yield name, row, _as_bytes(item)


def example_cells(examples):
    """``(feature name, example index, bytes)`` for every bytes feature value of ``tf.Example`` protos."""
    for index, example in enumerate(examples):
        for name, feature in sorted(example.features.feature.items()):
            for item in feature.bytes_list.value:
                yield name, index, item
