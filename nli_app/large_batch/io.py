"""Files of the large-batch experiments: JSON results and weight lists, written so that a kill never leaves a
half-written file (write to a temporary name, then ``os.replace``)."""
import json
import os

import numpy as np


def atomic_json(path, obj):
    """Write ``obj`` as JSON to ``path`` (parent directories created)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=float)
    os.replace(tmp, path)


def save_weights(path, weights):
    """Write a list of arrays (``model.get_weights()``) to the ``.npz`` file ``path``."""
    tmp = path + ".tmp.npz"
    np.savez(tmp, *weights)
    os.replace(tmp, path)


def load_weights(path):
    """The list of arrays ``save_weights`` wrote, in order."""
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def flat(weights):
    """All arrays of a weight list as one float64 vector."""
    return np.concatenate([np.asarray(w, np.float64).ravel() for w in weights])
