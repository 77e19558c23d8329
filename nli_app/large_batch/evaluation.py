"""Loss and accuracy of a Keras model on numpy data (mean cross-entropy of softmax outputs), in inference mode,
batched; the f of the parametric plots (Figure 3) and the per-regime accuracies (Table 2)."""
import numpy as np

from nli_app.sharpness.model import batch_statistics


def evaluate(model, x, y, batch_size=4096):
    """{"loss": mean cross-entropy, "accuracy": fraction correct} of ``model`` (probability outputs) on (x, y)."""
    y = np.asarray(y)
    if len(y) == 0:
        raise ValueError("evaluate needs at least one example")
    nll, correct = 0.0, 0
    for start in range(0, len(y), batch_size):
        p = np.asarray(model(x[start:start + batch_size], training=False), np.float64)
        labels = y[start:start + batch_size]
        nll -= np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, None)).sum()
        correct += int(np.sum(p.argmax(axis=1) == labels))
    return {"loss": nll / len(y), "accuracy": correct / len(y)}


def recalibrate_batchnorm(model, x, max_examples=10000):
    """Set every BatchNorm layer's moving mean and variance to the statistics of (up to ``max_examples`` of) x.

    The moving averages (momentum 0.99) lag far behind the weights in short runs, large batches especially (few
    steps), and would then measure inference-mode loss at statistics the weights never saw. One full-batch forward
    pass in training mode with momentum 0 and Dropout off writes the exact population statistics, layer by layer.
    Applied to every run's final weights before it is measured, SB and LB alike.
    """
    with batch_statistics(model, momentum=0.0):
        model(x[:max_examples], training=True)
    return model
