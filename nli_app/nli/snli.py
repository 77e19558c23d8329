"""SNLI 1.0 reader (Bowman et al., 2015) for the real ``.jsonl`` and tab-separated ``.txt`` files.

Chen et al. (2017, Sec. 4) train and test on SNLI; tokens come from ``sentence{1,2}_binary_parse`` with the
parentheses stripped, and the binary parses are kept for the tree-LSTM (Sec. 3.4). Pairs whose gold label is ``-``
(no annotator majority) are dropped and counted, as in the paper's setup.
"""
import dataclasses
import json
import os

from nli_app.nli.text_lines import numbered_lines

LABELS = ("entailment", "neutral", "contradiction")
LABEL_IDS = {label: i for i, label in enumerate(LABELS)}
SAMPLE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "snli")


def sample_path(split):
    """The real SNLI sample file shipped with the package for ``split`` (train / dev / test)."""
    return os.path.join(SAMPLE_DIR, f"snli_1.0_sample_{split}.jsonl")


NO_GOLD_LABEL = "-"

_TXT_FIELDS = ("gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1", "sentence2", "pairID")


class SnliFormatError(ValueError):
    """A malformed SNLI line; the message names ``file:line``."""


@dataclasses.dataclass(frozen=True)
class Example:
    """One premise/hypothesis pair with a gold label id in ``LABELS``."""
    premise: str
    hypothesis: str
    label: int
    pair_id: str
    premise_tokens: tuple
    hypothesis_tokens: tuple
    premise_parse: str
    hypothesis_parse: str


@dataclasses.dataclass(frozen=True)
class SnliSplit:
    """The examples of one file and how many rows were dropped for a ``-`` gold label."""
    path: str
    examples: list
    num_dropped: int

    def __len__(self):
        return len(self.examples)


def parse_tokens(binary_parse):
    """Tokens of a binary parse such as ``( ( Two women ) ( are . ) )`` with the parentheses stripped.

    Raises ValueError if the brackets are unbalanced or there is no token.
    """
    depth = 0
    tokens = []
    for item in binary_parse.split():
        if item == "(":
            depth += 1
        elif item == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced parse: ')' without a matching '('")
        else:
            tokens.append(item)
    if depth != 0:
        raise ValueError(f"unbalanced parse: {depth} unclosed '('")
    if not tokens:
        raise ValueError("parse has no tokens")
    return tokens


def _example(record, where):
    def field(name):
        value = record.get(name)
        if not isinstance(value, str):
            raise SnliFormatError(f"{where}: missing or non-string field {name!r}")
        return value

    gold = field("gold_label")
    if gold == NO_GOLD_LABEL:
        return None
    if gold not in LABEL_IDS:
        raise SnliFormatError(f"{where}: unknown gold_label {gold!r}; expected one of {LABELS} or '-'")
    parses = field("sentence1_binary_parse"), field("sentence2_binary_parse")
    tokens = []
    for name, parse in zip(("sentence1_binary_parse", "sentence2_binary_parse"), parses):
        try:
            tokens.append(tuple(parse_tokens(parse)))
        except ValueError as e:
            raise SnliFormatError(f"{where}: {name}: {e}") from None
    return Example(premise=field("sentence1"), hypothesis=field("sentence2"), label=LABEL_IDS[gold],
                   pair_id=field("pairID"), premise_tokens=tokens[0], hypothesis_tokens=tokens[1],
                   premise_parse=parses[0], hypothesis_parse=parses[1])


def _jsonl_records(path, lines):
    for number, line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise SnliFormatError(f"{path}:{number}: invalid JSON: {e.msg}") from None
        if not isinstance(record, dict):
            raise SnliFormatError(f"{path}:{number}: expected a JSON object")
        yield number, record


def _txt_records(path, lines):
    header = None
    for number, line in lines:
        line = line.rstrip("\r\n")
        if header is None:
            header = line.split("\t")
            missing = [f for f in _TXT_FIELDS if f not in header]
            if missing:
                raise SnliFormatError(f"{path}:{number}: header lacks columns {missing}")
            continue
        if not line.strip():
            continue
        values = line.split("\t")
        if len(values) != len(header):
            raise SnliFormatError(f"{path}:{number}: {len(values)} tab-separated fields, header has {len(header)}")
        yield number, dict(zip(header, values))


def read_snli(path, limit=None):
    """Reads an SNLI ``.jsonl`` or ``.txt`` file; ``limit`` keeps the first N kept examples."""
    records = _txt_records if path.endswith(".txt") else _jsonl_records
    examples, dropped = [], 0
    for number, record in records(path, numbered_lines(path)):
        example = _example(record, f"{path}:{number}")
        if example is None:
            dropped += 1
            continue
        examples.append(example)
        if limit is not None and len(examples) >= limit:
            break
    return SnliSplit(path=os.fspath(path), examples=examples, num_dropped=dropped)
