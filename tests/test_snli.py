"""SNLI reader: real sample files, the .txt format, dropped '-' labels and file:line errors."""
import json
import os

import pytest

from nli_app.nli.data import glove, snli, vocab

SHARED_SNLI = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "shared", "data", "snli")

SAMPLE = os.path.join(os.path.dirname(__file__), os.pardir, "nli_app", "data", "snli")
REAL = os.path.join(SAMPLE, "snli_1.0_sample_dev.jsonl")

ROW = {"annotator_labels": ["neutral"], "captionID": "c1", "gold_label": "neutral", "pairID": "p1",
       "sentence1": "Two women are embracing.", "sentence1_binary_parse": "( ( Two women ) ( ( are embracing ) . ) )",
       "sentence1_parse": "(ROOT (S (NP (CD Two) (NNS women)) (VP (VBP are) (VP (VBG embracing))) (. .)))",
       "sentence2": "The sisters hug.", "sentence2_binary_parse": "( ( The sisters ) ( hug . ) )",
       "sentence2_parse": "(ROOT (S (NP (DT The) (NNS sisters)) (VP (VBP hug)) (. .)))"}
TXT_HEADER = ("gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
              "sentence2_parse", "sentence1", "sentence2", "captionID", "pairID", "label1", "label2", "label3",
              "label4", "label5")


def _write_jsonl(tmp_path, rows, name="s.jsonl"):
    path = tmp_path / name
    path.write_text("".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in rows))
    return str(path)


def _txt_line(row):
    labels = row["annotator_labels"] + [""] * (5 - len(row["annotator_labels"]))
    return "\t".join([row[f] for f in TXT_HEADER[:9]] + labels)


def test_parse_tokens_strips_parentheses():
    assert snli.parse_tokens("( ( Two women ) ( ( are embracing ) . ) )") == ["Two", "women", "are", "embracing", "."]
    for bad in ("( ( a b )", "( a ) )", "( )"):
        with pytest.raises(ValueError):
            snli.parse_tokens(bad)


def test_reads_real_sample_with_dropped_labels():
    split = snli.read_snli(REAL)
    raw = [json.loads(line) for line in open(REAL)]
    assert len(raw) == 150
    assert split.num_dropped == sum(r["gold_label"] == "-" for r in raw) == 1
    assert len(split) == 149
    first = split.examples[0]
    assert first.label == snli.LABELS.index(raw[0]["gold_label"])
    assert first.pair_id == raw[0]["pairID"] and first.premise == raw[0]["sentence1"]
    assert first.premise_tokens == tuple(t for t in raw[0]["sentence1_binary_parse"].split() if t not in "()")
    assert first.hypothesis_parse == raw[0]["sentence2_binary_parse"]


def test_txt_format_matches_jsonl(tmp_path):
    rows = [ROW, {**ROW, "gold_label": "-", "pairID": "p2"}, {**ROW, "gold_label": "contradiction", "pairID": "p3"}]
    jsonl = snli.read_snli(_write_jsonl(tmp_path, rows))
    txt_path = tmp_path / "s.txt"
    txt_path.write_text("\t".join(TXT_HEADER) + "\n" + "".join(_txt_line(r) + "\n" for r in rows))
    txt = snli.read_snli(str(txt_path))
    assert txt.examples == jsonl.examples
    assert txt.num_dropped == jsonl.num_dropped == 1
    assert [e.label for e in txt.examples] == [1, 2]


def test_limit_counts_kept_examples(tmp_path):
    rows = [{**ROW, "gold_label": "-"}, ROW, ROW, ROW]
    split = snli.read_snli(_write_jsonl(tmp_path, rows), limit=2)
    assert len(split) == 2 and split.num_dropped == 1


@pytest.mark.parametrize("bad_row, message", [
    ("{not json\n", "invalid JSON"),
    ({**ROW, "gold_label": "maybe"}, "unknown gold_label"),
    ({**ROW, "sentence2_binary_parse": "( ( The sisters ) hug"}, "sentence2_binary_parse: unbalanced"),
    ({k: v for k, v in ROW.items() if k != "sentence2"}, "field 'sentence2'"),
])
def test_malformed_jsonl_names_file_and_line(tmp_path, bad_row, message):
    path = _write_jsonl(tmp_path, [ROW, "\n", bad_row])
    with pytest.raises(ValueError, match=rf"s\.jsonl:3: .*{message}"):
        snli.read_snli(path)


def test_malformed_txt_names_file_and_line(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("\t".join(TXT_HEADER) + "\n" + _txt_line(ROW) + "\n" + "neutral\tonly two\n")
    with pytest.raises(ValueError, match=r"s\.txt:3: 2 tab-separated fields"):
        snli.read_snli(str(path))
    path.write_text("gold_label\tsentence1\n")
    with pytest.raises(ValueError, match=r"s\.txt:1: header lacks"):
        snli.read_snli(str(path))


def test_non_utf8_input_names_file_and_line(tmp_path):
    """A Latin-1 byte on line 2 of any text reader's input: ValueError file:line, not a bare UnicodeDecodeError."""
    good = open(snli.sample_path("dev"), encoding="utf-8").readline()
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(good.encode() + b'{"sentence1": "caf\xe9"}\n')
    with pytest.raises(ValueError, match=r"latin1.jsonl:2: not UTF-8 \(byte 0xe9 at column 19\)") as raised:
        snli.read_snli(str(path))
    assert not isinstance(raised.value, UnicodeDecodeError)
    with pytest.raises(ValueError, match=r"vocab.txt:5: not UTF-8"):
        (tmp_path / "vocab.txt").write_bytes(b"_PAD_\n_UNK_\n_BOS_\n_EOS_\ncaf\xe9\n")
        vocab.Vocabulary.load(str(tmp_path / "vocab.txt"))
    with pytest.raises(ValueError, match=r"glove.txt:1: not UTF-8"):
        (tmp_path / "glove.txt").write_bytes(b"caf\xe9 0.1 0.2\n")
        glove.load_glove(str(tmp_path / "glove.txt"), vocab.Vocabulary(vocab.SPECIALS))


def test_crlf_line_ends_read_like_lf(tmp_path):
    lines = open(snli.sample_path("dev"), encoding="utf-8").read().splitlines()
    path = tmp_path / "crlf.jsonl"
    path.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    assert snli.read_snli(str(path)).examples == snli.read_snli(snli.sample_path("dev")).examples


def _without_parses(row):
    return {k: v for k, v in row.items() if "parse" not in k}


def test_rows_without_parses_are_tokenised_like_served_text(tmp_path):
    """ESIM reads parse-less files (e-SNLI's tokenized dev, MultiNLI-style jsonl without pairID)."""
    rows = [_without_parses({k: v for k, v in ROW.items() if k != "pairID"}),
            {"sentence1": "A dog isn't running .", "sentence2": "The dog's asleep .", "gold_label": "contradiction"}]
    path = _write_jsonl(tmp_path, rows)
    split = snli.read_snli(path)
    first, second = split.examples
    assert first.premise_tokens == ("Two", "women", "are", "embracing", ".")  # as the binary parse has them
    assert first.premise_parse is None and first.hypothesis_parse is None
    assert first.pair_id == f"{path}:1"
    assert second.premise_tokens == ("A", "dog", "is", "n't", "running", ".")
    assert second.hypothesis_tokens == ("The", "dog", "'s", "asleep", ".")
    assert second.label == snli.LABEL_IDS["contradiction"]


def test_tree_models_demand_parses_naming_file_and_line(tmp_path):
    path = _write_jsonl(tmp_path, [ROW, _without_parses(ROW)])
    assert len(snli.read_snli(path, limit=1, require_parses=True)) == 1
    with pytest.raises(snli.SnliFormatError,
                       match=r"s\.jsonl:2: missing or non-string field 'sentence1_binary_parse' \(the tree models"):
        snli.read_snli(path, require_parses=True)
    empty = _write_jsonl(tmp_path, [{**ROW, "sentence2_binary_parse": ""}], name="e.jsonl")
    with pytest.raises(snli.SnliFormatError, match=r"e\.jsonl:1: empty field 'sentence2_binary_parse'"):
        snli.read_snli(empty, require_parses=True)


def test_esnli_csv_and_parse_less_txt_match_jsonl(tmp_path):
    rows = [{**ROW, "sentence1": 'A man, "tall", sleeps.'}, {**ROW, "gold_label": "-"}]
    expected = snli.read_snli(_write_jsonl(tmp_path, [_without_parses(r) for r in rows]))
    csv_path = tmp_path / "esnli_dev.csv"
    csv_path.write_text("pairID,gold_label,Sentence1,Sentence2,Explanation_1\n" + "".join(
        f'{r["pairID"]},{r["gold_label"]},"{r["sentence1"].replace(chr(34), 2 * chr(34))}",{r["sentence2"]},'
        '"because, well"\n' for r in rows))
    txt_path = tmp_path / "multinli.txt"
    txt_path.write_text("gold_label\tsentence1\tsentence2\tpairID\tgenre\n" + "".join(
        f'{r["gold_label"]}\t{r["sentence1"]}\t{r["sentence2"]}\t{r["pairID"]}\tfiction\n' for r in rows))
    for path in (csv_path, txt_path):
        split = snli.read_snli(str(path))
        assert split.examples == expected.examples and split.num_dropped == 1
    assert expected.examples[0].premise_tokens == ("A", "man", ",", '"', "tall", '"', ",", "sleeps", ".")
    csv_path.write_text("pairID,gold_label,Sentence1,Sentence2\np1,neutral,a\n")
    with pytest.raises(snli.SnliFormatError, match=r"esnli_dev\.csv:2: 3 comma-separated fields, header has 4"):
        snli.read_snli(str(csv_path))


@pytest.mark.skipif(not os.path.isdir(SHARED_SNLI), reason="../shared/data/snli (the real SNLI files) is absent")
def test_reads_full_tokenized_dev_set():
    split = snli.read_snli(os.path.join(SHARED_SNLI, "snli_1.0_dev_tokenized.jsonl"))
    assert len(split) == 9842 and split.num_dropped == 0
    counts = [sum(e.label == i for e in split.examples) for i in range(3)]
    assert counts == [3329, 3235, 3278]  # SNLI 1.0 dev: entailment, neutral, contradiction
