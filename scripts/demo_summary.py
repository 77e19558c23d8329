"""The demo's closing summary: what each artifact under ``runs/demo`` shows, next to what the papers report.

    python scripts/demo_summary.py runs/demo

Reads the JSON the binaries wrote (``optimizer_paths/paths.json``, ``large_batch/sb_vs_lb.json``,
``esim/results.json``) and says plainly where the small demo agrees with the papers and where, and why, it does not.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nli_app import papers  # noqa: E402

# Keskar et al. (2017), Tables 2 and 3, network F1 on MNIST (test accuracy %, sharpness at eps = 1e-3).
PAPER_F1 = {regime: {"test": accuracy["test"][0], "sharpness": papers.KESKAR_TABLE_3["F1"][regime][1e-3][0]}
            for regime, accuracy in papers.KESKAR_TABLE_2["F1"].items()}
# Chen et al. (2017), Table 1: ESIM test accuracy on SNLI (550,152 training pairs, GloVe 840B 300-d).
PAPER_ESIM_TEST = papers.CHEN_TABLE_1["ESIM"]["test"]
# Ruder (2016), Section 4.9 / Figure 4b: on the saddle the adaptive methods escape, SGD / momentum / NAG linger.
ADAPTIVE = ("adagrad", "adadelta", "rmsprop")
STALLERS = ("sgd", "momentum", "nesterov")


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _steps(optimizers):
    """{name: steps to the goal loss} (None: never reached) as 'name N' text, fastest first."""
    order = sorted(optimizers, key=lambda n: (optimizers[n]["steps_to_tolerance"] is None,
                                              optimizers[n]["steps_to_tolerance"] or 0))
    return ", ".join(f"{n} {optimizers[n]['steps_to_tolerance'] or 'never'}" for n in order)


def optimizer_lines(report):
    saddle = report["saddle"]["optimizers"]
    steps = {n: r["steps_to_tolerance"] for n, r in saddle.items()}
    adaptive = [steps[n] for n in ADAPTIVE if n in steps]
    stallers = [steps[n] for n in STALLERS if n in steps]
    slowest_adaptive = max((s for s in adaptive if s is not None), default=None)
    agrees = (None not in adaptive and slowest_adaptive is not None
              and all(s is None or s > slowest_adaptive for s in stallers))
    return [
        "Optimizer paths (Ruder, Section 4.9 / Figure 4): optimizer_paths/{beale,saddle}.png",
        f"  saddle z = x^2 - y^2, steps until z <= -1: {_steps(saddle)}",
        "  survey: Adagrad, Adadelta and RMSprop head down the negative slope at once; SGD, momentum and NAG "
        "struggle to break the symmetry. " + ("Ours agrees." if agrees else "Ours differs: see saddle.png."),
        f"  Beale, steps to the goal loss: {_steps(report['beale']['optimizers'])}",
    ]


def _primary_sharpness(summary):
    """Mean sharpness of the regime at eps = 1e-3 (full space) if measured, else its first setting."""
    settings = summary["sharpness_by_setting"]
    key = next((k for k in settings if "1e-3" in k or "0.001" in k), next(iter(settings)))
    return key, settings[key]["mean"]


def large_batch_lines(result):
    summary = result["summary"]
    sb, lb = summary["SB"], summary["LB"]
    trials = len(result["trials"]["SB"])
    key, sb_phi = _primary_sharpness(sb)
    _, lb_phi = _primary_sharpness(lb)
    gap = 100 * (sb["test_accuracy"]["mean"] - lb["test_accuracy"]["mean"])
    spread = 100 * max(sb["test_accuracy"]["std"], lb["test_accuracy"]["std"])
    ratio = lb_phi / sb_phi if sb_phi > 0 else float("inf")
    sharper = ratio > 1.0
    generalises = gap > 0
    lines = [
        "Small vs large batch (Keskar et al., Tables 2-3): large_batch/sb_vs_lb.png",
        f"  demo: SB (batch {result['batch_sizes']['SB']}) test {100 * sb['test_accuracy']['mean']:.2f} %, "
        f"LB (batch {result['batch_sizes']['LB']}) test {100 * lb['test_accuracy']['mean']:.2f} % "
        f"({trials} trial(s) each); sharpness {key}: SB {sb_phi:.3g}, LB {lb_phi:.3g} (LB/SB {ratio:.3g}x)",
        f"  paper (F1, full MNIST): SB test {PAPER_F1['SB']['test']} %, LB {PAPER_F1['LB']['test']} %; sharpness "
        f"SB {PAPER_F1['SB']['sharpness']}, LB {PAPER_F1['LB']['sharpness']} "
        f"(LB/SB {PAPER_F1['LB']['sharpness'] / PAPER_F1['SB']['sharpness']:.0f}x)",
    ]
    if sharper and generalises:
        verdict = "goes the paper's way: LB lands in sharper minima and tests worse"
    elif sharper:
        verdict = "LB is sharper, as in the paper, but does not test worse"
    else:
        verdict = "does NOT go the paper's way here"
    if trials < 2 or abs(gap) <= spread:
        verdict += f"; the accuracy gap ({gap:+.2f} points) is within the noise of {trials} small trial(s)"
    lines.append(f"  verdict: the demo {verdict}. It trains on a small MNIST sample for a few epochs with a "
                 "reduced sharpness budget; the README's large-batch section has full-data runs.")
    return lines


def esim_lines(results):
    splits = results["splits"]
    test = splits.get("test") or splits["dev"]
    matrix = test["confusion_matrix"]
    majority = 100 * max(sum(row) for row in matrix) / max(1, sum(map(sum, matrix)))
    accuracy = 100 * test["accuracy"]
    above = accuracy > majority + 2
    return [
        "ESIM (Chen et al., Table 1): esim/results.json, esim/confusion_test.png, esim/heatmaps/",
        f"  demo: test accuracy {accuracy:.1f} % on {test['num_examples']} pairs (majority class {majority:.1f} %); "
        f"paper: {PAPER_ESIM_TEST} % on SNLI test",
        "  why lower: the demo trains a small ESIM for a few epochs on the ~1,000 shipped pairs, the paper a 300-unit "
        "model on 550,152 pairs with GloVe 840B. " + ("It is above chance." if above else
                                                     "At this size it stays near chance; the attention heat maps are "
                                                     "nearly uniform for the same reason."),
    ]


def summary_lines(out):
    sections = [("optimizer_paths/paths.json", optimizer_lines), ("large_batch/sb_vs_lb.json", large_batch_lines),
                ("esim/results.json", esim_lines)]
    lines = ["", "=== What the demo shows, next to the papers"]
    for relative, make in sections:
        path = os.path.join(out, relative)
        lines.extend(make(_load(path)) if os.path.exists(path) else [f"({relative} missing: that step did not run)"])
    lines.append("Serving: the predictions printed above came from the exported SavedModel through nli_model_server "
                 "over gRPC and REST (TF Serving's protocol).")
    return lines


if __name__ == "__main__":
    print("\n".join(summary_lines(sys.argv[1] if len(sys.argv) > 1 else "runs/demo")))
