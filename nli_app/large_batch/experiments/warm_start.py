"""Experiment 5: warm-started large-batch training (Figure 5).

Train SB and keep its iterate after every epoch; from each kept iterate (0 = the random start) train LB, and report
the LB test accuracy and sharpness against the number of SB warm-up epochs. The LB run from the random start is
the plain LB run of the same seed (``sb_vs_lb.run_name``), shared with Table 2 when its epoch budget is the study's.
"""
import os

import keras

from nli_app.large_batch.experiments import plots, tb
from nli_app.large_batch.experiments.sb_vs_lb import run_name
from nli_app.large_batch.io import atomic_json, load_weights, save_weights


class KeepIterates(keras.callbacks.Callback):
    """Saves the model's weights after every epoch to ``directory/epoch_<k>.npz`` (k from 1)."""

    def __init__(self, directory):
        super().__init__()
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        save_weights(os.path.join(self.directory, f"epoch_{epoch + 1}.npz"), self.model.get_weights())


def run(study, sb_batch, lb_batch, warm_epochs=3, lb_epochs=None, seed=0):
    keep = os.path.join(study.output_dir, "runs", f"warm_sb_seed{seed}", "iterates")
    study.train(f"warm_sb_seed{seed}", sb_batch, seed=seed, epochs=warm_epochs, callbacks=[KeepIterates(keep)])
    rows = []
    for k in range(warm_epochs + 1):
        if k == 0 and lb_epochs is None:
            r = study.train(run_name(lb_batch, seed), lb_batch, seed=seed)  # = LB from the seed's random start
        else:
            start = study.initial_weights(seed) if k == 0 else load_weights(os.path.join(keep, f"epoch_{k}.npz"))
            r = study.train(f"warm_lb_from{k}_seed{seed}", lb_batch, seed=seed, initial_weights=start,
                            epochs=lb_epochs)
        m = study.measure(r)
        rows.append({"sb_epochs": k, "test_accuracy": m["test_accuracy"],
                     "sharpness": study.primary_sharpness(m["sharpness"]), "measurement": m})
        with tb.writer(study.output_dir, "warm_start", f"from_sb_epoch{k}"):
            tb.sharpness_records(m, step=k, regime="LB", batch_size=lb_batch)
    plots.warm_start([r["sb_epochs"] for r in rows], [r["test_accuracy"] for r in rows],
                     [r["sharpness"] for r in rows], study.path("warm_start.png"),
                     title=f"{study.network}: LB (batch {lb_batch}) warm-started by SB (batch {sb_batch})")
    result = {"sb_batch": sb_batch, "lb_batch": lb_batch, "rows": rows}
    atomic_json(study.path("warm_start.json"), result)
    return result
