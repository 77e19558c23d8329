"""The nli_app_sharpness TensorBoard plugin over logs written by nli_app.summary.

Reads through TensorBoard's real MultiplexerDataProvider (plugin_event_multiplexer) and serves through
TensorBoard's own WSGI app with a werkzeug test client; route functions are also called directly.
"""
import json
import re
import statistics

import numpy as np
import pytest
import tensorflow as tf
from tensorboard import context as tb_context
from tensorboard import errors
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider as mux_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test

from nli_app import summary
from nli_app.tensorboard_plugin import plugin as plugin_lib
from nli_app.tensorboard_plugin import routes
from nli_app.tensorboard_plugin import static_files
from nli_app.stats import mean_std
from nli_app.tensorboard_plugin import table

PREFIX = "/data/plugin/" + summary.PLUGIN_NAME
# Latest sharpness (eps=1e-3, full space) per run.
LATEST = {"F1/SB/trial_0": 1.1, "F1/SB/trial_1": 1.5, "F1/LB/trial_0": 190.0, "F1/LB/trial_1": 220.0}
ALPHAS = np.linspace(-1.0, 2.0, 7)


def _write_logs(logdir):
    for run, last in LATEST.items():
        regime, batch = ("SB", 256) if "/SB/" in run else ("LB", 6000)
        with tf.summary.create_file_writer(str(logdir / run)).as_default():
            for step in (0, 50, 100):
                summary.sharpness("sharpness", last * (step + 1) / 101, step, epsilon=1e-3,
                                  batch_size=batch, regime=regime)
            summary.sharpness("sharpness", last / 10, 100, epsilon=5e-4, subspace_dim=100,
                              batch_size=batch, regime=regime)
            summary.sharpness("sharpness", last / 2, 100, epsilon=1e-3, batch_size=batch, regime=regime,
                              method="paper")
            summary.curvature("curvature", last * 3, last * 30, 100, batch_size=batch, regime=regime)
            tf.summary.scalar("loss", 0.5, step=100)  # another plugin's data: must be ignored
    with tf.summary.create_file_writer(str(logdir / "F1/landscape")).as_default():
        for path in ("linear", "curved"):
            summary.interpolation("interpolation", ALPHAS, ALPHAS ** 2, ALPHAS ** 2 + 0.2,
                                  1 - 0.1 * ALPHAS ** 2, 0.9 - 0.1 * ALPHAS ** 2, path=path, step=7)
        summary.sweep("sweep", [1024, 64, 256], [0.96, 0.98, 0.975], [180.0, 1.2, 15.0], step=7)
        summary.loss_surface("surface", ALPHAS, ALPHAS[:3], ALPHAS[None, :] ** 2 + ALPHAS[:3, None] ** 2, step=7)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("logs")
    _write_logs(path)
    return path


@pytest.fixture(scope="module")
def provider(logdir):
    multiplexer = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={summary.PLUGIN_NAME: 0})
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    return mux_provider.MultiplexerDataProvider(multiplexer, str(logdir))


@pytest.fixture(scope="module")
def client(logdir, provider):
    plugin = plugin_lib.SharpnessPlugin(base_plugin.TBContext(logdir=str(logdir), data_provider=provider))
    app = application.TensorBoardWSGI([plugin], data_provider=provider)
    return werkzeug_test.Client(app)


def _get_json(client, path, code=200):
    response = client.get(PREFIX + path)
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return json.loads(response.get_data())


def test_tags_lists_runs_by_kind_with_settings(client):
    runs = _get_json(client, "/tags")["runs"]
    assert set(runs) == set(LATEST) | {"F1/landscape"}
    sb = runs["F1/SB/trial_0"]
    assert [e["tag"] for e in sb["sharpness"]] == ["sharpness/eps=0.0005/p=100/default",
                                                   "sharpness/eps=0.001/full/default", "sharpness/eps=0.001/full/paper"]
    assert sb["sharpness"][1] == {"tag": "sharpness/eps=0.001/full/default", "epsilon": 1e-3, "subspace_dim": None,
                                  "batch_size": 256, "regime": "SB", "max_step": 100, "method": "default"}
    assert [(e["tag"], e["quantity"]) for e in sb["curvature"]] == [("curvature/lambda_max", "lambda_max"),
                                                                    ("curvature/trace", "trace")]
    assert sb["interpolation"] == [] and sb["sweep"] == [] and sb["surface"] == []
    land = runs["F1/landscape"]
    assert [(e["tag"], e["path"]) for e in land["interpolation"]] == [
        ("interpolation/curved", "curved"), ("interpolation/linear", "linear")]
    assert [e["tag"] for e in land["sweep"]] == ["sweep"]


def test_sharpness_series(client):
    got = _get_json(client, "/sharpness?run=F1/LB/trial_1&tag=sharpness/eps%3D0.001/full/default")
    assert got["settings"] == {"epsilon": 1e-3, "subspace_dim": None, "batch_size": 6000, "regime": "LB",
                               "method": "default"}
    assert [p["step"] for p in got["points"]] == [0, 50, 100]
    np.testing.assert_allclose([p["value"] for p in got["points"]], [220 / 101, 220 * 51 / 101, 220.0])


def test_table_latest_values_and_group_mean_std(client):
    got = _get_json(client, "/sharpness_table")
    full = {r["run"]: r for r in got["rows"] if r["tag"] == "sharpness/eps=0.001/full/default"}
    assert {run: r["value"] for run, r in full.items()} == pytest.approx(LATEST)
    assert {r["step"] for r in full.values()} == {100}
    groups = {(g["group"], g["tag"]): g for g in got["groups"]}
    assert got["std"] == "sample std"
    assert set(groups) == {(grp, tag) for grp in ("F1/SB", "F1/LB")
                           for tag in ("sharpness/eps=0.001/full/default", "sharpness/eps=0.0005/p=100/default",
                                       "sharpness/eps=0.001/full/paper", "curvature/lambda_max", "curvature/trace")}
    lb = groups["F1/LB", "sharpness/eps=0.001/full/default"]
    assert lb["mean"] == pytest.approx(205.0)
    assert lb["std"] == pytest.approx(statistics.stdev([190.0, 220.0]))  # 21.2132...
    assert (lb["count"], lb["runs"], lb["regime"], lb["batch_size"]) == (
        2, ["F1/LB/trial_0", "F1/LB/trial_1"], "LB", 6000)
    sub = groups["F1/SB", "sharpness/eps=0.0005/p=100/default"]
    assert (sub["mean"], sub["epsilon"], sub["subspace_dim"], sub["method"]) == (pytest.approx(0.13), 5e-4, 100,
                                                                                 "default")
    paper = groups["F1/LB", "sharpness/eps=0.001/full/paper"]
    assert (paper["mean"], paper["method"], paper["kind"]) == (pytest.approx(102.5), "paper", "sharpness")
    trace = groups["F1/LB", "curvature/trace"]
    assert (trace["mean"], trace["std"], trace["quantity"], trace["kind"], trace["epsilon"]) == (
        pytest.approx(6150.0), pytest.approx(statistics.stdev([5700.0, 6600.0])), "trace", "curvature", None)


def test_interpolation_and_sweep(client):
    got = _get_json(client, "/interpolation?run=F1/landscape&tag=interpolation/curved")
    assert (got["path"], got["step"]) == ("curved", 7)
    np.testing.assert_allclose(got["alpha"], ALPHAS)
    np.testing.assert_allclose(got["test_loss"], ALPHAS ** 2 + 0.2)
    np.testing.assert_allclose(got["train_accuracy"], 1 - 0.1 * ALPHAS ** 2)
    assert _get_json(client, "/interpolation?run=F1/landscape&tag=interpolation/linear&step=7")["path"] == "linear"
    got = _get_json(client, "/sweep?run=F1/landscape&tag=sweep")
    assert got["batch_size"] == [64, 256, 1024]  # sorted, values kept aligned
    assert got["test_accuracy"] == [0.98, 0.975, 0.96]
    assert got["sharpness"] == [1.2, 15.0, 180.0]
    got = _get_json(client, "/surface?run=F1/landscape&tag=surface")
    assert got["step"] == 7 and got["alphas"] == pytest.approx(ALPHAS) and got["betas"] == pytest.approx(ALPHAS[:3])
    np.testing.assert_allclose(got["loss"], ALPHAS[None, :] ** 2 + ALPHAS[:3, None] ** 2)


@pytest.mark.parametrize("path, code, message", [
    ("/sharpness?run=nope&tag=sharpness/eps%3D0.001/full/default", 404, "run 'nope'"),
    ("/sharpness?run=F1/SB/trial_0&tag=nope", 404, "tag 'nope'"),
    ("/sharpness?run=F1/landscape&tag=sweep", 404, "no sharpness summary"),  # wrong kind
    ("/sharpness?run=F1/SB/trial_0&tag=loss", 404, "tag 'loss'"),  # another plugin's tag
    ("/sharpness?tag=sweep", 400, "missing query parameter 'run'"),
    ("/interpolation?run=F1/landscape", 400, "missing query parameter 'tag'"),
    ("/interpolation?run=F1/landscape&tag=interpolation/linear&step=x", 400, "'step' must be an integer"),
    ("/interpolation?run=F1/landscape&tag=interpolation/linear&step=8", 404, "no step 8"),
    ("/sweep?run=F1/SB/trial_0&tag=sweep", 404, "run 'F1/SB/trial_0'"),
    ("/surface?run=F1/landscape&tag=sweep", 404, "no surface summary"),
])
def test_bad_queries_get_json_errors(client, path, code, message):
    assert message in _get_json(client, path, code=code)["error"]


def test_static_files_and_traversal_refused(client):
    response = client.get(PREFIX + "/static/index.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert "export async function render" in response.get_data(as_text=True)
    assert client.get(PREFIX + "/static/svgchart.js").status_code == 200
    for bad in ("/static/../plugin.py", "/static/%2e%2e/plugin.py", "/static/..%2Fplugin.py",
                "/static/./index.js", "/static/.hidden", "/static/a%5C..%5Cplugin.py"):
        response = client.get(PREFIX + bad)
        assert response.status_code == 400, bad
        assert "invalid static path" in json.loads(response.get_data())["error"]
    assert client.get(PREFIX + "/static/missing.js").status_code == 404
    with pytest.raises(static_files.StaticPathError):
        static_files.resolve("/etc/passwd")


def test_frontend_module_imports_are_served(client):
    """Every relative import of the ES modules (and the stylesheet index.js links) is a served static file."""
    seen, queue = set(), ["index.js"]
    while queue:
        name = queue.pop()
        response = client.get(PREFIX + "/static/" + name)
        assert response.status_code == 200, name
        seen.add(name)
        source = response.get_data(as_text=True)
        refs = re.findall(r"""from '\./([\w.-]+)'""", source) + re.findall(r"""URL\('\./([\w.-]+)'""", source)
        queue.extend(r for r in refs if r not in seen)
    assert seen == {"index.js", "svgchart.js", "style.css"}


def test_tensorboard_lists_the_plugin_as_an_active_iframe_tab(client):
    listing = json.loads(client.get("/data/plugins_listing").get_data())[summary.PLUGIN_NAME]
    assert listing["enabled"] is True and listing["tab_name"] == "Sharpness"
    assert listing["loading_mechanism"] == {"type": "IFRAME", "module_path": PREFIX + "/static/index.js"}
    entry = client.get("/data/plugin_entry.html?name=" + summary.PLUGIN_NAME).get_data(as_text=True)
    assert 'import("./static/index.js")' in entry


def test_is_active_follows_the_data(tmp_path, provider):
    assert plugin_lib.SharpnessPlugin(base_plugin.TBContext(data_provider=provider)).is_active()
    empty = plugin_event_multiplexer.EventMultiplexer()
    empty.AddRunsFromDirectory(str(tmp_path))
    empty.Reload()
    context = base_plugin.TBContext(data_provider=mux_provider.MultiplexerDataProvider(empty, str(tmp_path)))
    assert not plugin_lib.SharpnessPlugin(context).is_active()


def test_route_functions_without_a_server(provider):
    ctx = tb_context.RequestContext()
    with pytest.raises(errors.NotFoundError):
        routes.sweep(provider, ctx, "", {"run": "F1/landscape", "tag": "interpolation/linear"})
    got = routes.sharpness(provider, ctx, "", {"run": "F1/SB/trial_1", "tag": "sharpness/eps=0.0005/p=100/default"})
    assert got["points"] == [{"step": 100, "wall_time": pytest.approx(got["points"][0]["wall_time"]),
                              "value": pytest.approx(0.15)}]


@pytest.mark.parametrize("run, group", [
    ("F1/SB/trial_0", "F1/SB"), ("lb_seed3", "lb"), ("C1/LB/2", "C1/LB"), ("sb/seed=2", "sb"),
    ("F1/LB/trial_1/train", "F1/LB/train"), ("F1", "F1"), ("sb", "sb"), ("trial_3", "trial_3")])
def test_run_group(run, group):
    assert table.run_group(run) == group


def test_mean_std_matches_statistics():
    values = [1.23, 2.5, 0.7, 4.0]
    assert mean_std(values) == pytest.approx((statistics.mean(values), statistics.stdev(values), 4))
    assert mean_std([3.0]) == (3.0, 0.0, 1)
    with pytest.raises(ValueError):
        mean_std([])
