"""1-D parametric plots between the SB minimiser x_s and the LB minimiser x_l (Figure 3, Appendix D).

    linear: x(alpha) = alpha x_l + (1 - alpha) x_s                 (Figure 3)
    curved: x(alpha) = sin(alpha pi / 2) x_l + cos(alpha pi / 2) x_s  (Appendix D)

alpha in [-1, 2] (25 points by default); alpha = 0 is x_s and alpha = 1 is x_l on both paths. Every weight of the
model is interpolated, BatchNorm moving statistics included, so both endpoints are exactly the trained models.
"""
import numpy as np

from nli_app.large_batch.evaluation import evaluate, recalibrate_batchnorm

PATHS = ("linear", "curved")


def coefficients(alpha, path):
    """(c_l, c_s) with x(alpha) = c_l x_l + c_s x_s."""
    if path == "linear":
        return alpha, 1.0 - alpha
    if path == "curved":
        return np.sin(alpha * np.pi / 2), np.cos(alpha * np.pi / 2)
    raise ValueError(f"path must be one of {PATHS}, got {path!r}")


def interpolate(model, weights_s, weights_l, splits, alphas=None, path="linear", batch_size=4096,
                recalibrate_bn=True):
    """Train/test loss and accuracy along the path; ``model`` is a scratch model of the architecture (its weights
    are overwritten). With ``recalibrate_bn`` the BatchNorm statistics of every x(alpha) are recomputed on the
    training set (``evaluation.recalibrate_batchnorm``, as for the endpoints themselves); otherwise they are
    interpolated like the other weights. Returns a dict of lists: alpha, train_loss, test_loss, train_accuracy,
    test_accuracy."""
    if len(weights_s) != len(weights_l):
        raise ValueError(f"the two models have {len(weights_s)} and {len(weights_l)} weight arrays")
    alphas = np.linspace(-1.0, 2.0, 25) if alphas is None else np.asarray(alphas, np.float64)
    out = {"path": path, "alpha": [], "train_loss": [], "test_loss": [], "train_accuracy": [], "test_accuracy": []}
    for alpha in alphas:
        c_l, c_s = coefficients(float(alpha), path)
        mixed = [(c_l * np.asarray(wl, np.float64) + c_s * np.asarray(ws, np.float64)).astype(np.asarray(ws).dtype)
                 for ws, wl in zip(weights_s, weights_l)]
        _clip_variances(model, mixed)
        model.set_weights(mixed)
        if recalibrate_bn:
            recalibrate_batchnorm(model, splits.x_train)
        train = evaluate(model, splits.x_train, splits.y_train, batch_size)
        test = evaluate(model, splits.x_test, splits.y_test, batch_size)
        out["alpha"].append(float(alpha))
        out["train_loss"].append(train["loss"])
        out["test_loss"].append(test["loss"])
        out["train_accuracy"].append(train["accuracy"])
        out["test_accuracy"].append(test["accuracy"])
    return out


def _clip_variances(model, weights):
    """Extrapolating (alpha outside [0, 1]) can make a BatchNorm moving variance negative; clip it at 0."""
    names = [w.path for w in model.weights]
    for i, name in enumerate(names):
        if name.endswith("moving_variance"):
            weights[i] = np.maximum(weights[i], 0.0)
