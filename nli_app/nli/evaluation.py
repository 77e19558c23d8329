"""Accuracy and the confusion matrix of an NLI model on a batched dataset (rows: gold, columns: predicted)."""
import numpy as np
import tensorflow as tf

from nli_app.nli import sorted_inference
from nli_app.nli.data import snli


def confusion_matrix(labels, predictions, num_classes=len(snli.LABELS)):
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def evaluate(model, batches):
    """``{"accuracy", "num_examples", "confusion_matrix" (list of lists)}`` over ``(features, label)`` batches."""
    # One trace for every batch shape (an LSTM graph is slow to trace).
    predict = tf.function(lambda x: tf.argmax(sorted_inference.predict(model, x), axis=-1),
                          input_signature=[batches.element_spec[0]])
    labels, predictions = [], []
    for x, y in batches:
        labels.append(y.numpy())
        predictions.append(predict(x).numpy())
    if not labels:
        raise ValueError("evaluate: no examples")
    labels, predictions = np.concatenate(labels), np.concatenate(predictions)
    return {"accuracy": float(np.mean(labels == predictions)), "num_examples": int(len(labels)),
            "confusion_matrix": confusion_matrix(labels, predictions).tolist()}


def format_confusion(matrix):
    """A text table with the gold label per row and the predicted label per column."""
    width = max(len(l) for l in snli.LABELS) + 2
    lines = ["gold \\ predicted".ljust(width + 4) + "".join(l[:width - 1].rjust(width) for l in snli.LABELS)]
    for label, row in zip(snli.LABELS, matrix):
        lines.append(label.ljust(width + 4) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)
