"""SavedModel export of NLI models for TF Serving (TF-only; DESIGN.md "Contract: SavedModel export").

``export_model(model, vocabulary, export_dir)`` writes a SavedModel with:

* ``serving_default``: ``premise``, ``hypothesis`` tf.string [None] raw text; tokenisation
  (``graph_tokenizer.tokenize_in_graph``, the ``vocab.TOKEN_REGEX`` rules), vocabulary lookup (StaticHashTable,
  unknown -> ``_UNK_``) and ``_BOS_``/``_EOS_`` happen in the graph; outputs ``probabilities`` float32 [None, 3],
  ``label_id`` int64 [None], ``label`` tf.string [None];
* ``classify`` (method name ``tensorflow/serving/classify``): ``inputs`` tf.string [None] serialized
  ``tf.Example``s with bytes features ``premise``, ``hypothesis``; outputs ``classes`` tf.string [None, 3] (the
  label names) and ``scores`` float32 [None, 3];
* tree models (the tree-LSTM model, or an HIM with a tree member) take full binary trees in those two and, unless
  ``parses=False`` (a model trained on full binary trees), also have ``predict_with_parses``: ``premise``,
  ``hypothesis``, ``premise_parse``, ``hypothesis_parse`` tf.string [None]; a non-empty binary parse gives both
  the words and the tree of its sentence, an empty one falls back to the tokenised text and the full binary tree
  (``tree_graph``); a malformed parse fails the request with INVALID_ARGUMENT "malformed binary parse".

Every export carries TF Serving's warm-up file, ``assets.extra/tf_serving_warmup_requests`` (serving/warmup.py):
Predict requests of :data:`WARMUP_PAIRS` (3 to 55 tokens, five length buckets of the batcher) one pair
at a time and all together, for every predict signature, and one Classify request, which TF Serving and
``nli_model_server`` replay before the version serves.

``export_versioned(model, vocabulary, base, name, version=None)`` writes ``BASE/NAME/VERSION/`` (the next free
integer by default) atomically: into a hidden temporary directory next to it (``.tmp-VERSION-PID-*``), then one
``rename``, so a server polling ``BASE/NAME`` never sees a half-written version. After the rename, temporary
directories an export killed earlier left behind are removed (:func:`remove_stale_temporaries`).
"""
import os
import re
import shutil
import tempfile

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from nli_app.nli import graph_tokenizer, inference_lstm, sorted_inference, tree_graph
from nli_app.nli.data import snli
from nli_app.nli.data import vocab as vocab_lib
from nli_app.nli.models import tree_model
from serving import warmup
from serving.servable import CLASSIFY_METHOD_NAME, set_method_name

_STRINGS = tf.TensorSpec([None], tf.string)

# SNLI-like pairs from 3 to 55 tokens: premises of 11 to 334 bytes, five of the batcher's power-of-two length buckets.
WARMUP_PAIRS = (
    ("A dog runs.", "An animal is moving."),
    ("Two children are playing soccer in a park.", "Kids are outside."),
    ("A woman in a red coat waits at a crowded bus stop while reading a newspaper.", "A woman is at home."),
    ("An older man with a gray beard and a blue hat is fixing the engine of an old truck on the side of a dusty "
     "road, while two boys watch him and hand him tools.", "A mechanic is working on a vehicle."),
    ("During the street festival, dozens of musicians in bright costumes march down the main avenue playing "
     "drums and trumpets, followed by dancers, children waving flags, and a crowd of tourists taking pictures "
     "from both sides of the street, while vendors sell grilled corn and lemonade from small carts parked in "
     "front of the old theater.", "Nobody is outside today."),
)


def _encode_tokens(tokens, table):
    """Ragged tokens [B, None] -> int32 ids ``_BOS_ ... _EOS_`` [B, L], padded with ``_PAD_``."""
    ids = tf.cast(table.lookup(tokens), tf.int32)
    batch = tf.shape(ids.row_lengths())[0]
    bos = tf.fill([batch, 1], vocab_lib.BOS_ID)
    eos = tf.fill([batch, 1], vocab_lib.EOS_ID)
    return tf.concat([bos, ids, eos], axis=1).to_tensor(vocab_lib.PAD_ID)


class NliServingModule(tf.Module):
    """The exported graph: a Keras NLI model plus its vocabulary table and the label names."""

    def __init__(self, model, vocabulary, parses=True):
        super().__init__()
        # The graph captures the model's tf.Variables; they (not the Keras model) are what the module tracks. Keras 3
        # exports a tracked Keras variable as a second, separate variable that the restore op fills, so a TF1
        # session (TF Serving's C++ loader, ``tf.compat.v1.saved_model.loader``) would restore that copy and leave
        # the variables the signatures read uninitialised.
        self.model_variables = [v.value for v in model.variables]
        # The BiLSTMs' stacked kernels, stacked once here rather than at every request (inference_lstm).
        self.fused_kernels = inference_lstm.FusedKernels(model)
        self._run_model = lambda inputs: sorted_inference.predict(model, inputs, kernels=self.fused_kernels)
        self.table = graph_tokenizer.lookup_table(vocabulary)
        self.labels = tf.constant(snli.LABELS)
        self.with_trees = tree_model.is_tree_model(model)
        self.with_parses = self.with_trees and parses

    def _side(self, tokens, trees_fn):
        features = {"ids": _encode_tokens(tokens, self.table)}
        if self.with_trees:
            features.update(trees_fn(tokens.row_lengths()))
        return features

    def _predict(self, premise_tokens, hypothesis_tokens, trees_fn_premise, trees_fn_hypothesis):
        inputs = {}
        for side, tokens, trees_fn in (("premise", premise_tokens, trees_fn_premise),
                                       ("hypothesis", hypothesis_tokens, trees_fn_hypothesis)):
            features = self._side(tokens, trees_fn)
            inputs[side] = features.pop("ids")
            inputs.update({f"{side}_{k}": v for k, v in features.items()})
        probabilities = tf.cast(self._run_model(inputs), tf.float32)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {"probabilities": probabilities, "label_id": label_id, "label": tf.gather(self.labels, label_id)}

    def predict_text(self, premise, hypothesis):
        return self._predict(graph_tokenizer.tokenize_in_graph(premise), graph_tokenizer.tokenize_in_graph(hypothesis),
                             tree_graph.full_binary_trees, tree_graph.full_binary_trees)

    def predict_with_parses(self, premise, hypothesis, premise_parse, hypothesis_parse):
        sides = []
        for text, parse in ((premise, premise_parse), (hypothesis, hypothesis_parse)):
            has_parse = tf.strings.length(tf.strings.strip(parse)) > 0
            from_parse = tree_graph.parse_words(parse)
            from_text = graph_tokenizer.tokenize_in_graph(text)
            # Row b holds the parse's words if it has a parse, else the text's tokens.
            tokens = tf.concat([tf.ragged.boolean_mask(from_parse, tf.ones_like(from_parse, tf.bool) &
                                                       has_parse[:, None]),
                                tf.ragged.boolean_mask(from_text, tf.ones_like(from_text, tf.bool) &
                                                       ~has_parse[:, None])], axis=1)
            sides.append((tokens, lambda n, parse=parse: tree_graph.trees_or_full(parse, n)))
        return self._predict(sides[0][0], sides[1][0], sides[0][1], sides[1][1])

    def classify(self, inputs):
        features = tf.io.parse_example(inputs, {"premise": tf.io.FixedLenFeature([], tf.string),
                                                "hypothesis": tf.io.FixedLenFeature([], tf.string)})
        scores = self.predict_text(features["premise"], features["hypothesis"])["probabilities"]
        classes = tf.tile(self.labels[None], [tf.shape(scores)[0], 1])
        return {"classes": classes, "scores": scores}

    def signatures(self):
        signatures = {
            "serving_default": tf.function(self.predict_text).get_concrete_function(
                tf.TensorSpec([None], tf.string, name="premise"), tf.TensorSpec([None], tf.string, name="hypothesis")),
            "classify": tf.function(self.classify).get_concrete_function(
                tf.TensorSpec([None], tf.string, name="inputs")),
        }
        if self.with_parses:
            names = ("premise", "hypothesis", "premise_parse", "hypothesis_parse")
            signatures["predict_with_parses"] = tf.function(self.predict_with_parses).get_concrete_function(
                *(tf.TensorSpec([None], tf.string, name=n) for n in names))
        return signatures


def warmup_logs(signatures: dict, model_name: str) -> list:
    """The warm-up ``PredictionLog``s of an export with ``signatures`` (key -> concrete function)."""
    def predict_log(key, pairs):
        log = prediction_log_pb2.PredictionLog()
        request = log.predict_log.request
        request.model_spec.name, request.model_spec.signature_name = model_name, key
        columns = {"premise": [p for p, _ in pairs], "hypothesis": [h for _, h in pairs],
                   "premise_parse": [""] * len(pairs), "hypothesis_parse": [""] * len(pairs)}
        for name in [spec.name for spec in tf.nest.flatten(signatures[key].structured_input_signature)]:
            request.inputs[name].CopyFrom(tf.make_tensor_proto(columns[name], dtype=tf.string))
        return log

    logs = []
    for key in sorted(k for k in signatures if k != "classify"):
        logs.extend(predict_log(key, [pair]) for pair in WARMUP_PAIRS)
        logs.append(predict_log(key, WARMUP_PAIRS))
    classify = prediction_log_pb2.PredictionLog()
    request = classify.classify_log.request
    request.model_spec.name, request.model_spec.signature_name = model_name, "classify"
    for premise, hypothesis in WARMUP_PAIRS:
        example = request.input.example_list.examples.add()
        example.features.feature["premise"].bytes_list.value.append(premise.encode())
        example.features.feature["hypothesis"].bytes_list.value.append(hypothesis.encode())
    return logs + [classify]


def export_model(model, vocabulary, export_dir, parses=True):
    """Writes the SavedModel of ``model`` (a Keras NLI model) with ``vocabulary`` (``vocab.Vocabulary``) to
    ``export_dir``, which must not exist; atomic (temporary sibling directory + rename). Returns ``export_dir``.
    ``parses=False`` leaves out ``predict_with_parses`` (a tree model trained on full binary trees)."""
    export_dir = os.path.abspath(os.fspath(export_dir))
    if os.path.exists(export_dir):
        raise FileExistsError(f"export directory already exists: {export_dir}")
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{os.path.basename(export_dir)}-{os.getpid()}-", dir=parent)
    try:
        module = NliServingModule(model, vocabulary, parses)
        signatures = module.signatures()
        tf.saved_model.save(module, tmp, signatures=signatures)
        set_method_name(tmp, "classify", CLASSIFY_METHOD_NAME)
        warmup.write_logs(tmp, warmup_logs(signatures, os.path.basename(parent)))
        os.rename(tmp, export_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    remove_stale_temporaries(parent, os.path.getmtime(export_dir))
    return export_dir


_TEMPORARY = re.compile(r"^\.tmp-[^-]+-(?:(?P<pid>\d+)-)?")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(model_base: str, newest_export_mtime: float) -> list:
    """Removes the ``.tmp-*`` export directories under ``model_base`` older than the newest completed export
    (modified before ``newest_export_mtime``) whose writing process is gone (a name without a pid: age alone), so
    killed exports do not accumulate; another exporter still writing keeps its directory. Returns the removed."""
    removed = []
    for name in os.listdir(model_base):
        match = _TEMPORARY.match(name)
        path = os.path.join(model_base, name)
        if match is None or not os.path.isdir(path):
            continue
        if os.path.getmtime(path) >= newest_export_mtime:
            continue
        if match["pid"] and _alive(int(match["pid"])):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def next_version(model_base):
    """1 + the largest integer directory name under ``model_base`` (1 if none)."""
    if not os.path.isdir(model_base):
        return 1
    versions = [int(d) for d in os.listdir(model_base) if d.isdigit()]
    return max(versions, default=0) + 1


def export_versioned(model, vocabulary, base, name, version=None, parses=True):
    """Writes ``base/name/version/`` (``version`` None: the next free integer); returns its path."""
    model_base = os.path.join(base, name)
    version = next_version(model_base) if version is None else int(version)
    if version < 1:
        raise ValueError(f"--version must be a positive integer, got {version}")
    return export_model(model, vocabulary, os.path.join(model_base, str(version)), parses)
