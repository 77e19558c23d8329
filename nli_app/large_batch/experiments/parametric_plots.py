"""Experiment 3: parametric plots between the SB and LB minimisers of seed 0 (Figure 3, Appendix D)."""
import numpy as np

from nli_app import summary
from nli_app.large_batch.experiments import parametric, plots, tb
from nli_app.large_batch.experiments.sb_vs_lb import regime_runs
from nli_app.large_batch.io import atomic_json


def run(study, batch_sizes, num_alphas=25, paths=parametric.PATHS):
    """Writes parametric.json, parametric_linear.png, parametric_curved.png and interpolation summaries."""
    runs = regime_runs(study, batch_sizes, trials=1)
    x_s, x_l = runs["SB"][0].weights, runs["LB"][0].weights
    scratch = study.scratch_model(x_s)
    alphas = np.linspace(-1.0, 2.0, int(num_alphas))
    result = {}
    with tb.writer(study.output_dir, "parametric", "SB_LB_seed0"):
        for path in paths:
            curve = parametric.interpolate(scratch, x_s, x_l, study.splits, alphas, path=path,
                                           recalibrate_bn=study.recalibrate_bn)
            result[path] = curve
            plots.parametric(curve, study.path(f"parametric_{path}.png"),
                             title=f"{study.network}: {path} path, SB (alpha=0) to LB (alpha=1)")
            summary.interpolation("interpolation", curve["alpha"], curve["train_loss"], curve["test_loss"],
                                  curve["train_accuracy"], curve["test_accuracy"], path=path, step=0)
    atomic_json(study.path("parametric.json"), result)
    return result
