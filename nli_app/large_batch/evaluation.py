"""Loss and accuracy of a Keras model on numpy data (mean cross-entropy of softmax outputs), in inference mode,
batched; the f of the parametric plots (Figure 3) and the per-regime accuracies (Table 2)."""
import keras
import numpy as np


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


def _all_layers(layer):
    """``layer``'s sublayers, nested models' included, depth first."""
    for sub in getattr(layer, "layers", ()):
        yield sub
        yield from _all_layers(sub)


def recalibrate_batchnorm(model, x, max_examples=10000):
    """Set every BatchNorm layer's moving mean and variance to the statistics of (up to ``max_examples`` of) x.

    The moving averages (momentum 0.99) lag far behind the weights in short runs, large batches especially (few
    steps), and would then measure inference-mode loss at statistics the weights never saw. One full-batch forward
    pass in training mode with momentum 0 and Dropout off writes the exact population statistics, layer by layer.
    Applied to every run's final weights before it is measured, SB and LB alike.
    """
    norms = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return model
    drops = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.Dropout)]
    saved = [(layer, layer.momentum) for layer in norms], [(layer, layer.rate) for layer in drops]
    try:
        for layer in norms:
            layer.momentum = 0.0
        for layer in drops:
            layer.rate = 0.0
        model(x[:max_examples], training=True)
    finally:
        for layer, momentum in saved[0]:
            layer.momentum = momentum
        for layer, rate in saved[1]:
            layer.rate = rate
    return model
