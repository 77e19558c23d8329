"""Experiment 4: test accuracy and sharpness at the final iterate against batch size (Figure 4)."""
from nli_app import summary
from nli_app.large_batch.experiments import plots, tb
from nli_app.large_batch.experiments.sb_vs_lb import run_name
from nli_app.large_batch.io import atomic_json


def run(study, batch_sizes, seed=0):
    rows = []
    for batch in sorted(int(b) for b in batch_sizes):
        r = study.train(run_name(batch, seed), batch, seed=seed)
        m = study.measure(r)
        rows.append({"batch_size": batch, "test_accuracy": m["test_accuracy"],
                     "sharpness": study.primary_sharpness(m["sharpness"]), "measurement": m})
    sizes = [r["batch_size"] for r in rows]
    acc = [r["test_accuracy"] for r in rows]
    sharp = [r["sharpness"] for r in rows]
    with tb.writer(study.output_dir, "sweep", f"seed{seed}"):
        summary.sweep("sweep", sizes, acc, sharp, step=0)
    plots.sweep(sizes, acc, sharp, study.path("sweep.png"), title=f"{study.network}: batch-size sweep")
    result = {"rows": rows}
    atomic_json(study.path("sweep.json"), result)
    return result
