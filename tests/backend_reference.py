"""TensorFlow-backend reference for `test_jax_backend.py`: tiny ESIM and tree-LSTM models, their inputs, weights,
forward passes and gradients, written to an .npz that the JAX process reads.

Keras fixes its backend per process, so the JAX test runs this file as a script in a child process
(`python tests/backend_reference.py OUT.npz`, with KERAS_BACKEND=tensorflow). Both processes build the models with
`build(kind)` from here, so the weights of `model.get_weights()` line up one to one.
"""
import os
import sys

import numpy as np

VOCAB, DIM, UNITS = 23, 4, 3
KINDS = ("esim", "tree")
# Two pairs: a parse and a one-word sentence; None is the full binary tree the models fall back on without parses.
PREMISES = ["( ( A dog ) ( ( runs fast ) . ) )", "( Hi )"]
HYPOTHESES = ["( ( The cat ) sleeps )", None]
HYPOTHESIS_WORDS = [None, "a b c d e f"]
LABELS = np.array([0, 2], np.int32)


def build(kind):
    """The model `kind` (ESIM or the tree model) at toy sizes; its dropout (0.5) is off in the calls below."""
    from nli_app.nli.models import esim, tree_model
    if kind == "esim":
        return esim.build_esim(VOCAB, DIM, UNITS)
    return tree_model.build_tree_model(VOCAB, DIM, UNITS)


def inputs(kind):
    """The models' input dict for the pairs above (ids with padding; tree arrays for the tree model)."""
    from nli_app.nli.data import trees
    rng = np.random.default_rng(7)
    features = {}
    for side, parses, words in (("premise", PREMISES, [None, None]), ("hypothesis", HYPOTHESES, HYPOTHESIS_WORDS)):
        tokens = [trees.parse_tokens(p) if p else w.split() for p, w in zip(parses, words)]
        ids = np.zeros((len(tokens), max(len(t) for t in tokens) + 2), np.int32)  # _BOS_ ... _EOS_, 0-padded
        for i, t in enumerate(tokens):
            ids[i, :len(t) + 2] = [2, *rng.integers(4, VOCAB, size=len(t)), 3]
        features[side] = ids
        if kind == "tree":
            batch = trees.pad_tree_batch([trees.tree_features(p, t) for p, t in zip(parses, tokens)])
            features.update({f"{side}_{k}": v for k, v in batch.items()})
    return features


def main(out):
    import keras
    import tensorflow as tf
    assert keras.backend.backend() == "tensorflow", keras.backend.backend()
    arrays = {}
    for kind in KINDS:
        model = build(kind)
        rng = np.random.default_rng(3)  # weights larger than the initialisers', so the classes are far from 1/3
        model.set_weights([rng.normal(0.0, 0.5, w.shape).astype(w.dtype) for w in model.get_weights()])
        x = inputs(kind)
        with tf.GradientTape() as tape:
            probabilities = model(x, training=False)
            loss = keras.ops.sum(keras.losses.sparse_categorical_crossentropy(LABELS, probabilities))
        grads = tape.gradient(loss, model.trainable_variables)
        arrays.update({f"{kind}/x/{k}": v for k, v in x.items()})
        arrays.update({f"{kind}/w/{i}": w for i, w in enumerate(model.get_weights())})
        arrays.update({f"{kind}/g/{i}": tf.convert_to_tensor(g).numpy() for i, g in enumerate(grads)})
        arrays[f"{kind}/probabilities"] = probabilities.numpy()
        arrays[f"{kind}/loss"] = loss.numpy()
    np.savez(out, **arrays)


if __name__ == "__main__":
    os.environ["KERAS_BACKEND"] = "tensorflow"
    main(sys.argv[1])
