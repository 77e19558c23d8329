"""The paired comparison of two classifiers (``nli_app/nli/significance.py``) against hand-computed cases, and
``bench/nli_compare.py`` on the shipped model."""
import json
import math
import os

import numpy as np
import pytest

from nli_app import cli
from nli_app.nli import evaluation, models
from nli_app.nli.data import dataset as dataset_lib
from nli_app.nli.data import snli
from nli_app.nli.significance import paired_difference
from tests import benches

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "nli_app", "data", "models", "esim_snli")
SAMPLE = snli.sample_path("test")


def test_hand_computed_case():
    # 10 examples: both right on 5, only the candidate on 3, only the baseline on 1, both wrong on 1.
    labels = np.zeros(10, int)
    baseline = np.array([0, 0, 0, 0, 0, 1, 1, 1, 0, 2])
    candidate = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 2])
    r = paired_difference(labels, baseline, candidate, num_resamples=2000)
    assert (r["only_candidate_right"], r["only_baseline_right"], r["num_examples"]) == (3, 1, 10)
    assert (r["baseline_accuracy"], r["candidate_accuracy"], r["difference"]) == (0.6, 0.8, 0.2)
    assert r["standard_error"] == pytest.approx(math.sqrt(4 - 4 / 10) / 10)
    assert r["mcnemar_p"] == pytest.approx(2 * 5 / 16)  # P(X >= 3) + P(X <= 1), X ~ Binomial(4, 1/2)
    lo, hi = r["interval_95"]
    assert lo < 0.2 < hi and hi - lo == pytest.approx(4 * r["standard_error"], rel=0.25)


def test_the_bootstrap_is_seeded_and_agrees_with_the_standard_error():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 2000)
    baseline = np.where(rng.random(2000) < 0.8, labels, (labels + 1) % 3)
    candidate = np.where(rng.random(2000) < 0.1, (baseline + 1) % 3, baseline)
    first, again = (paired_difference(labels, baseline, candidate) for _ in range(2))
    assert first == again
    lo, hi = first["interval_95"]
    assert (hi - lo) / 3.92 == pytest.approx(first["standard_error"], rel=0.1)


def test_identical_models_and_bad_input():
    labels = np.array([0, 1, 2])
    r = paired_difference(labels, labels, labels)
    assert (r["difference"], r["standard_error"], r["interval_95"], r["mcnemar_p"]) == (0.0, 0.0, [0.0, 0.0], 1.0)
    with pytest.raises(ValueError, match="same non-zero number"):
        paired_difference(labels, labels[:2], labels)
    with pytest.raises(ValueError, match="same non-zero number"):
        paired_difference([], [], [])


def test_the_bench_compares_models_on_the_same_pairs():
    bench = benches.load("nli_compare")
    result = bench.compare(SHIPPED, [SHIPPED], SAMPLE, num_resamples=200)
    r = result["models"][SHIPPED]
    assert result["num_examples"] == len(snli.read_snli(SAMPLE).examples)
    assert r["difference"] == 0 and r["only_candidate_right"] == r["only_baseline_right"] == 0
    model, vocabulary, config = models.load(SHIPPED)  # eval_nli's way: length buckets, another order
    data = dataset_lib.make_dataset(snli.read_snli(SAMPLE).examples, vocabulary, config["with_trees"])
    expected = evaluation.evaluate(model, dataset_lib.bucket_batch_fn((8, 16))(data, 32))["accuracy"]
    assert r["candidate_accuracy"] == r["baseline_accuracy"] == pytest.approx(expected) and expected > 0.75
    table = bench.format_table(result)
    assert f"| {SHIPPED} | {100 * r['candidate_accuracy']:.2f} | +0.00 |" in table
    json.dumps(result)
    for argv, message in ((["--models=/no/such/dir"], "--models: /no/such/dir: no such directory"),
                          ([], "--models: give at least one"), (["--models=" + SHIPPED, "--baseline="], "--baseline")):
        flag_values = cli.parse(bench.define_flags, [f"--baseline={SHIPPED}", f"--data_path={SAMPLE}", *argv])
        with pytest.raises(cli.UsageError, match=message):
            bench.options_from_flags(flag_values)
    options = bench.options_from_flags(cli.parse(bench.define_flags, [f"--baseline={SHIPPED}", f"--models={SHIPPED}",
                                                                      f"--data_path={SAMPLE}"]))
    assert (options.models, options.num_resamples) == ((SHIPPED,), 10000)
