"""``bench/esim_vs_pytorch.py``'s batches file, which both contenders read: real pairs come through as written."""
import json

import numpy as np
import pytest

from nli_app import cli
from nli_app.nli.data import snli, vocab as vocab_lib
from tests import benches

TINY = ["--train_batches=2", "--infer32_batches=1", "--infer256_batches=1", "--single_pairs=3"]


@pytest.fixture(scope="module")
def bench():
    return benches.load("esim_vs_pytorch")


def _batches(bench, monkeypatch, tmp_path, argv):
    monkeypatch.setattr(bench, "FLAGS", cli.parse(bench.define_flags, TINY + argv))
    path = str(tmp_path / "batches.npz")
    n, vocab_size, _ = bench.make_batches(path)
    return n, vocab_size, dict(np.load(path))


def test_real_pairs_are_the_files_tokens_labels_and_sizes(bench, monkeypatch, tmp_path):
    path = snli.sample_path("train")
    n, vocab_size, data = _batches(bench, monkeypatch, tmp_path, [
        f"--snli_path={path}", "--train_batch_size=4", "--embedding_dim=8", "--hidden_units=6", "--dropout=0.2",
        "--learning_rate=1e-3"])
    examples = snli.read_snli(path).examples
    vocabulary = vocab_lib.Vocabulary.from_examples(examples)
    assert n == 4 * 2 + 32 + 256 + 3 and vocab_size == len(vocabulary)
    assert json.loads(str(data["sizes"])) == {"vocab_size": len(vocabulary), "embedding_dim": 8, "hidden_units": 6,
                                              "dropout": 0.2}
    assert float(data["learning_rate"]) == 1e-3
    assert data["task_train"].shape == data["task_train_sorted"].shape == (2, 4)
    assert sorted(data["task_train"].ravel()) == sorted(data["task_train_sorted"].ravel())
    pairs = {(tuple(e.premise_tokens), tuple(e.hypothesis_tokens), e.label) for e in examples}
    words = vocabulary.tokens
    for i in range(n):  # every row decodes to a pair of the file, _BOS_ ... _EOS_ then padding
        sides = []
        for side in ("premise", "hypothesis"):
            length, ids = int(data[f"{side}_length"][i]), data[side][i]
            assert ids[0] == vocab_lib.BOS_ID and ids[length - 1] == vocab_lib.EOS_ID
            assert not ids[length:].any()
            sides.append(tuple(words[t] for t in ids[1:length - 1]))
        assert (*sides, int(data["label"][i])) in pairs


def test_too_few_real_pairs_is_a_usage_error(bench, monkeypatch, tmp_path):
    with pytest.raises(cli.UsageError, match="snli_1.0_sample_test.jsonl has .* labelled pairs; the rows need"):
        _batches(bench, monkeypatch, tmp_path, [f"--snli_path={snli.sample_path('test')}"])


def test_synthetic_pairs_keep_the_paper_sizes(bench, monkeypatch, tmp_path):
    _, vocab_size, data = _batches(bench, monkeypatch, tmp_path, [])
    assert vocab_size == 42_000 and data["task_train"].shape == (2, 32)
    assert json.loads(str(data["sizes"])) == {"vocab_size": 42_000, "embedding_dim": 300, "hidden_units": 300,
                                              "dropout": 0.5}
    assert float(data["learning_rate"]) == 4e-4
