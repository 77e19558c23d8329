"""train_nli / eval_nli end to end on the shipped SNLI sample: outputs, eval of the saved model, resume."""
import io
import json
import os
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest

from nli_app import cli
from nli_app.bin import eval_nli, train_nli
from nli_app.nli import models
from nli_app.nli.data import snli

# Feed-forward encoder/composition (Table 2 ablations 6 + 7) keeps tracing fast; the LSTM run is marked slow.
TINY = ["--embedding_dim=8", "--hidden_units=8", "--batch_size=16", "--num_cpu_replicas=2", "--verbose=0",
        "--train_limit=96", "--log_every_steps=2", "--checkpoint_every_steps=3", "--num_heatmaps=1"]


def _train(argv):
    """train_nli's work on the options its flags ``argv`` give (a fresh FlagValues, not the global FLAGS)."""
    return train_nli.train_and_evaluate(train_nli.options_from_flags(cli.parse(train_nli.define_flags, argv)))


def _evaluate(argv):
    return eval_nli.evaluate_file(eval_nli.options_from_flags(cli.parse(eval_nli.define_flags, argv)))


def test_paper_recipe_is_the_default(tmp_path):
    options = train_nli.options_from_flags(cli.parse(train_nli.define_flags, [f"--model_dir={tmp_path}",
                                                                              "--epochs=3"]))
    config = options.trainer
    assert config.optimizer == "adam" and config.optimizer_kwargs == {"learning_rate": 4e-4, "global_clipnorm": 10.0}
    assert config.global_batch_size == 32 and config.epochs == 3 and config.model_dir == str(tmp_path)  # given wins
    assert train_nli.options_from_flags(
        cli.parse(train_nli.define_flags, [f"--model_dir={tmp_path}"])).trainer.epochs == 20
    assert (options.embedding_dim, options.hidden_units, options.dropout, options.model) == (300, 300, 0.5, "esim")
    assert os.path.exists(options.train_path) and os.path.exists(options.dev_path)


@pytest.mark.slow  # ~1 min on an idle 2-core machine (two trainings, three evaluations)
def test_train_eval_and_resume(tmp_path, capsys):
    model_dir = str(tmp_path / "run")
    flagfile = tmp_path / "tiny.flags"
    flagfile.write_text("\n".join(TINY + ["--ablation=ffn_encoding,ffn_inference", "--epochs=1"]) + "\n")
    first = _train([f"--flagfile={flagfile}", f"--model_dir={model_dir}"])
    for name in ("model.keras", "vocab.txt", "config.json", "results.json", "confusion_dev.png",
                 "heatmaps/example000_premise_attention.png", "checkpoints/checkpoint"):
        assert os.path.exists(os.path.join(model_dir, name)), name
    with zipfile.ZipFile(os.path.join(model_dir, "model.keras")) as archive, \
            h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as weights:
        assert "layers" in weights and "optimizer" not in weights  # the weights, not Adam's slots
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
    evaluated = _evaluate([f"--model_dir={model_dir}", f"--data_path={test_path}", f"--output_json={output}"])
    assert evaluated["accuracy"] == first["test"]["accuracy"]
    assert evaluated["confusion_matrix"] == first["test"]["confusion_matrix"]
    assert json.load(open(output))["num_examples"] == len(snli.read_snli(test_path))
    # The installed binary exits 0 (absl turns a main() that returns a value into exit status 1).
    binary = subprocess.run([sys.executable, "-m", "nli_app.bin.eval_nli", f"--model_dir={model_dir}",
                             f"--data_path={test_path}"], capture_output=True, text=True, timeout=600)
    assert binary.returncode == 0, binary.stderr[-2000:]
    assert f"accuracy: {evaluated['accuracy']:.4f}" in binary.stdout

    # Resume: a second epoch continues from the checkpoint (history keeps epoch 1, the vocabulary is reused).
    _train([f"--flagfile={flagfile}", f"--model_dir={model_dir}", "--epochs=2"])
    history = json.load(open(os.path.join(model_dir, "history.json")))
    assert len(history["val_accuracy"]) == 2
    steps_per_epoch = 96 // 16
    checkpoints = open(os.path.join(model_dir, "checkpoints", "checkpoint")).read()
    assert f"ckpt-{2 * steps_per_epoch}" in checkpoints
    model, vocabulary, config = models.load(model_dir)
    assert config["builder_kwargs"]["ablation"] == ["ffn_encoding", "ffn_inference"]
    assert len(vocabulary) == config["builder_kwargs"]["vocab_size"]


def test_bad_flags_are_reported(tmp_path):
    with pytest.raises(cli.UsageError, match="--members"):
        _train([f"--model_dir={tmp_path}", "--model=him"])
    with pytest.raises(cli.UsageError, match="--ablation applies to --model=esim only"):
        _train([f"--model_dir={tmp_path}", "--model=tree", "--ablation=no_avg_max"])
    with pytest.raises(cli.UsageError, match="--ablation: unknown"):
        _train([f"--model_dir={tmp_path}", "--ablation=no_such"])
    with pytest.raises(cli.UsageError, match="--train_path=.*missing.jsonl: no such file"):
        _train([f"--model_dir={tmp_path}", f"--train_path={tmp_path / 'missing.jsonl'}"])
    with pytest.raises(cli.UsageError, match="--bucket_boundaries: expected increasing"):
        _train([f"--model_dir={tmp_path}", "--bucket_boundaries=8,4"])
    with pytest.raises(cli.UsageError, match="--data_path is required"):
        _evaluate([f"--model_dir={tmp_path}"])
    with pytest.raises(FileNotFoundError, match="missing"):
        _evaluate([f"--model_dir={tmp_path}", f"--data_path={snli.sample_path('dev')}"])


@pytest.mark.slow  # tracing the LSTM training step takes most of it
def test_esim_lstm_trains_and_scores(tmp_path):
    """The LSTM ESIM fits 48 real training pairs well above their majority class."""
    result = _train(TINY + [f"--model_dir={tmp_path}", "--train_limit=48", "--epochs=8", "--dropout=0",
                            "--learning_rate=0.01", "--plateau_patience=8", "--early_stopping_patience=8",
                            "--num_cpu_replicas=1", "--checkpoint_every_steps=1000"])  # learning, not replicas
    train = np.array(result["train"]["confusion_matrix"])
    majority = train.sum(axis=1).max() / train.sum()  # rows: gold labels
    assert result["train"]["accuracy"] >= majority + 0.15, (result["train"]["accuracy"], majority)  # 0.625 vs 0.396
    assert os.path.exists(tmp_path / "heatmaps" / "example000_premise_gate_norms.png")


def test_tree_model_refuses_a_dev_file_without_parses(tmp_path):
    """ESIM reads parse-less files; the tree model names the file and line that lacks a parse, before training."""
    lines = open(snli.sample_path("dev"), encoding="utf-8").read().splitlines()
    dev = tmp_path / "dev_tokenized.jsonl"
    dev.write_text("".join(json.dumps({k: v for k, v in json.loads(line).items() if "parse" not in k}) + "\n"
                           for line in lines))
    with pytest.raises(snli.SnliFormatError, match=r"dev_tokenized\.jsonl:1: .*'sentence1_binary_parse' \(the tree"):
        _train([f"--model_dir={tmp_path / 'tree'}", "--model=tree", f"--dev_path={dev}"])
    assert not os.path.exists(tmp_path / "tree")
    esim_options = train_nli.options_from_flags(cli.parse(train_nli.define_flags, [
        f"--model_dir={tmp_path / 'esim'}", f"--dev_path={dev}"]))
    assert len(train_nli._splits(esim_options, models.get("esim"))["dev"]) == 149


def test_thread_flags_size_tensorflow_before_training(tmp_path):
    """train_nli sizes TensorFlow's thread pools before its first op. In this process TensorFlow already runs (the
    suite's logical devices), so the size it has passes and another is refused by flag name, before any training;
    a fresh process applies them (nli_model_server takes the same flags: tests/test_serving_e2e.py)."""
    import tensorflow as tf
    tf.constant(1.0) + 1.0
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    options = train_nli.options_from_flags(cli.parse(train_nli.define_flags, [
        f"--model_dir={tmp_path}", f"--tensorflow_intra_op_parallelism={intra + 3}",
        "--tensorflow_inter_op_parallelism=0"]))
    assert options.tensorflow_threads == (intra + 3, 0)
    with pytest.raises(ValueError, match=rf"--tensorflow_intra_op_parallelism={intra + 3}: TensorFlow has already"):
        train_nli.train_and_evaluate(options)
    assert not os.path.exists(tmp_path / "checkpoints")
