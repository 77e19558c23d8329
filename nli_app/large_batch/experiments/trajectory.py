"""Experiment 6: sharpness against training loss along training (Figure 6), and the distance ratio
||x_s - x_0|| / ||x_l - x_0|| of SB and LB runs from the same starting point x_0 (Section 4)."""
import json
import os

import keras
import numpy as np

from nli_app import summary
from nli_app.large_batch.experiments import plots, tb
from nli_app.large_batch.io import atomic_json, flat


class SharpnessAlongTraining(keras.callbacks.Callback):
    """After every epoch: training loss and sharpness of the current iterate, appended to a JSON file (so a resumed
    run keeps the epochs measured before the kill)."""

    def __init__(self, study, path, seed):
        super().__init__()
        self.study, self.path, self.seed = study, path, seed
        self.records = []
        if os.path.exists(path):
            with open(path) as f:
                self.records = json.load(f)

    def on_epoch_end(self, epoch, logs=None):
        weights = self.study.measurable(self.model.get_weights())
        accuracy = self.study.accuracy(weights)
        sharpness = self.study.sharpness(weights, seed=self.seed)
        self.records = [r for r in self.records if r["epoch"] != epoch + 1]
        self.records.append({"epoch": epoch + 1, "train_loss": accuracy["train_loss"],
                             "test_accuracy": accuracy["test_accuracy"],
                             "sharpness": self.study.primary_sharpness(sharpness)})
        atomic_json(self.path, self.records)


def run(study, batch_sizes, seed=0):
    x0 = flat(study.trainable(study.initial_weights(seed)))
    curves, distances = {}, {}
    for regime, batch in batch_sizes.items():
        name = f"trajectory_{regime}_seed{seed}"
        path = os.path.join(study.output_dir, "runs", name, "trajectory.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        callback = SharpnessAlongTraining(study, path, seed)
        r = study.train(name, batch, seed=seed, callbacks=[callback])
        with open(path) as f:
            records = sorted(json.load(f), key=lambda rec: rec["epoch"])
        curves[regime] = {"loss": [rec["train_loss"] for rec in records],
                          "sharpness": [rec["sharpness"] for rec in records], "records": records}
        distances[regime] = float(np.linalg.norm(flat(study.trainable(r.weights)) - x0))
        with tb.writer(study.output_dir, "trajectory", regime):
            s = study.sharpness_settings
            for rec in records:
                summary.sharpness("sharpness_along_training", rec["sharpness"], step=rec["epoch"],
                                  epsilon=s.epsilons[0], subspace_dim=s.subspace_dims[0], batch_size=batch,
                                  regime=regime)
    plots.trajectory(curves, study.path("trajectory.png"), title=f"{study.network}: sharpness vs training loss")
    result = {"curves": curves, "distance_from_x0": distances,
              "distance_ratio_sb_over_lb": distances["SB"] / distances["LB"]}
    atomic_json(study.path("trajectory.json"), result)
    return result
