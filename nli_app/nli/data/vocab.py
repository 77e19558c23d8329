"""Cased vocabulary for SNLI tokens (Chen et al., 2017, Sec. 4: ``_BOS_``/``_EOS_`` around every sentence).

Ids: ``_PAD_``=0 (padding, masked out), ``_UNK_``=1, ``_BOS_``=2, ``_EOS_``=3, then training tokens by
descending frequency (ties alphabetical). Saved as a text file, one token per line, line number = id.

Raw text (serving) is tokenised by two RE2-compatible regular expressions that also run in-graph with
``tf.strings`` (``graph_tokenizer.tokenize_in_graph``): ``CONTRACTION_REGEX`` -> ``CONTRACTION_REWRITE`` splits
``n't`` off its word as the Penn Treebank tokeniser of SNLI's parses does (``isn't`` -> ``is n't``), then every
match of ``TOKEN_REGEX`` is a token: numbers (``3.5``), clitics (``'s``), (hyphenated) alphanumeric words, or any
other single non-whitespace character. ASCII classes only, so Python's ``re`` and RE2 agree character for
character. (PTB's directional quotes ``` `` ''`` are not reproduced: ``"`` stays ``"``.)
"""
import collections
import re

from nli_app.nli.data.text_lines import numbered_lines

PAD, UNK, BOS, EOS = "_PAD_", "_UNK_", "_BOS_", "_EOS_"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)

# Whitespace exactly as tf.strings.split(sep=None) / absl::ascii_isspace sees it.
WHITESPACE = r" \t\n\x0b\f\r"
CONTRACTION_REGEX = r"([A-Za-z])(n't|N'T)"
CONTRACTION_REWRITE = r"\1 \2"
TOKEN_REGEX = (r"[0-9]+(?:[.,:][0-9]+)+|n't|N'T|'(?:s|S|re|RE|ve|VE|ll|LL|d|D|m|M)|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
               rf"|[^A-Za-z0-9{WHITESPACE}]")

_CONTRACTION = re.compile(CONTRACTION_REGEX)
_TOKEN = re.compile(TOKEN_REGEX)


def tokenize(text):
    """Splits raw text into tokens; identical to ``dataset.tokenize_in_graph`` (tf.strings)."""
    return _TOKEN.findall(_CONTRACTION.sub(CONTRACTION_REWRITE, text))


class Vocabulary:
    """Token <-> id mapping with the four special tokens first."""

    def __init__(self, tokens):
        tokens = list(tokens)
        if tuple(tokens[:4]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {SPECIALS}, got {tokens[:4]}")
        self._tokens = tokens
        self._ids = {}
        for i, token in enumerate(tokens):
            if not token or any(c.isspace() for c in token):
                raise ValueError(f"vocabulary token {i} is empty or contains whitespace: {token!r}")
            if token in self._ids:
                raise ValueError(f"duplicate vocabulary token {token!r} at ids {self._ids[token]} and {i}")
            self._ids[token] = i

    @classmethod
    def build(cls, sentences, min_count=1, max_size=None):
        """From an iterable of token sequences; ``max_size`` counts the special tokens too."""
        counts = collections.Counter(t for sentence in sentences for t in sentence)
        for special in SPECIALS:
            counts.pop(special, None)
        ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[:max(0, max_size - len(SPECIALS))]
        return cls(SPECIALS + tuple(ranked))

    @classmethod
    def from_examples(cls, examples, **kwargs):
        """From ``snli.Example``s: premise and hypothesis tokens."""
        return cls.build((s for e in examples for s in (e.premise_tokens, e.hypothesis_tokens)), **kwargs)

    @classmethod
    def load(cls, path):
        tokens = [line.rstrip("\n") for _, line in numbered_lines(path)]
        try:
            return cls(tokens)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in self._tokens))

    @property
    def tokens(self):
        return tuple(self._tokens)

    def __len__(self):
        return len(self._tokens)

    def __contains__(self, token):
        return token in self._ids

    def id(self, token):
        return self._ids.get(token, UNK_ID)

    def encode(self, tokens):
        """``[_BOS_] + ids + [_EOS_]``; unknown tokens map to ``_UNK_``."""
        return [BOS_ID] + [self._ids.get(t, UNK_ID) for t in tokens] + [EOS_ID]
