"""Small networks trained on the shipped MNIST sample, for the sharpness tests on trained minimisers.

Also a script: ``python -m tests.sharpness_trained MODEL.keras`` measures phi of a saved MLP with both maximisers
(full space and p = 20) and prints the results as JSON, so that a test can compare two processes.
"""
import json
import sys

import keras
import numpy as np

from nli_app.large_batch.data import mnist
from nli_app.large_batch.networks import build_c1, build_f1

NUM_EXAMPLES = 512
SHARPNESS_EXAMPLES = 256


def mnist_sample(num_examples=NUM_EXAMPLES):
    """The first ``num_examples`` images of the shipped sample, 2 x 2 mean-pooled to 14 x 14 (flattened)."""
    splits = mnist.load(mnist.SAMPLE_PATH)
    x = splits.x_train[:num_examples].reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4))
    return x.reshape(num_examples, 196).astype(np.float32), splits.y_train[:num_examples]


def _mlp(batchnorm):
    layers = [keras.Input((196,)), keras.layers.Dense(64)]
    layers += [keras.layers.BatchNormalization()] if batchnorm else []
    layers += [keras.layers.ReLU(), keras.layers.Dense(10, activation="softmax")]
    return keras.Sequential(layers)


def _c1():
    inputs = keras.Input((196,))
    image = keras.layers.Reshape((14, 14, 1))(inputs)
    return keras.Model(inputs, build_c1(input_shape=(14, 14, 1))(image))


NETWORKS = {"mlp": lambda: _mlp(False), "mlp_bn": lambda: _mlp(True), "f1": lambda: build_f1(input_shape=(196,)),
            "c1": _c1}
REGIMES = {"SB": dict(batch_size=32, epochs=3), "LB": dict(batch_size=NUM_EXAMPLES, epochs=30)}


def trained(name, regime, data, seed=0):
    """Network ``name`` trained with Adam in ``regime`` ("SB" or "LB") on ``data``."""
    keras.utils.set_random_seed(seed)
    model = NETWORKS[name]()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    model.fit(*data, shuffle=True, verbose=0, **REGIMES[regime])
    return model


def measure(model, data, epsilon=1e-3):
    """{"method/space": phi} of ``model`` on the first ``SHARPNESS_EXAMPLES`` of ``data``, both maximisers."""
    from nli_app.sharpness import model_sharpness  # pylint: disable=import-outside-toplevel
    x, y = data
    return {f"{method}/{'full' if p is None else p}": model_sharpness(
        model, (x[:SHARPNESS_EXAMPLES], y[:SHARPNESS_EXAMPLES]), epsilon, subspace_dim=p, method=method,
        max_evaluations=12).value for method in ("default", "paper") for p in (None, 20)}


if __name__ == "__main__":
    print(json.dumps(measure(keras.models.load_model(sys.argv[1]), mnist_sample())))
