"""The toy problem every optimizer test runs (tests/test_optimizers.py, and under JAX tests/test_jax_backend.py).

An embedding lookup whose rows drop in and out between steps (their gradient is 0 on the other steps, which tells
the rules that decay state on every step from those that only touch the rows seen) and a dense layer with a bias,
trained on a mean squared error. Non-default hyperparameters and large epsilons: a misplaced epsilon or a swapped
beta shows up in the numbers.
"""
import keras
import numpy as np

VOCAB, SEQ, DIM, OUT, BATCH = 12, 5, 3, 2, 6

HPARAMS = {
    "sgd": dict(learning_rate=0.1),
    "momentum": dict(learning_rate=0.05, momentum=0.8),
    "nesterov": dict(learning_rate=0.05, momentum=0.8),
    "adagrad": dict(learning_rate=0.1, epsilon=1e-3),
    "adadelta": dict(learning_rate=1.0, rho=0.85, epsilon=1e-3),
    "rmsprop": dict(learning_rate=0.01, rho=0.85, epsilon=1e-3),
    "adam": dict(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-3),
    "adamax": dict(learning_rate=0.02, beta_1=0.8, beta_2=0.95),
    "nadam": dict(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-3),
    "amsgrad": dict(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-3),
    "adamw": dict(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-3, weight_decay=0.1),
}
NAMES = sorted(HPARAMS)


def build_model():
    keras.utils.set_random_seed(1)
    ids = keras.Input((SEQ,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, DIM, embeddings_initializer="uniform")(ids)
    x = keras.layers.GlobalAveragePooling1D()(x)
    out = keras.layers.Dense(OUT, kernel_initializer="glorot_uniform", bias_initializer="ones")(x)
    return keras.Model(ids, out)


def batches(steps, seed=0):
    """``steps`` batches of ids [steps, BATCH, SEQ] and targets [steps, BATCH, OUT]."""
    rng = np.random.default_rng(seed)
    # Step t looks up rows 2 (t % 3) ... 2 (t % 3) + 4: rows drop in and out (their g is 0 on the other steps).
    offsets = 2 * (np.arange(steps) % 3)[:, None, None]
    ids = (rng.integers(0, 5, size=(steps, BATCH, SEQ)) + offsets).astype("int32")
    y = rng.normal(size=(steps, BATCH, OUT)).astype("float32")
    return ids, y
