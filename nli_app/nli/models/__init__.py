"""NLI model registry (name -> builder and input kind) and the saved-model directory layout.

Models (Chen et al. 2017, Tables 1-2):

* ``esim``: ESIM (``esim.build_esim``), word ids only;
* ``tree``: the syntactic tree-LSTM model (``tree_model.build_tree_model``) over the binary parses;
* ``fulltree``: the same tree-LSTM model over full binary trees (adjacent-word merging), the tree member of
  Table 2's "ESIM + tree";
* ``him``: HIM = ESIM + syntactic tree model, class probabilities averaged (``him.build_him``);
* ``esim_fulltree``: Table 2's "ESIM + tree" = ESIM + ``fulltree`` averaged.

Ensembles are not trained: they combine members trained (and saved) separately, as in the paper.

Saved layout of ``--model_dir`` (written by ``train_nli``, read by ``eval_nli`` and ``export_nli``)::

    model_dir/model.keras    the trained Keras model (best dev accuracy); ``keras.saving.load_model``
    model_dir/vocab.txt      the vocabulary, one token per line, line number = id (``vocab.Vocabulary.load``)
    model_dir/config.json    {"model": name, "builder_kwargs": {...}, "with_trees": bool, "tree_kind": str,
                              "labels": [...], "members": [member model_dirs], ...}
"""
import dataclasses
import json
import os
from typing import Callable

import keras

from nli_app.nli.data import snli  # importing tree_model registers its layers
from nli_app.nli.data import vocab as vocab_lib
from nli_app.nli.models import esim, him, tree_model  # importing tree_model registers its layers

MODEL_FILE, VOCAB_FILE, CONFIG_FILE = "model.keras", "vocab.txt", "config.json"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to build a model and which inputs it reads (``dataset.make_dataset(with_trees, tree_kind)``)."""
    build: Callable
    with_trees: bool = False
    tree_kind: str = "syntactic"
    ensemble: bool = False  # built from trained members: ``build(list_of_models)``

    @property
    def needs_parses(self):
        """Whether its data files must have binary parses (``snli.read_snli(require_parses=...)``)."""
        return needs_parses(self.with_trees, self.tree_kind)


def needs_parses(with_trees, tree_kind):
    """Syntactic tree inputs come from the files' binary parses; ESIM and the full binary tree need none."""
    return with_trees and tree_kind == "syntactic"


MODELS = {
    "esim": ModelSpec(esim.build_esim),
    "tree": ModelSpec(tree_model.build_tree_model, with_trees=True),
    "fulltree": ModelSpec(tree_model.build_tree_model, with_trees=True, tree_kind="full"),
    "him": ModelSpec(him.build_him, with_trees=True, ensemble=True),
    "esim_fulltree": ModelSpec(him.build_him, with_trees=True, tree_kind="full", ensemble=True),
}


def get(name):
    if name not in MODELS:
        raise ValueError(f"unknown NLI model {name!r}; choose from {sorted(MODELS)}")
    return MODELS[name]


def save(model_dir, model, vocabulary, config):
    """Writes ``model.keras``, ``vocab.txt`` and ``config.json`` into ``model_dir``.

    ``model.keras`` holds the model and its weights, not the optimizer's slots (Adam's would triple its size;
    training resumes from the trainer's checkpoints, not from this file)."""
    os.makedirs(model_dir, exist_ok=True)
    optimizer = getattr(model, "optimizer", None)  # the Trainer attaches it for Keras callbacks
    if optimizer is not None:
        del model.optimizer
    try:
        model.save(os.path.join(model_dir, MODEL_FILE))
    finally:
        if optimizer is not None:
            model.optimizer = optimizer
    vocabulary.save(os.path.join(model_dir, VOCAB_FILE))
    with open(os.path.join(model_dir, CONFIG_FILE), "w") as f:
        json.dump({**config, "labels": list(snli.LABELS)}, f, indent=1)


def load(model_dir):
    """``(model, vocabulary, config)`` saved by ``save``."""
    paths = [os.path.join(model_dir, name) for name in (MODEL_FILE, VOCAB_FILE, CONFIG_FILE)]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(f"{model_dir} is not a trained NLI model directory: missing {missing}")
    with open(paths[2]) as f:
        config = json.load(f)
    return keras.saving.load_model(paths[0]), vocab_lib.Vocabulary.load(paths[1]), config
