"""A tiny NLI SavedModel with exactly the export contract's signatures (docs/DESIGN.md), for tests and benchmarks.

``serving_default``: ``premise``, ``hypothesis`` tf.string [None] -> ``probabilities`` float32 [None, 3],
``label_id`` int64 [None], ``label`` tf.string [None]; ``classify`` (method ``tensorflow/serving/classify``):
``inputs`` serialized ``tf.Example`` [None] -> ``classes`` tf.string [None, 3], ``scores`` float32 [None, 3].

The "model" is a softmax over three whitespace-token features, so :func:`reference_probabilities` (numpy) gives
the exact expected output: ``softmax([len(premise), len(hypothesis), count("not" in hypothesis)] @ W + b)``.
"""
import numpy as np
import tensorflow as tf

from serving.servable import CLASSIFY_METHOD_NAME, set_method_name

LABELS = ("entailment", "neutral", "contradiction")


def toy_weights(seed: int):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(3, 3)).astype(np.float32) * 0.5, rng.normal(size=3).astype(np.float32)


def features(premises, hypotheses) -> np.ndarray:
    rows = []
    for p, h in zip(premises, hypotheses):
        p = p.decode() if isinstance(p, bytes) else p
        h = h.decode() if isinstance(h, bytes) else h
        rows.append([len(p.split()), len(h.split()), h.split().count("not")])
    return np.asarray(rows, np.float32).reshape(-1, 3)


def reference_probabilities(premises, hypotheses, seed: int) -> np.ndarray:
    """numpy transcription of the toy model with the weights of ``seed``."""
    weights, bias = toy_weights(seed)
    logits = features(premises, hypotheses) @ weights + bias
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


class _ToyNLI(tf.Module):
    def __init__(self, seed):
        super().__init__()
        weights, bias = toy_weights(seed)
        self.weights = tf.Variable(weights)
        self.bias = tf.Variable(bias)
        self.labels = tf.constant(LABELS)

    def _probabilities(self, premise, hypothesis):
        p = tf.strings.split(premise)
        h = tf.strings.split(hypothesis)
        nots = tf.reduce_sum(tf.cast(tf.equal(h, "not"), tf.float32), axis=1)
        x = tf.stack([tf.cast(p.row_lengths(), tf.float32), tf.cast(h.row_lengths(), tf.float32), nots], axis=1)
        return tf.nn.softmax(tf.matmul(x, self.weights) + self.bias)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="premise"),
                                  tf.TensorSpec([None], tf.string, name="hypothesis")])
    def predict(self, premise, hypothesis):
        probabilities = self._probabilities(premise, hypothesis)
        label_id = tf.argmax(probabilities, axis=1)
        return {"probabilities": probabilities, "label_id": label_id, "label": tf.gather(self.labels, label_id)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(self, inputs):
        parsed = tf.io.parse_example(inputs, {"premise": tf.io.FixedLenFeature([], tf.string),
                                              "hypothesis": tf.io.FixedLenFeature([], tf.string)})
        scores = self._probabilities(parsed["premise"], parsed["hypothesis"])
        classes = tf.tile(self.labels[tf.newaxis], [tf.shape(inputs)[0], 1])
        return {"classes": classes, "scores": scores}


def write_toy_model(export_dir: str, seed: int = 0) -> str:
    """Writes the toy SavedModel (weights drawn from ``seed``) to ``export_dir`` (a ``BASE/NAME/VERSION`` dir)."""
    module = _ToyNLI(seed)
    tf.saved_model.save(module, export_dir, signatures={"serving_default": module.predict,
                                                        "classify": module.classify})
    set_method_name(export_dir, "classify", CLASSIFY_METHOD_NAME)
    return export_dir
