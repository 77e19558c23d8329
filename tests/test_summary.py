"""nli_app.summary: records written with the real tf.summary writer and read back from the event files."""
import json

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.compat.proto import summary_pb2
from tensorboard.util import tensor_util

from nli_app import summary


def _read(logdir):
    acc = plugin_event_accumulator.EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    return acc


def _values(acc, tag):
    return [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]


def test_sharpness_round_trip_with_settings_and_plain_scalar(tmp_path):
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        for step, value in [(0, 1.25), (10, 3.5), (20, 205.14)]:
            assert summary.sharpness("sharpness", value, step, epsilon=1e-3, batch_size=6000, regime="LB")
        summary.sharpness("sharpness", 7.0, 20, epsilon=5e-4, subspace_dim=100)
        summary.sharpness("sharpness", 4.0, 20, epsilon=5e-4, subspace_dim=100, method="paper")
    acc = _read(tmp_path)

    full = summary.sharpness_tag("sharpness", 1e-3)
    sub = summary.sharpness_tag("sharpness", 5e-4, 100)
    paper = summary.sharpness_tag("sharpness", 5e-4, 100, method="paper")
    assert (full, sub, paper) == ("sharpness/eps=0.001/full/default", "sharpness/eps=0.0005/p=100/default",
                                  "sharpness/eps=0.0005/p=100/paper")
    assert acc.PluginTagToContent(summary.PLUGIN_NAME).keys() == {full, sub, paper}

    meta = acc.SummaryMetadata(full)
    assert meta.data_class == summary_pb2.DATA_CLASS_TENSOR
    assert summary.parse_content(meta.plugin_data.content) == {
        "version": summary.SCHEMA_VERSION, "kind": "sharpness", "epsilon": 1e-3, "subspace_dim": None,
        "batch_size": 6000, "regime": "LB", "method": "default"}
    assert json.loads(acc.SummaryMetadata(sub).plugin_data.content)["subspace_dim"] == 100
    assert json.loads(acc.SummaryMetadata(paper).plugin_data.content)["method"] == "paper"
    np.testing.assert_allclose([v for _, v in _values(acc, paper)], [4.0])
    got = _values(acc, full)
    assert [s for s, _ in got] == [0, 10, 20]
    np.testing.assert_allclose([v for _, v in got], [1.25, 3.5, 205.14])
    assert got[0][1].dtype == np.float64 and got[0][1].shape == ()

    # The plain scalar: same values under tag + "/scalar", owned by the Scalars dashboard.
    scalar_tag = full + summary.SCALAR_SUFFIX
    assert acc.SummaryMetadata(scalar_tag).plugin_data.plugin_name == "scalars"
    np.testing.assert_allclose([v for _, v in _values(acc, scalar_tag)], [1.25, 3.5, 205.14], rtol=1e-6)


def test_interpolation_and_sweep_round_trip(tmp_path):
    alphas = np.linspace(-1.0, 2.0, 25)
    curves = [alphas ** 2, alphas ** 2 + 0.1, 1 - alphas / 4, 0.9 - alphas / 4]
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        assert summary.interpolation("landscape", alphas, *curves, path="linear", step=3)
        assert summary.interpolation("landscape", alphas, *curves, path="curved", step=3)
        assert summary.sweep("sweep", [64, 256, 1024], [0.98, 0.975, 0.96], [1.2, 15.0, 180.0], step=5)
    acc = _read(tmp_path)

    assert set(acc.PluginTagToContent(summary.PLUGIN_NAME)) == {"landscape/linear", "landscape/curved", "sweep"}
    content = summary.parse_content(acc.SummaryMetadata("landscape/curved").plugin_data.content)
    assert content["path"] == "curved" and content["rows"] == list(summary.INTERPOLATION_ROWS)
    [(step, tensor)] = _values(acc, "landscape/linear")
    assert step == 3 and tensor.shape == (5, 25)
    np.testing.assert_allclose(tensor, np.stack([alphas, *curves]))

    [(step, tensor)] = _values(acc, "sweep")
    assert step == 5
    np.testing.assert_allclose(tensor, [[64, 256, 1024], [0.98, 0.975, 0.96], [1.2, 15.0, 180.0]])
    assert summary.parse_content(acc.SummaryMetadata("sweep").plugin_data.content)["kind"] == "sweep"


def test_curvature_and_loss_surface_round_trip(tmp_path):
    alphas, betas = np.linspace(-1, 1, 4), np.linspace(-0.5, 0.5, 3)
    loss = alphas[None, :] ** 2 + 2 * betas[:, None] ** 2
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        assert summary.curvature("curvature", 12.5, 80.0, step=4, batch_size=256, regime="SB")
        assert summary.loss_surface("surface", alphas, betas, loss, step=4, regime="SB")
    acc = _read(tmp_path)
    assert set(acc.PluginTagToContent(summary.PLUGIN_NAME)) == {"curvature/lambda_max", "curvature/trace", "surface"}
    content = summary.parse_content(acc.SummaryMetadata("curvature/trace").plugin_data.content)
    assert (content["kind"], content["quantity"], content["batch_size"], content["regime"]) == (
        "curvature", "trace", 256, "SB")
    assert [(s, float(v)) for s, v in _values(acc, "curvature/lambda_max")] == [(4, 12.5)]
    np.testing.assert_allclose([v for _, v in _values(acc, "curvature/trace" + summary.SCALAR_SUFFIX)], [80.0])
    [(step, tensor)] = _values(acc, "surface")
    assert step == 4 and tensor.shape == (4, 5)
    np.testing.assert_allclose(tensor[0, 1:], alphas)
    np.testing.assert_allclose(tensor[1:, 0], betas)
    np.testing.assert_allclose(tensor[1:, 1:], loss)


def test_without_default_writer_nothing_is_written():
    assert not summary.sharpness("sharpness", 1.0, 0, epsilon=1e-3)


@pytest.mark.parametrize("call, message", [
    (lambda: summary.sharpness("s", 1.0, 0, epsilon=0.0), "epsilon"),
    (lambda: summary.sharpness("s", 1.0, 0, epsilon=1e-3, subspace_dim=2.5), "subspace_dim"),
    (lambda: summary.sharpness("s", 1.0, 0, epsilon=1e-3, batch_size=-4), "batch_size"),
    (lambda: summary.interpolation("i", [0, 1], [1, 2], [1, 2], [1], [1, 2]), "train_accuracy has 1 values"),
    (lambda: summary.interpolation("i", [0], [1], [1], [1], [1], path="spline"), "path"),
    (lambda: summary.sweep("w", [], [], []), "batch_size must not be empty"),
    (lambda: summary.sweep("w", [0, 2], [1, 1], [1, 1]), "batch_sizes must be positive"),
    (lambda: summary.sweep("w", [[1]], [1], [1]), "batch_size must be 1-D"),
    (lambda: summary.sharpness("s", 1.0, 0, epsilon=1e-3, method="lbfgs"), "method"),
    (lambda: summary.loss_surface("l", [0, 1], [0], [[1, 2, 3]]), "shape"),
    (lambda: summary.curvature("c", 1.0, 2.0, 0, regime="SB", batch_size=0), "batch_size"),
])
def test_bad_arguments_name_the_field(tmp_path, call, message):
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        with pytest.raises(ValueError, match=message):
            call()


def test_parse_content_rejects_foreign_metadata():
    with pytest.raises(ValueError, match="not JSON"):
        summary.parse_content(b"\x08\x01")
    with pytest.raises(ValueError, match="kind"):
        summary.parse_content(b'{"kind": "histogram"}')
    with pytest.raises(ValueError, match="kind"):
        summary.metadata("histogram")
