"""TIMIT frame features for network F2, from a documented ``.npz`` (TIMIT itself is licensed and not shipped).

Layout (what a Kaldi recipe exports after feature extraction and forced alignment, e.g. with ``copy-feats`` and
``ali-to-pdf``, saved with ``numpy.savez``):

| key | shape, dtype | meaning |
|---|---|---|
| ``features`` | [N, D] float32 | one row per frame; D = 360 for F2 (40 log-mel filterbanks x 9 spliced frames) |
| ``labels`` | [N] integer | the frame's tied-state (senone) id in [0, num_classes) |
| ``split`` | [N] integer | 0 = train, 1 = test |
| ``num_classes`` | scalar integer (optional) | number of senones; 1973 for the paper's F2 when omitted |

Features are used as stored (normalise them in the export, e.g. per-speaker CMVN).
"""
import numpy as np

from nli_app.large_batch.data.splits import Splits, check_labels, load_npz

NUM_CLASSES = 1973
TRAIN, TEST = 0, 1


def load(path):
    """Splits from a TIMIT frame-feature ``.npz`` (see the module docstring); ValueError naming file and problem."""
    arrays = load_npz(path, ("features", "labels", "split"))
    features, labels, split = arrays["features"], arrays["labels"], arrays["split"]
    num_classes = int(arrays["num_classes"]) if "num_classes" in arrays else NUM_CLASSES
    if features.ndim != 2:
        raise ValueError(f"{path}: 'features' must be [N, D], got shape {features.shape}")
    n = features.shape[0]
    for key, array in (("labels", labels), ("split", split)):
        if array.shape != (n,):
            raise ValueError(f"{path}: {key!r} must have shape ({n},) like 'features', got {array.shape}")
    bad = np.flatnonzero((split != TRAIN) & (split != TEST))
    if bad.size:
        raise ValueError(f"{path}: 'split' value {split[bad[0]]} at row {bad[0]} is not 0 (train) or 1 (test)")
    if not np.all(np.isfinite(features)):
        raise ValueError(f"{path}: 'features' row {np.flatnonzero(~np.isfinite(features).all(1))[0]} is non-finite")
    labels = check_labels(labels, num_classes, f"{path}: labels")
    train, test = split == TRAIN, split == TEST
    return Splits(x_train=features[train].astype(np.float32), y_train=labels[train],
                  x_test=features[test].astype(np.float32), y_test=labels[test],
                  num_classes=num_classes, source=str(path))


def save(path, features, labels, split, num_classes=NUM_CLASSES):
    """Write the documented layout (for exports and tests)."""
    np.savez(path, features=np.asarray(features, np.float32), labels=np.asarray(labels, np.int32),
             split=np.asarray(split, np.int8), num_classes=np.int64(num_classes))
