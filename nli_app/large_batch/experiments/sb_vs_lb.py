"""Experiment 1 + 2: SB vs LB (Table 2) and their sharpness (Tables 3-4).

N trials per regime from seeds 0..N-1; each trains until the training loss stops improving or the budget ends,
then reports train/test accuracy and sharpness; mean +- sample std (ddof=1) over the trials per regime.
"""
from nli_app import stats
from nli_app.large_batch.experiments import plots, tb
from nli_app.large_batch.io import atomic_json


def regime_runs(study, batch_sizes, trials):
    """{regime: [Run per seed]}; runs are named ``b<batch>_seed<k>`` and shared with other experiments (the
    parametric plots, the remedies' baselines, the sweep points of the same batch size)."""
    return {regime: [study.train(run_name(batch, seed), batch, seed=seed) for seed in range(trials)]
            for regime, batch in batch_sizes.items()}


def run_name(batch_size, seed):
    return f"b{int(batch_size)}_seed{int(seed)}"


def _stats(values):
    """Mean and sample standard deviation (``nli_app.stats.mean_std``, as the plugin's table) and the values."""
    mean, std, _ = stats.mean_std(values)
    return {"mean": mean, "std": std, "values": [float(v) for v in values]}


def run(study, batch_sizes, trials=2):
    """``batch_sizes``: {"SB": b_s, "LB": b_l}. Writes sb_vs_lb.json, sb_vs_lb.png and summaries."""
    runs = regime_runs(study, batch_sizes, trials)
    result = {"batch_sizes": batch_sizes, "trials": {}, "summary": {}}
    for regime, regime_runs_ in runs.items():
        measurements = []
        for r in regime_runs_:
            m = study.measure(r)
            measurements.append(m)
            with tb.writer(study.output_dir, "sb_vs_lb", f"{regime}_seed{r.seed}"):
                tb.sharpness_records(m, step=m["epochs"], regime=regime, batch_size=r.batch_size)
        result["trials"][regime] = measurements
        keys = measurements[0]["sharpness"].keys()
        result["summary"][regime] = {
            "train_accuracy": _stats([m["train_accuracy"] for m in measurements]),
            "test_accuracy": _stats([m["test_accuracy"] for m in measurements]),
            "sharpness": _stats([study.primary_sharpness(m["sharpness"]) for m in measurements]),
            "sharpness_by_setting": {k: _stats([m["sharpness"][k]["value"] for m in measurements]) for k in keys},
        }
    atomic_json(study.path("sb_vs_lb.json"), result)
    plots.regimes(result["summary"], study.path("sb_vs_lb.png"), title=f"{study.network}: SB vs LB")
    return result


def format_rows(result, paper=None):
    """Table 2/3 style rows: regime, train acc, test acc, sharpness per setting (mean +- sample std, ddof=1)."""
    lines = [f"mean +- std over {len(next(iter(result['trials'].values())))} trial(s), std = sample std (ddof=1)"]
    for regime, s in result["summary"].items():
        sharp = "  ".join(f"{k}: {v['mean']:.4g} +- {v['std']:.2g}" for k, v in s["sharpness_by_setting"].items())
        lines.append(f"{regime} (batch {result['batch_sizes'][regime]}): train {100 * s['train_accuracy']['mean']:.2f}"
                     f" +- {100 * s['train_accuracy']['std']:.2f}%  test {100 * s['test_accuracy']['mean']:.2f} +- "
                     f"{100 * s['test_accuracy']['std']:.2f}%  sharpness {sharp}")
        if paper and regime in paper:
            lines.append(f"   paper {regime}: {paper[regime]}")
    return "\n".join(lines)
