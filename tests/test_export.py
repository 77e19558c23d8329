"""SavedModel export round trip: a FRESH process loads the export with plain ``tf.saved_model.load`` and its
predictions on raw strings must equal the Keras model's on the same text tokenised in Python."""
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from tensorflow.core.protobuf import saved_model_pb2

from nli_app.nli import export, models
from nli_app.nli.data import trees
from nli_app.nli.data import vocab as vocab_lib
from nli_app.nli.models import esim
from nli_app.nli.models.tree_model import build_tree_model

VOCAB = vocab_lib.Vocabulary(vocab_lib.SPECIALS + tuple("A dog runs fast . The cat is n't sleeping outside".split()))
PREMISES = ["A dog runs fast.", "The cat isn't sleeping", "Zebras outside!"]   # 'Zebras', '!' -> _UNK_
HYPOTHESES = ["The cat is sleeping", "A dog", "A cat runs outside ."]
PARSES = ["( ( A dog ) ( ( runs fast ) . ) )", "", "( Zebras ( outside ! ) )"]

LOADER = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    path, requests = sys.argv[1], json.loads(sys.argv[2])
    loaded = tf.saved_model.load(path)
    out = {"signatures": sorted(loaded.signatures)}
    for key, (name, kwargs) in requests.items():
        fn = loaded.signatures[name]
        try:
            if name == "classify":
                examples = [tf.train.Example(features=tf.train.Features(feature={
                    k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()])) for k, v in row.items()}))
                    for row in kwargs["rows"]]
                kwargs = {"inputs": [e.SerializeToString() for e in examples]}
            result = fn(**{k: tf.constant(v) for k, v in kwargs.items()})
            out[key] = {k: v.numpy().tolist() for k, v in result.items()}
            out[key] = {k: [[x.decode() if isinstance(x, bytes) else x for x in r] if isinstance(r, list)
                            else (r.decode() if isinstance(r, bytes) else r) for r in v] for k, v in out[key].items()}
            specs = fn.structured_input_signature[1].items()
            out[key]["inputs"] = {k: [s.dtype.name, s.shape.as_list()] for k, s in specs}
        except tf.errors.InvalidArgumentError as e:
            out[key] = {"error": e.message}
    print(json.dumps(out))
""")


def load_in_fresh_process(path, requests):
    result = subprocess.run([sys.executable, "-c", LOADER, path, json.dumps(requests)], capture_output=True,
                            text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def keras_inputs(premises, hypotheses, premise_parses=None, hypothesis_parses=None):
    """Python-side features: vocab.tokenize (or the parse's words) + Vocabulary.encode + trees.py."""
    inputs = {}
    for side, texts, parses in (("premise", premises, premise_parses), ("hypothesis", hypotheses, hypothesis_parses)):
        parses = parses or [""] * len(texts)
        tokens = [trees.parse_tokens(p) if p else vocab_lib.tokenize(t) for t, p in zip(texts, parses)]
        ids = [VOCAB.encode(t) for t in tokens]
        width = max(len(i) for i in ids)
        inputs[side] = np.array([i + [0] * (width - len(i)) for i in ids], np.int32)
        batch = trees.pad_tree_batch([trees.tree_features(p or None, t) for p, t in zip(parses, tokens)])
        inputs.update({f"{side}_{k}": v for k, v in batch.items()})
    return inputs


def sharpen(model):
    """Scale the classifier so probabilities are far from uniform and a mismatch cannot hide."""
    kernel = model.get_layer("probabilities").kernel
    kernel.assign(kernel * 40.0)
    embeddings = model.get_layer("embedding").embeddings
    embeddings.assign(embeddings * 40.0)
    return model


def method_names(path):
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    return {k: v.method_name for k, v in proto.meta_graphs[0].signature_def.items() if not k.startswith("__")}


def check_prediction(result, expected):
    np.testing.assert_allclose(result["probabilities"], expected, rtol=1e-5, atol=1e-6)
    assert result["label_id"] == list(np.argmax(expected, -1))
    assert result["label"] == [("entailment", "neutral", "contradiction")[i] for i in np.argmax(expected, -1)]


def plant_temporaries(model_base):
    """Directories killed exports leave behind (a dead writer, an old name without a pid) and one of a live writer,
    all an hour old. Returns the live one's name."""
    live = f".tmp-7-{os.getpid()}-abc"
    for name in (".tmp-1-999999999-x1y2", ".tmp-2-q8w_e7r", live):
        (model_base / name / "variables").mkdir(parents=True)
        os.utime(model_base / name, (time.time() - 3600,) * 2)
    return live


def test_stale_temporary_exports_are_removed(tmp_path):
    live = plant_temporaries(tmp_path)
    (tmp_path / ".tmp-3-999999999-new").mkdir()  # newer than the newest export: left alone
    removed = export.remove_stale_temporaries(str(tmp_path), time.time() - 60)
    assert sorted(os.path.basename(p) for p in removed) == [".tmp-1-999999999-x1y2", ".tmp-2-q8w_e7r"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-3-999999999-new", live]


@pytest.mark.slow
def test_esim_round_trip_in_fresh_process(tmp_path):
    model = sharpen(esim.build_esim(len(VOCAB), 8, 6))
    live = plant_temporaries(tmp_path / "esim")
    path = export.export_versioned(model, VOCAB, str(tmp_path), "esim")
    assert path == str(tmp_path / "esim" / "1")
    # no temporary directory of its own left behind, and the killed exports' ones cleaned up
    assert sorted(p.name for p in (tmp_path / "esim").iterdir()) == [live, "1"]
    assert method_names(path) == {"serving_default": "tensorflow/serving/predict",
                                  "classify": "tensorflow/serving/classify"}
    rows = [{"premise": p, "hypothesis": h} for p, h in zip(PREMISES, HYPOTHESES)]
    out = load_in_fresh_process(path, {
        "predict": ["serving_default", {"premise": PREMISES, "hypothesis": HYPOTHESES}],
        "classify": ["classify", {"rows": rows}],
        "missing_feature": ["classify", {"rows": [{"premise": "A dog"}]}]})
    assert out["signatures"] == ["classify", "serving_default"]
    expected = model.predict({k: v for k, v in keras_inputs(PREMISES, HYPOTHESES).items()
                              if k in ("premise", "hypothesis")}, verbose=0)
    assert np.ptp(expected, axis=-1).min() > 0.05
    check_prediction(out["predict"], expected)
    assert out["predict"]["inputs"] == {"premise": ["string", [None]], "hypothesis": ["string", [None]]}
    np.testing.assert_allclose(out["classify"]["scores"], expected, rtol=1e-5, atol=1e-6)
    assert out["classify"]["classes"] == [["entailment", "neutral", "contradiction"]] * 3
    assert "hypothesis" in out["missing_feature"]["error"]


def test_versions_and_atomicity(tmp_path):
    model = esim.build_esim(len(VOCAB), 4, 2)
    (tmp_path / "m" / "3").mkdir(parents=True)
    (tmp_path / "m" / "notes").mkdir()
    assert export.next_version(str(tmp_path / "m")) == 4
    assert export.next_version(str(tmp_path / "absent")) == 1
    with pytest.raises(FileExistsError):
        export.export_versioned(model, VOCAB, str(tmp_path), "m", version=3)
    with pytest.raises(ValueError, match="positive"):
        export.export_versioned(model, VOCAB, str(tmp_path), "m", version=0)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["3", "notes"]  # failures leave nothing


@pytest.mark.slow
def test_tree_model_round_trip_with_and_without_parses(tmp_path):
    model = sharpen(build_tree_model(len(VOCAB), 8, 6))
    path = export.export_model(model, VOCAB, str(tmp_path / "tree" / "7"))
    hyp_parses = ["( ( The cat ) ( is sleeping ) )", "( A dog )", ""]
    out = load_in_fresh_process(path, {
        "full": ["serving_default", {"premise": PREMISES, "hypothesis": HYPOTHESES}],
        "parses": ["predict_with_parses", {"premise": PREMISES, "hypothesis": HYPOTHESES,
                                           "premise_parse": PARSES, "hypothesis_parse": hyp_parses}],
        "bad_parse": ["predict_with_parses", {"premise": ["a"], "hypothesis": ["b"],
                                              "premise_parse": ["( ( A dog ) runs"], "hypothesis_parse": [""]}]})
    assert out["signatures"] == ["classify", "predict_with_parses", "serving_default"]
    assert method_names(path)["classify"] == "tensorflow/serving/classify"
    check_prediction(out["full"], model.predict(keras_inputs(PREMISES, HYPOTHESES), verbose=0))
    with_parses = model.predict(keras_inputs(PREMISES, HYPOTHESES, PARSES, hyp_parses), verbose=0)
    check_prediction(out["parses"], with_parses)
    # Row 1 has no parses at all: it falls back to exactly the full-binary-tree prediction.
    np.testing.assert_allclose(out["parses"]["probabilities"][1], out["full"]["probabilities"][1], atol=1e-6)
    assert not np.allclose(out["parses"]["probabilities"][0], out["full"]["probabilities"][0], atol=1e-4)
    assert "malformed binary parse" in out["bad_parse"]["error"]


@pytest.mark.slow
def test_export_nli_binary_writes_next_version(tmp_path):
    model = esim.build_esim(len(VOCAB), 4, 2)
    models.save(str(tmp_path / "run"), model, VOCAB, {"model": "esim", "builder_kwargs": {}, "with_trees": False,
                                                      "tree_kind": "syntactic"})
    (tmp_path / "base" / "esim" / "4").mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "nli_app.bin.export_nli", f"--model_dir={tmp_path / 'run'}",
                             f"--export_base={tmp_path / 'base'}"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"export_dir": str(tmp_path / "base" / "esim" / "5"), "model_name": "esim", "version": 5}
    assert (tmp_path / "base" / "esim" / "5" / "saved_model.pb").exists()
    missing = subprocess.run([sys.executable, "-m", "nli_app.bin.export_nli", f"--model_dir={tmp_path}",
                              f"--export_base={tmp_path / 'base'}"], capture_output=True, text=True, timeout=600)
    assert missing.returncode != 0 and "not a trained NLI model directory" in missing.stderr
