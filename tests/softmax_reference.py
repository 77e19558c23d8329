"""A numpy softmax regression: the independent reference of the sharpness and curvature tests."""
import numpy as np


def softmax_regression(w, b, x, y):
    """Mean cross-entropy of softmax(x w + b) and its gradient (loss, d/dw, d/db): an independent numpy reference."""
    logits = x @ w + b
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(len(y)), y]))
    delta = p.copy()
    delta[np.arange(len(y)), y] -= 1
    delta /= len(y)
    return loss, x.T @ delta, delta.sum(axis=0)
