"""Accuracy and the confusion matrix of an NLI model on a batched dataset (rows: gold, columns: predicted)."""
import numpy as np
import tensorflow as tf

from nli_app.nli import sorted_inference
from nli_app.nli.data import snli


def confusion_matrix(labels, predictions, num_classes=len(snli.LABELS)):
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def predictions(model, batches):
    """``(labels [N], probabilities [N, 3])`` of every example of ``(features, label)`` batches, in their order."""
    # One trace for every batch shape (an LSTM graph is slow to trace).
    predict = tf.function(lambda x: sorted_inference.predict(model, x), input_signature=[batches.element_spec[0]])
    labels, probabilities = [], []
    for x, y in batches:
        labels.append(y.numpy())
        probabilities.append(predict(x).numpy())
    if not labels:
        raise ValueError("evaluate: no examples")
    return np.concatenate(labels), np.concatenate(probabilities)


def evaluate(model, batches):
    """``{"accuracy", "num_examples", "confusion_matrix" (list of lists)}`` over ``(features, label)`` batches."""
    labels, probabilities = predictions(model, batches)
    predicted = probabilities.argmax(-1)
    return {"accuracy": float(np.mean(labels == predicted)), "num_examples": int(len(labels)),
            "confusion_matrix": confusion_matrix(labels, predicted).tolist()}


def format_confusion(matrix):
    """A text table with the gold label per row and the predicted label per column."""
    width = max(len(l) for l in snli.LABELS) + 2
    lines = ["gold \\ predicted".ljust(width + 4) + "".join(l[:width - 1].rjust(width) for l in snli.LABELS)]
    for label, row in zip(snli.LABELS, matrix):
        lines.append(label.ljust(width + 4) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)
