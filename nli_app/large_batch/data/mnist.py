"""MNIST loaders: the original idx files (optionally gzipped) and Keras' ``mnist.npz``.

idx format (LeCun): big-endian; bytes 0-1 zero, byte 2 the element type (0x08 = uint8), byte 3 the number of
dimensions d, then d big-endian uint32 sizes, then the data. Standard names in a directory:
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``
(each optionally ``.gz``). The npz layout has ``x_train`` [N, H, W] uint8, ``y_train`` [N], ``x_test``, ``y_test``
(also the layout of the shipped sample ``nli_app/data/mnist/mnist_sample.npz``). Images come out flattened to
[N, H*W] float32 in [0, 1], the input of network F1.
"""
import gzip
import os

import numpy as np

from nli_app.large_batch.data import splits as splits_lib
from nli_app.large_batch.data.splits import Splits, check_labels

IDX_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NUM_CLASSES = 10
_APP_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # nli_app/
SAMPLE_PATH = os.path.join(_APP_DIR, "data", "mnist",
                           "mnist_sample.npz")  # 10,000 + 2,000 real MNIST images (see its README.md)


def read_idx(path):
    """One idx file as a uint8 numpy array of its declared shape; ValueError naming the file and byte offset."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read idx file: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an idx file (bytes 0-1 must be zero)")
    if raw[2] != 0x08:
        raise ValueError(f"{path}: byte 2: element type 0x{raw[2]:02x} is not 0x08 (unsigned byte)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{path}: header declares {ndim} dimensions but the file has {len(raw)} bytes")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise ValueError(f"{path}: byte {header}: shape {shape} needs {expected} bytes, file has {len(raw)}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _images(x, where):
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"{where}: images must be [N, H, W], got shape {x.shape}")
    scale = 255.0 if x.dtype == np.uint8 or x.max(initial=0) > 1 else 1.0
    return (x.reshape(len(x), -1) / scale).astype(np.float32)


def _splits(arrays, source, where):
    """``where[key]``: how errors name the array (its file, or ``file: key`` inside an npz)."""
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(x) != len(y):
            raise ValueError(f"{where[f'x_{split}']} has {len(x)} images but {where[f'y_{split}']} has "
                             f"{len(y)} labels")
    return Splits(x_train=_images(arrays["x_train"], where["x_train"]),
                  y_train=check_labels(arrays["y_train"], NUM_CLASSES, where["y_train"]),
                  x_test=_images(arrays["x_test"], where["x_test"]),
                  y_test=check_labels(arrays["y_test"], NUM_CLASSES, where["y_test"]),
                  num_classes=NUM_CLASSES, source=str(source))


def load_idx_dir(directory):
    """MNIST from the four idx files in ``directory`` (plain or .gz)."""
    arrays, where = {}, {}
    for key, name in IDX_FILES.items():
        for candidate in (name, name + ".gz"):
            path = os.path.join(directory, candidate)
            if os.path.exists(path):
                arrays[key], where[key] = read_idx(path), path
                break
        else:
            raise ValueError(f"{directory}: missing {name}(.gz)")
    return _splits(arrays, directory, where)


def load_npz(path):
    """MNIST from a Keras-layout ``.npz`` (x_train, y_train, x_test, y_test)."""
    arrays = splits_lib.load_npz(path, NPZ_KEYS)
    return _splits(arrays, path, {k: f"{path}: {k}" for k in NPZ_KEYS})


def load(path):
    """MNIST from an ``.npz`` file or a directory of idx files."""
    if os.path.isdir(path):
        return load_idx_dir(path)
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such MNIST file or directory")
    return load_npz(path)
