"""``bench/snli_holdout.py``: the held-out part shares no image with the training part, and nothing is reordered."""
import json
import os
import subprocess
import sys

import pytest

from nli_app import cli
from nli_app.nli.data import snli
from tests import benches

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def bench():
    return benches.load("snli_holdout")


def _line(image, n, premise="A dog runs."):
    return json.dumps({"captionID": f"{image}.jpg#{n}", "gold_label": "neutral", "sentence1": premise,
                       "sentence2": "A cat sleeps."}) + "\n"


def test_lines_whose_image_was_trained_on_are_dropped(bench):
    lines = [_line("a", 0), _line("b", 0), _line("b", 1), _line("c", 0), _line("a", 3), _line("d", 0)]
    train, held_out, dropped = bench.split(lines, 3)
    assert train == lines[:3]
    assert held_out == [lines[3], lines[5]] and dropped == 1  # a#3: image a is in the training part


def test_the_shipped_sample_splits_without_loss_or_reordering(bench, tmp_path):
    options = bench.Options(input=snli.sample_path("train"), held_out_lines=300,
                            train_output=str(tmp_path / "train.jsonl"), held_out_output=str(tmp_path / "held.jsonl"))
    train, held_out, dropped = bench.write_split(options)
    with open(options.input, encoding="utf-8") as f:
        original = f.readlines()
    with open(options.train_output, encoding="utf-8") as f:
        train_lines = f.readlines()
    with open(options.held_out_output, encoding="utf-8") as f:
        held_lines = f.readlines()
    assert (len(train_lines), len(held_lines), train + held_out + dropped) == (train, held_out, len(original))
    assert train_lines == original[:-300] and held_lines == [line for line in original[-300:] if line in held_lines]
    images = lambda lines: {json.loads(line)["captionID"].split("#")[0] for line in lines}  # noqa: E731
    assert held_out > 0 and not images(train_lines) & images(held_lines)
    assert len(snli.read_snli(options.held_out_output, require_parses=True).examples) > 0  # parses travel along


def test_bad_input_is_one_line_naming_file_and_line(bench, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(_line("a", 0) + '{"sentence1": "no caption"}\n' + _line("b", 0))
    with pytest.raises(ValueError, match=f"{bad}:2: no JSON object with a string 'captionID'"):
        bench.split(bad.read_text().splitlines(keepends=True), 1, str(bad))
    with pytest.raises(ValueError, match="3 lines, cannot hold out 3"):
        bench.split(bad.read_text().splitlines(keepends=True), 3, str(bad))
    with pytest.raises(cli.UsageError, match="--train_output is required"):
        bench.options_from_flags(cli.parse(bench.define_flags, [f"--input={bad}"]))
    outputs = [f"--train_output={tmp_path}/t.jsonl", f"--held_out_output={tmp_path}/h.jsonl"]
    run = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "snli_holdout.py"), f"--input={bad}",
                          "--held_out_lines=1", *outputs], capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stderr.strip()) == (
        1, f"snli_holdout: error: {bad}:2: no JSON object with a string 'captionID'")
