"""train_nli / eval_nli end to end on the shipped SNLI sample: outputs, eval of the saved model, resume."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

from nli_app.nli import eval_nli, models, snli, train_nli

FLAGS = flags.FLAGS
# Feed-forward encoder/composition (Table 2 ablations 6 + 7) keeps tracing fast; the LSTM run is marked slow.
TINY = ["--embedding_dim=8", "--hidden_units=8", "--batch_size=16", "--num_cpu_replicas=2", "--verbose=0",
        "--train_limit=96", "--log_every_steps=2", "--checkpoint_every_steps=3", "--num_heatmaps=1"]


def _run(binary, argv):
    """Runs ``binary`` (a train_nli / eval_nli function taking argv) with flags ``argv``; returns its results."""
    FLAGS.unparse_flags()
    FLAGS(["prog"] + argv)
    try:
        return binary(["prog"])
    finally:
        FLAGS.unparse_flags()


def test_paper_recipe_is_the_default():
    FLAGS.unparse_flags()
    FLAGS(["prog", "--epochs=3"])
    try:
        train_nli.apply_paper_recipe()
        recipe = (FLAGS.optimizer, FLAGS.learning_rate, FLAGS.global_clipnorm, FLAGS.batch_size)
        assert recipe == ("adam", 4e-4, 10.0, 32)
        assert FLAGS.epochs == 3  # given flags win
        assert (FLAGS.embedding_dim, FLAGS.hidden_units, FLAGS.dropout, FLAGS.model) == (300, 300, 0.5, "esim")
        assert os.path.exists(FLAGS.train_path) and os.path.exists(FLAGS.dev_path)
    finally:
        FLAGS.unparse_flags()
    assert FLAGS["learning_rate"].default is None  # other binaries' defaults are untouched


@pytest.mark.slow  # ~1 min on an idle 2-core machine (two trainings, three evaluations)
def test_train_eval_and_resume(tmp_path, capsys):
    model_dir = str(tmp_path / "run")
    flagfile = tmp_path / "tiny.flags"
    flagfile.write_text("\n".join(TINY + ["--ablation=ffn_encoding,ffn_inference", "--epochs=1"]) + "\n")
    first = _run(train_nli.train_and_evaluate, [f"--flagfile={flagfile}", f"--model_dir={model_dir}"])
    for name in ("model.keras", "vocab.txt", "config.json", "results.json", "confusion_dev.png",
                 "heatmaps/example000_premise_attention.png", "checkpoints/checkpoint"):
        assert os.path.exists(os.path.join(model_dir, name)), name
    out = capsys.readouterr().out
    assert "dev accuracy:" in out and "test confusion matrix:" in out
    assert first["train"]["num_examples"] == 96
    assert first["dev"]["num_dropped"] == 1
    for split in first.values():
        matrix = np.array(split["confusion_matrix"])
        assert matrix.sum() == split["num_examples"]
        assert split["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())

    # eval_nli on the saved model reproduces the test figures exactly.
    output = str(tmp_path / "eval.json")
    test_path = snli.sample_path("test")
    evaluated = _run(eval_nli.evaluate_file,
                     [f"--model_dir={model_dir}", f"--data_path={test_path}", f"--output_json={output}"])
    assert evaluated["accuracy"] == first["test"]["accuracy"]
    assert evaluated["confusion_matrix"] == first["test"]["confusion_matrix"]
    assert json.load(open(output))["num_examples"] == len(snli.read_snli(test_path))
    # The installed binary exits 0 (absl turns a main() that returns a value into exit status 1).
    binary = subprocess.run([sys.executable, "-m", "nli_app.nli.eval_nli", f"--model_dir={model_dir}",
                             f"--data_path={test_path}"], capture_output=True, text=True, timeout=600)
    assert binary.returncode == 0, binary.stderr[-2000:]
    assert f"accuracy: {evaluated['accuracy']:.4f}" in binary.stdout

    # Resume: a second epoch continues from the checkpoint (history keeps epoch 1, the vocabulary is reused).
    _run(train_nli.train_and_evaluate, [f"--flagfile={flagfile}", f"--model_dir={model_dir}", "--epochs=2"])
    history = json.load(open(os.path.join(model_dir, "history.json")))
    assert len(history["val_accuracy"]) == 2
    steps_per_epoch = 96 // 16
    checkpoints = open(os.path.join(model_dir, "checkpoints", "checkpoint")).read()
    assert f"ckpt-{2 * steps_per_epoch}" in checkpoints
    model, vocabulary, config = models.load(model_dir)
    assert config["builder_kwargs"]["ablation"] == ["ffn_encoding", "ffn_inference"]
    assert len(vocabulary) == config["builder_kwargs"]["vocab_size"]


def test_bad_flags_are_reported(tmp_path):
    from absl import app
    with pytest.raises(app.UsageError, match="--members"):
        _run(train_nli.train_and_evaluate, [f"--model_dir={tmp_path}", "--model=him"])
    with pytest.raises(app.UsageError, match="--data_path"):
        _run(eval_nli.evaluate_file, [f"--model_dir={tmp_path}"])
    with pytest.raises(FileNotFoundError, match="missing"):
        _run(eval_nli.evaluate_file, [f"--model_dir={tmp_path}", f"--data_path={snli.sample_path('dev')}"])


@pytest.mark.slow  # tracing the LSTM training step takes most of it
def test_esim_lstm_trains_and_scores(tmp_path):
    result = _run(train_nli.train_and_evaluate, TINY + [f"--model_dir={tmp_path}", "--epochs=1"])
    assert 0.0 <= result["dev"]["accuracy"] <= 1.0
    assert os.path.exists(tmp_path / "heatmaps" / "example000_premise_gate_norms.png")
