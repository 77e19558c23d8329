"""CIFAR-10 / CIFAR-100 loaders for the "python version" pickles (Krizhevsky).

CIFAR-10 directory (``cifar-10-batches-py``): ``data_batch_1`` ... ``data_batch_5`` and ``test_batch``; CIFAR-100
directory (``cifar-100-python``): ``train`` and ``test``. Each file is a pickled dict with ``b"data"`` a uint8
[N, 3072] array (1024 red, 1024 green, 1024 blue values of a 32x32 image, row-major) and ``b"labels"`` (CIFAR-10) or
``b"fine_labels"`` / ``b"coarse_labels"`` (CIFAR-100). Images come out as float32 [N, 32, 32, 3] in [0, 1].
"""
import os
import pickle

import numpy as np

from nli_app.large_batch.data.splits import Splits, check_labels

CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)


def read_batch(path, label_key):
    """(images uint8 [N, 32, 32, 3], labels) of one pickled batch; ValueError naming the file and the problem."""
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except FileNotFoundError as e:
        raise ValueError(f"{path}: missing CIFAR batch file") from e
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a CIFAR python pickle: {e}") from e
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    for key in ("data", label_key):
        if key not in batch:
            raise ValueError(f"{path}: missing key {key!r} (has {sorted(batch)})")
    data = np.asarray(batch["data"])
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: 'data' must be [N, 3072], got shape {data.shape}")
    labels = np.asarray(batch[label_key])
    if labels.shape != (data.shape[0],):
        raise ValueError(f"{path}: {label_key!r} has {labels.size} entries for {data.shape[0]} images")
    images = data.astype(np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def _load(directory, train_files, test_files, label_key, num_classes):
    parts = {}
    for split, files in (("train", train_files), ("test", test_files)):
        xs, ys = [], []
        for name in files:
            path = os.path.join(directory, name)
            x, y = read_batch(path, label_key)
            xs.append(x)
            ys.append(check_labels(y, num_classes, f"{path}: {label_key}"))
        parts[split] = (np.concatenate(xs).astype(np.float32) / 255.0, np.concatenate(ys))
    return Splits(x_train=parts["train"][0], y_train=parts["train"][1], x_test=parts["test"][0],
                  y_test=parts["test"][1], num_classes=num_classes, source=str(directory))


def load_cifar10(directory):
    """CIFAR-10 (10 classes) from ``cifar-10-batches-py``: the training batches present (``data_batch_1`` at least;
    a partial copy such as the one batch of ``../shared/data`` gives 10,000 training images) and ``test_batch``."""
    present = [name for name in CIFAR10_TRAIN if os.path.exists(os.path.join(directory, name))]
    return _load(directory, present or CIFAR10_TRAIN[:1], CIFAR10_TEST, "labels", 10)


def load_cifar100(directory, label_mode="fine"):
    """CIFAR-100 from ``cifar-100-python``: ``label_mode`` "fine" (100 classes, the paper's) or "coarse" (20)."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"label_mode must be 'fine' or 'coarse', got {label_mode!r}")
    return _load(directory, ("train",), ("test",), f"{label_mode}_labels", 100 if label_mode == "fine" else 20)
