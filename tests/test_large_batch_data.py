"""Loaders of the large-batch study on files written here byte by byte in the real formats, and their errors."""
import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from nli_app.large_batch.data import cifar, mnist, timit

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")
SHARED_MNIST = os.path.join(SHARED, "mnist", "mnist.npz")
SHARED_CIFAR = os.path.join(SHARED, "cifar10", "cifar-10-batches-py")


def _idx_bytes(array):
    array = np.asarray(array, np.uint8)
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.tobytes()


def _write_mnist_dir(directory, n_train=6, n_test=4, compress=False):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": np.arange(n_train) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": (np.arange(n_test) + 3) % 10}
    for name, array in arrays.items():
        data = _idx_bytes(array)
        if compress:
            (directory / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_directory(tmp_path, compress):
    arrays = _write_mnist_dir(tmp_path, compress=compress)
    splits = mnist.load(str(tmp_path))
    assert splits.x_train.shape == (6, 784) and splits.x_test.shape == (4, 784)
    assert splits.x_train.dtype == np.float32
    np.testing.assert_allclose(splits.x_train[2, 28 * 5 + 7], arrays["train-images-idx3-ubyte"][2, 5, 7] / 255.0,
                               rtol=1e-6)
    np.testing.assert_array_equal(splits.y_test, [3, 4, 5, 6])
    assert splits.num_classes == 10 and splits.input_shape == (784,)


def test_mnist_idx_errors(tmp_path):
    _write_mnist_dir(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-5])  # truncated
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*needs"):
        mnist.load(str(tmp_path))
    images.write_bytes(b"\x01\x02\x08\x03" + b"\x00" * 12)
    with pytest.raises(ValueError, match="not an idx file"):
        mnist.read_idx(str(images))
    images.write_bytes(b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + b"\x00" * 4)
    with pytest.raises(ValueError, match="byte 2"):
        mnist.read_idx(str(images))
    images.unlink()
    with pytest.raises(ValueError, match="missing train-images"):
        mnist.load(str(tmp_path))
    _write_mnist_dir(tmp_path, n_train=3)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.array([1, 2, 11])))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte: label 11 at row 2"):
        mnist.load(str(tmp_path))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.array([1, 2])))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte has 3 images but .*train-labels-idx1-ubyte has 2"):
        mnist.load(str(tmp_path))


def test_mnist_npz_and_errors(tmp_path):
    path = tmp_path / "mnist.npz"
    x = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    np.savez(path, x_train=x, y_train=np.array([1, 9], np.uint8), x_test=x[:1], y_test=np.array([0], np.uint8))
    splits = mnist.load(str(path))
    np.testing.assert_allclose(splits.x_train[1], np.arange(16, 32) / 255.0, rtol=1e-6)
    np.savez(path, x_train=x, y_train=np.array([1], np.uint8), x_test=x[:1], y_test=np.array([0], np.uint8))
    with pytest.raises(ValueError, match="mnist.npz: x_train has 2 images but .*mnist.npz: y_train has 1"):
        mnist.load(str(path))
    np.savez(path, x_train=x, y_train=np.array([1, 2]))
    with pytest.raises(ValueError, match=r"missing arrays \['x_test', 'y_test'\]"):
        mnist.load(str(path))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz"):
        mnist.load(str(tmp_path / "junk.npz"))
    with pytest.raises(ValueError, match="no such"):
        mnist.load(str(tmp_path / "absent.npz"))


def test_shipped_mnist_sample():
    splits = mnist.load(mnist.SAMPLE_PATH)
    assert splits.x_train.shape == (10000, 784) and splits.x_test.shape == (2000, 784)
    assert 0.0 <= splits.x_train.min() and splits.x_train.max() == 1.0
    assert np.bincount(splits.y_train).tolist() == [1000] * 10 and np.bincount(splits.y_test).tolist() == [200] * 10


@pytest.mark.skipif(not os.path.exists(SHARED_MNIST), reason=f"real MNIST not present at {SHARED_MNIST}")
def test_shipped_sample_is_drawn_from_real_mnist():
    """Every shipped image equals the full set's image at its recorded row (README: how it was drawn)."""
    with np.load(mnist.SAMPLE_PATH) as sample, np.load(SHARED_MNIST) as full:
        for split in ("train", "test"):
            index = sample[f"{split}_index"]
            assert len(np.unique(index)) == len(index)
            np.testing.assert_array_equal(sample[f"x_{split}"], full[f"x_{split}"][index])
            np.testing.assert_array_equal(sample[f"y_{split}"], full[f"y_{split}"][index])


@pytest.mark.skipif(not os.path.exists(SHARED_CIFAR), reason=f"real CIFAR-10 not present at {SHARED_CIFAR}")
def test_real_cifar10_with_one_training_batch():
    splits = cifar.load_cifar10(SHARED_CIFAR)
    assert splits.x_train.shape == (10000, 32, 32, 3) and splits.x_test.shape == (10000, 32, 32, 3)
    assert splits.x_train.dtype == np.float32 and 0.0 <= splits.x_train.min() and splits.x_train.max() <= 1.0
    assert np.bincount(splits.y_test).tolist() == [1000] * 10


def _cifar_pickle(path, data, labels, label_key):
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"testing", b"data": data, label_key: labels}, f, protocol=2)


def _planes(n, rng):
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8)


def test_cifar10_pickles(tmp_path):
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = _planes(2, rng)
        labels = list(rng.integers(0, 10, 2))
        batches[name] = (data, labels)
        _cifar_pickle(tmp_path / name, data, labels, b"labels")
    splits = cifar.load_cifar10(str(tmp_path))
    assert splits.x_train.shape == (10, 32, 32, 3) and splits.x_test.shape == (2, 32, 32, 3)
    data = batches["data_batch_2"][0]
    # image 0 of batch 2 is training row 2; pixel (row 1, col 3): red at 32 + 3, green at +1024, blue at +2048
    np.testing.assert_allclose(splits.x_train[2, 1, 3], data[0, [35, 1024 + 35, 2048 + 35]] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(splits.y_test, batches["test_batch"][1])
    for name in ("data_batch_3", "data_batch_4", "data_batch_5"):  # a partial copy: the training batches present
        os.remove(tmp_path / name)
    assert cifar.load_cifar10(str(tmp_path)).y_train.tolist() == batches["data_batch_1"][1] + batches["data_batch_2"][1]
    for name in ("data_batch_1", "data_batch_2"):
        os.remove(tmp_path / name)
    with pytest.raises(ValueError, match="data_batch_1: missing CIFAR batch file"):
        cifar.load_cifar10(str(tmp_path))


def test_cifar100_fine_and_coarse_labels(tmp_path):
    rng = np.random.default_rng(1)
    for name, n in (("train", 3), ("test", 2)):
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": _planes(n, rng), b"fine_labels": [99, 5, 42][:n],
                         b"coarse_labels": [19, 1, 7][:n], b"filenames": [b"x"] * n}, f)
    fine = cifar.load_cifar100(str(tmp_path))
    assert fine.num_classes == 100 and fine.y_train.tolist() == [99, 5, 42]
    coarse = cifar.load_cifar100(str(tmp_path), label_mode="coarse")
    assert coarse.num_classes == 20 and coarse.y_test.tolist() == [19, 1]
    with pytest.raises(ValueError, match="label_mode"):
        cifar.load_cifar100(str(tmp_path), label_mode="medium")


def test_cifar_errors(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "test_batch"
    _cifar_pickle(path, _planes(2, rng), [0, 1], b"labels")
    with pytest.raises(ValueError, match="missing key 'fine_labels'"):
        cifar.read_batch(str(path), "fine_labels")
    _cifar_pickle(path, rng.integers(0, 256, (2, 100), dtype=np.uint8), [0, 1], b"labels")
    with pytest.raises(ValueError, match=r"test_batch: 'data' must be \[N, 3072\]"):
        cifar.read_batch(str(path), "labels")
    _cifar_pickle(path, _planes(2, rng), [0], b"labels")
    with pytest.raises(ValueError, match="has 1 entries for 2 images"):
        cifar.read_batch(str(path), "labels")
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a CIFAR python pickle"):
        cifar.read_batch(str(path), "labels")
    with pytest.raises(ValueError, match="data_batch_1: missing"):
        cifar.load_cifar10(str(tmp_path))
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        _cifar_pickle(tmp_path / name, _planes(1, rng), [10], b"labels")
    with pytest.raises(ValueError, match="label 10 at row 0"):
        cifar.load_cifar10(str(tmp_path))


def test_timit_npz_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "timit.npz"
    features = rng.normal(size=(10, 360)).astype(np.float32)
    labels = rng.integers(0, 1973, 10)
    split = np.array([0, 0, 1, 0, 1, 0, 0, 0, 1, 0])
    np.savez(path, features=features, labels=labels, split=split)
    splits = timit.load(str(path))
    assert splits.num_classes == 1973 and splits.x_train.shape == (7, 360) and splits.x_test.shape == (3, 360)
    np.testing.assert_array_equal(splits.y_test, labels[[2, 4, 8]])
    np.testing.assert_array_equal(splits.x_train[2], features[3])
    np.savez(path, features=features, labels=labels % 5, split=split, num_classes=5)
    assert timit.load(str(path)).num_classes == 5
    np.savez(path, features=features, labels=labels, split=np.where(split == 1, 2, 0))
    with pytest.raises(ValueError, match="'split' value 2 at row 2"):
        timit.load(str(path))
    np.savez(path, features=features, labels=labels[:9], split=split)
    with pytest.raises(ValueError, match=r"'labels' must have shape \(10,\)"):
        timit.load(str(path))
    np.savez(path, features=features, labels=labels + 1973, split=split)
    with pytest.raises(ValueError, match="outside"):
        timit.load(str(path))
    np.savez(path, features=features, split=split)
    with pytest.raises(ValueError, match=r"missing arrays \['labels'\]"):
        timit.load(str(path))
