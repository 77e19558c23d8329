"""``bench/large_batch_repro.py`` reads ``large_batch``'s study flags: its defaults, and the data that follows
``--network``."""
import os

import pytest

from nli_app import cli
from tests import benches

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")


@pytest.fixture(scope="module")
def bench():
    return benches.load("large_batch_repro")


def _options(bench, argv):
    return bench.options_from_flags(cli.parse(bench.define_flags, argv))


def test_defaults_are_the_papers_f1_setting(bench):
    options = _options(bench, [])
    study = options.study
    assert (study.network, study.dataset, study.output_dir) == ("F1", "mnist", "/tmp/lb_repro/f1")
    assert study.data_path == os.path.join(SHARED, "mnist", "mnist.npz")
    assert (study.sb_batch_size, study.lb_batch_size, study.trials, study.patience) == (256, 0, 3, 3)
    assert study.sharpness.subspace_dims == (None, 100) and study.sharpness.num_examples == 10000
    assert study.sharpness.batchnorm == "batch" and study.sharpness.methods == ("default", "paper")
    assert (options.trainer.epochs, options.trainer.optimizer_kwargs["learning_rate"]) == (10, 1e-3)


def test_the_data_follows_the_network_and_the_study_flags_reach_it(bench):
    study = _options(bench, ["--network=c1", "--patience=5", "--target_train_accuracy=0.99",
                             "--sharpness_methods=paper", "--output_dir=/tmp/x"]).study
    assert (study.network, study.dataset, study.output_dir) == ("C1", "cifar10", "/tmp/x")
    assert study.data_path == os.path.join(SHARED, "cifar10", "cifar-10-batches-py")
    assert (study.patience, study.target_train_accuracy, study.sharpness.methods) == (5, 0.99, ("paper",))
    assert _options(bench, ["--network=C1", "--data_path=" + ROOT]).study.data_path == ROOT


@pytest.mark.parametrize("argv, message", [
    (["--network=C2"], "--network=C2: this reproduction runs F1 or C1"),
    (["--network=C1", "--dataset=mnist"], "--dataset=mnist: C1 trains on cifar10"),
    (["--sharpness_methods=best"], "--sharpness_methods"),
])
def test_bad_flags_name_the_flag(bench, argv, message):
    with pytest.raises(cli.UsageError, match=message):
        _options(bench, argv)
