"""NLI pair reader for the files users have: SNLI 1.0 / MultiNLI ``.jsonl`` and ``.txt``, e-SNLI ``.csv``.

Chen et al. (2017, Sec. 4) train and test on SNLI; tokens come from ``sentence{1,2}_binary_parse`` with the
parentheses stripped, and the binary parses are kept for the tree-LSTM (Sec. 3.4). Pairs whose gold label is ``-``
(no annotator majority) are dropped and counted, as in the paper's setup.

Only ``sentence1``, ``sentence2`` and ``gold_label`` are required (ESIM needs no parse). A row without a binary
parse is tokenised by ``vocab.tokenize`` (the tokeniser the server runs on raw text) and has ``None`` parses;
``read_snli(..., require_parses=True)`` (the tree models) refuses it, naming file and line. Formats:

* ``.jsonl``: SNLI 1.0 and MultiNLI 1.0 (``pairID`` optional: ``file:line`` when absent);
* ``.txt``: SNLI / MultiNLI tab-separated with a header row (parse columns optional);
* ``.csv``: e-SNLI (Camburu et al. 2018) with columns ``pairID, gold_label, Sentence1, Sentence2, ...``.
"""
import csv
import dataclasses
import json
import os

from nli_app.nli.data import vocab
from nli_app.nli.data.text_lines import numbered_lines

LABELS = ("entailment", "neutral", "contradiction")
LABEL_IDS = {label: i for i, label in enumerate(LABELS)}
_APP_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # nli_app/
SAMPLE_DIR = os.path.join(_APP_DIR, "data", "snli")


def sample_path(split):
    """The real SNLI sample file shipped with the package for ``split`` (train / dev / test)."""
    return os.path.join(SAMPLE_DIR, f"snli_1.0_sample_{split}.jsonl")


NO_GOLD_LABEL = "-"

REQUIRED_FIELDS = ("gold_label", "sentence1", "sentence2")
PARSE_FIELDS = ("sentence1_binary_parse", "sentence2_binary_parse")
# e-SNLI's CSV column names -> SNLI's.
_CSV_FIELDS = {"Sentence1": "sentence1", "Sentence2": "sentence2"}


class SnliFormatError(ValueError):
    """A malformed SNLI line; the message names ``file:line``."""


@dataclasses.dataclass(frozen=True)
class Example:
    """One premise/hypothesis pair with a gold label id in ``LABELS``; parses are None where the file has none."""
    premise: str
    hypothesis: str
    label: int
    pair_id: str
    premise_tokens: tuple
    hypothesis_tokens: tuple
    premise_parse: str | None
    hypothesis_parse: str | None


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


def _example(record, where, require_parses):
    def field(name, required=True):
        value = record.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            needed = " (the tree models need binary parses)" if name in PARSE_FIELDS else ""
            raise SnliFormatError(f"{where}: missing or non-string field {name!r}{needed}")
        return value

    gold = field("gold_label")
    if gold == NO_GOLD_LABEL:
        return None
    if gold not in LABEL_IDS:
        raise SnliFormatError(f"{where}: unknown gold_label {gold!r}; expected one of {LABELS} or '-'")
    sentences = field("sentence1"), field("sentence2")
    parses = tuple(field(name, required=require_parses) or None for name in PARSE_FIELDS)
    for name, parse in zip(PARSE_FIELDS, parses):
        if require_parses and parse is None:
            raise SnliFormatError(f"{where}: empty field {name!r} (the tree models need binary parses)")
    tokens = []
    for name, sentence, parse in zip(PARSE_FIELDS, sentences, parses):
        try:
            words = parse_tokens(parse) if parse is not None else vocab.tokenize(sentence)
        except ValueError as e:
            raise SnliFormatError(f"{where}: {name}: {e}") from None
        if not words:
            raise SnliFormatError(f"{where}: {name.replace('_binary_parse', '')} has no tokens")
        tokens.append(tuple(words))
    return Example(premise=sentences[0], hypothesis=sentences[1], label=LABEL_IDS[gold],
                   pair_id=field("pairID", required=False) or where, premise_tokens=tokens[0],
                   hypothesis_tokens=tokens[1], premise_parse=parses[0], hypothesis_parse=parses[1])


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


def _check_header(path, number, header):
    missing = [f for f in REQUIRED_FIELDS if f not in header]
    if missing:
        raise SnliFormatError(f"{path}:{number}: header lacks columns {missing}")


def _txt_records(path, lines):
    header = None
    for number, line in lines:
        line = line.rstrip("\r\n")
        if header is None:
            header = line.split("\t")
            _check_header(path, number, header)
            continue
        if not line.strip():
            continue
        values = line.split("\t")
        if len(values) != len(header):
            raise SnliFormatError(f"{path}:{number}: {len(values)} tab-separated fields, header has {len(header)}")
        yield number, dict(zip(header, values))


def _csv_records(path, lines):
    header = None
    for number, line in lines:
        if not line.strip():
            continue
        try:
            values = next(csv.reader([line]))
        except csv.Error as e:
            raise SnliFormatError(f"{path}:{number}: invalid CSV: {e}") from None
        if header is None:
            header = [_CSV_FIELDS.get(name, name) for name in values]
            _check_header(path, number, header)
            continue
        if len(values) != len(header):
            raise SnliFormatError(f"{path}:{number}: {len(values)} comma-separated fields, header has {len(header)}")
        yield number, dict(zip(header, values))


_READERS = {".txt": _txt_records, ".csv": _csv_records}


def read_snli(path, limit=None, require_parses=False):
    """Reads an NLI ``.jsonl``, ``.txt`` or ``.csv`` file; ``limit`` keeps the first N kept examples.

    ``require_parses``: every kept row must have both binary parses (the tree models), else SnliFormatError.
    """
    records = _READERS.get(os.path.splitext(path)[1], _jsonl_records)
    examples, dropped = [], 0
    for number, record in records(path, numbered_lines(path)):
        example = _example(record, f"{path}:{number}", require_parses)
        if example is None:
            dropped += 1
            continue
        examples.append(example)
        if limit is not None and len(examples) >= limit:
            break
    return SnliSplit(path=os.fspath(path), examples=examples, num_dropped=dropped)
