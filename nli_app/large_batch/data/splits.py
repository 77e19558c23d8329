"""``Splits``: a train/test pair of numpy arrays, the common output of the MNIST, CIFAR and TIMIT loaders."""
import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Splits:
    """x_* float32 features (images scaled to [0, 1]), y_* int64 class ids; ``source`` names the files read."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    def subset(self, num_train=None, num_test=None):
        """The first ``num_train`` / ``num_test`` examples (None keeps all)."""
        return dataclasses.replace(self, x_train=self.x_train[:num_train], y_train=self.y_train[:num_train],
                                   x_test=self.x_test[:num_test], y_test=self.y_test[:num_test])


def load_npz(path, required):
    """{key: array} of an ``.npz`` file holding at least ``required``; ValueError naming the file otherwise."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, EOFError, ValueError) as e:
        raise ValueError(f"{path}: cannot read npz file: {e}") from e
    missing = [k for k in required if k not in arrays]
    if missing:
        raise ValueError(f"{path}: missing arrays {missing} (has {sorted(arrays)})")
    return arrays


def check_labels(labels, num_classes, where):
    """int64 labels in [0, num_classes), else ValueError naming ``where`` and the first bad row."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{where}: labels must be 1-D, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{where}: labels must be integers, got dtype {labels.dtype}")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise ValueError(f"{where}: label {labels[bad[0]]} at row {bad[0]} is outside [0, {num_classes})")
    return labels.astype(np.int64)
