"""``Study``: what every experiment of the large-batch study shares — the data, the network, the training settings,
the sharpness settings and the output directory — and the one resumable way to train a network.

Resuming after a kill works at two levels: a finished training run leaves ``final_weights.npz`` and
``final_history.json`` in its directory and is never retrained (experiments share runs by name, e.g. the SB and LB
runs of seed 0 serve Table 2, the parametric plots and the remedies' baseline); an unfinished one is resumed by
the trainer from its checkpoints in the same directory.
"""
import dataclasses
import itertools
import json
import os

import keras
from absl import logging

from nli_app import summary
from nli_app.large_batch import networks
from nli_app.large_batch.evaluation import evaluate, recalibrate_batchnorm
from nli_app.large_batch.io import atomic_json, load_weights, save_weights
from nli_app.sharpness import model_sharpness
from nli_app.train.early_stopping import EarlyStopping
from nli_app.train.trainer import Trainer


# The layout of a run's cached measurements.json; a cache of another format (or other settings) is measured again.
# 2: sharpness keyed by ``summary.sharpness_tag`` (method included); 3: "default" starts with the paper's run.
MEASUREMENT_FORMAT = 3


@dataclasses.dataclass(frozen=True)
class SharpnessSettings:
    """Metric 2.1 settings: the epsilons (Table 3 uses 1e-3 and 5e-4), A = I and/or a random n x p subspace, and
    the objective's choices the paper leaves open (see ``nli_app.sharpness.model``; README: the scale of phi)."""
    epsilons: tuple = (1e-3, 5e-4)
    subspace_dims: tuple = (None,)       # None = full space; an int p = random n x p matrix A (Table 4)
    max_iterations: int = 10             # L-BFGS-B iterations of method "paper"
    num_examples: int | None = None      # None = the whole training set
    methods: tuple = ("default", "paper")  # maximisers (nli_app.sharpness.box); the first one is the primary
    max_evaluations: int = 40            # (f, grad) evaluations of "default" after the paper's run
    reduction: str = "mean"              # f = mean (or "sum") of the per-example training losses
    batchnorm: str = "inference"         # BatchNorm in f: "inference" (moving statistics) or "batch" statistics
    batch_size: int = 4096               # evaluation batch (the batch of the "batch" statistics)
    dtype: str = "float32"               # the objective's float type


@dataclasses.dataclass
class Run:
    """A finished training run: final weights (all model weights, BatchNorm statistics recalibrated on the training
    set unless disabled), per-epoch history, its directory."""
    name: str
    batch_size: int
    seed: int
    weights: list
    history: dict
    directory: str


class Study:
    """Shared state of the experiments; ``train`` is resumable (see the module docstring).

    Args:
        trainer_config: the ``TrainerConfig`` of every run; each run sets its own batch size, seed, directory and
            (warm starts) epochs.
        patience: stop a run when the training loss has not improved for this many epochs (None: never).
        target_train_accuracy: stop a run at the end of the first epoch where its training accuracy, measured as
            runs are (:meth:`training_accuracy`), reaches it (None: never).
        recalibrate_bn: measure with BatchNorm statistics recomputed on the training set
            (``evaluation.recalibrate_batchnorm``).
    """

    def __init__(self, splits, network, output_dir, trainer_config, sharpness_settings, strategy=None, patience=3,
                 recalibrate_bn=True, target_train_accuracy=None):
        self.splits = splits
        self.network = network
        self.output_dir = output_dir
        self.trainer_config = trainer_config
        self.sharpness_settings = sharpness_settings
        self.patience = patience
        self.target_train_accuracy = target_train_accuracy
        self.recalibrate_bn = recalibrate_bn
        self.strategy = strategy
        os.makedirs(output_dir, exist_ok=True)

    # models ---------------------------------------------------------------------------------------------------
    def build(self, seed=0):
        """A fresh network with the initial weights of ``seed`` (same seed -> same x_0)."""
        keras.utils.set_random_seed(seed)
        return networks.build(self.network, self.splits.input_shape, self.splits.num_classes)

    def scratch_model(self, weights):
        model = networks.build(self.network, self.splits.input_shape, self.splits.num_classes)
        model.set_weights(weights)
        return model

    def initial_weights(self, seed):
        return self.build(seed).get_weights()

    def measurable(self, weights):
        """The weights as measured: BatchNorm statistics recalibrated on the training set (unless disabled)."""
        if not self.recalibrate_bn:
            return weights
        return recalibrate_batchnorm(self.scratch_model(weights), self.splits.x_train).get_weights()

    def trainable(self, weights):
        """The trainable arrays of a ``get_weights()`` list (BatchNorm moving statistics dropped)."""
        mask = [v.trainable for v in self.build(0).weights]
        return [w for w, keep in zip(weights, mask) if keep]

    # training -------------------------------------------------------------------------------------------------
    def train(self, name, batch_size, seed=0, initial_weights=None, epochs=None, trainer_cls=None, callbacks=(),
              batch_fn=None):
        """Train (or reuse) run ``name``: ``batch_size`` global batch, ``seed``, optional warm-start weights."""
        directory = os.path.join(self.output_dir, "runs", name)
        weights_path = os.path.join(directory, "final_weights.npz")
        history_path = os.path.join(directory, "final_history.json")
        if os.path.exists(weights_path) and os.path.exists(history_path):
            logging.info("run %s: already finished, reusing %s", name, weights_path)
            with open(history_path) as f:
                history = json.load(f)
            return Run(name, batch_size, seed, load_weights(weights_path), history, directory)
        config = dataclasses.replace(self.trainer_config, global_batch_size=int(batch_size), seed=seed,
                                     model_dir=directory, epochs=int(epochs or self.trainer_config.epochs))

        def build_model():
            model = self.build(seed)
            if initial_weights is not None:
                model.set_weights(initial_weights)
            return model

        cls = trainer_cls or Trainer
        kwargs = {"loss": keras.losses.SparseCategoricalCrossentropy(), "metrics": ("accuracy",)}
        if batch_fn is not None:
            kwargs["batch_fn"] = batch_fn
        trainer = cls(build_model, config, strategy=self.strategy, **kwargs)
        callbacks = list(callbacks)
        if self.patience:
            callbacks.append(loss_plateau_stop(self.patience))
        if self.target_train_accuracy:
            callbacks.append(TargetAccuracyStop(self.target_train_accuracy, self.training_accuracy))
        logging.info("run %s: training %s, batch %d, seed %d, %s", name, self.network, batch_size, seed,
                     "warm start" if initial_weights is not None else "fresh start")
        # The trainer's batch_fn also batches validation data, so runs with a custom one (augmentation, repeated
        # batches) skip validation during training; every run is measured on the clean test set afterwards.
        validation = None if batch_fn is not None else (self.splits.x_test, self.splits.y_test)
        history = trainer.fit((self.splits.x_train, self.splits.y_train), validation_data=validation,
                              callbacks=callbacks)
        weights = self.measurable(trainer.model.get_weights())
        save_weights(weights_path, weights)
        history = {k: [float(v) for v in vs] for k, vs in dict(history).items()}
        atomic_json(history_path, history)
        return Run(name, batch_size, seed, weights, history, directory)

    def training_accuracy(self, model, num_examples=2000):
        """The training accuracy of ``model``'s current weights as a finished run is measured (BatchNorm
        recalibrated, inference mode: no dropout), on the first ``num_examples`` training examples."""
        x, y = self.splits.x_train[:num_examples], self.splits.y_train[:num_examples]
        scratch = self.scratch_model(model.get_weights())
        if self.recalibrate_bn:
            recalibrate_batchnorm(scratch, x)
        return evaluate(scratch, x, y)["accuracy"]

    # measurements ---------------------------------------------------------------------------------------------
    def accuracy(self, weights):
        model = self.scratch_model(weights)
        train = evaluate(model, self.splits.x_train, self.splits.y_train)
        test = evaluate(model, self.splits.x_test, self.splits.y_test)
        return {"train_loss": train["loss"], "train_accuracy": train["accuracy"], "test_loss": test["loss"],
                "test_accuracy": test["accuracy"]}

    def sharpness(self, weights, seed=0):
        """{``summary.sharpness_tag("sharpness", e, p, method)``: result dict} for every configured setting. Where
        both maximisers are configured, "paper" is read off "default", which starts with the paper's run."""
        s = self.sharpness_settings
        model = self.scratch_model(weights)
        settings = list(itertools.product(s.epsilons, s.subspace_dims))

        def measure(method, eps, p):
            return model_sharpness(model, (self.splits.x_train, self.splits.y_train), eps, subspace_dim=p,
                                   method=method, max_iterations=s.max_iterations,
                                   max_evaluations=s.max_evaluations, seed=seed, num_examples=s.num_examples,
                                   reduction=s.reduction, batchnorm=s.batchnorm, batch_size=s.batch_size,
                                   dtype=s.dtype)

        results = {}
        for eps, p in settings:
            if "default" in s.methods:
                default = measure("default", eps, p)
                results["default", eps, p], results["paper", eps, p] = default, default.paper
            else:
                results["paper", eps, p] = measure("paper", eps, p)
        out = {}
        for method in s.methods:
            for eps, p in settings:
                result = results[method, eps, p]
                out[summary.sharpness_tag("sharpness", eps, p, method)] = result.to_json()
                logging.info("sharpness %s eps=%g %s: %.4g (%d evaluations)", method, eps,
                             "full" if p is None else f"p={p}", result.value, result.evaluations)
        return out

    def primary_sharpness(self, sharpness):
        """The value of the first configured setting (what sweeps and plots show)."""
        s = self.sharpness_settings
        return sharpness[summary.sharpness_tag("sharpness", s.epsilons[0], s.subspace_dims[0], s.methods[0])]["value"]

    def measure(self, run):
        """Accuracy and sharpness of a run, cached next to its weights."""
        path = os.path.join(run.directory, "measurements.json")
        key = json.dumps({"format": MEASUREMENT_FORMAT, **dataclasses.asdict(self.sharpness_settings)}, sort_keys=True,
                         default=str)
        if os.path.exists(path):
            with open(path) as f:
                cached = json.load(f)
            if cached.get("settings") == key:
                return cached["result"]
        result = {**self.accuracy(run.weights), "sharpness": self.sharpness(run.weights, seed=run.seed),
                  "batch_size": run.batch_size, "seed": run.seed, "epochs": len(run.history.get("loss", []))}
        atomic_json(path, {"settings": key, "result": result})
        return result

    def path(self, *parts):
        path = os.path.join(self.output_dir, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path


def regime_batch_sizes(num_train, sb=-1, lb=0):
    """{"SB": b_s, "LB": b_l} from the flags' rules; ValueError unless b_s < b_l <= num_train."""
    if sb == -1:
        sb = 256 if num_train >= 16384 else max(8, num_train // 64)
    lb = lb or max(1, num_train // 10)
    if not 0 < sb < lb <= num_train:
        raise ValueError(f"need 0 < SB batch ({sb}) < LB batch ({lb}) <= training examples ({num_train})")
    return {"SB": int(sb), "LB": int(lb)}


def loss_plateau_stop(patience):
    """Stop when the epoch's training loss has not improved for ``patience`` epochs ("until the loss stops
    improving", Section 2.2); checkpointed with the run, so a resumed run stops where an uninterrupted one would."""
    return EarlyStopping("loss", patience=int(patience), mode="min", min_delta=1e-6)


class TargetAccuracyStop(keras.callbacks.Callback):
    """Stop at the end of the first epoch where ``accuracy_fn(model)`` is at least ``target`` ("trained until
    training accuracy >= 99%"; the paper's minimisers sit at 99.9%). The epoch's running accuracy would not do:
    with dropout on it stays 5-8 points below what C1 scores at 99%. Each value is logged and kept in ``measured``;
    the decision looks at the current weights only, so a resumed run stops where an uninterrupted one would."""

    def __init__(self, target, accuracy_fn):
        super().__init__()
        if not 0 < target <= 1:
            raise ValueError(f"target training accuracy must be in (0, 1], got {target}")
        self.target = float(target)
        self.accuracy_fn = accuracy_fn
        self.measured = []

    def on_epoch_end(self, epoch, logs=None):
        accuracy = float(self.accuracy_fn(self.model))
        self.measured.append(accuracy)
        logging.info("epoch %d: training accuracy %.4f (target %.4f)", epoch + 1, accuracy, self.target)
        if accuracy >= self.target:
            self.model.stop_training = True
