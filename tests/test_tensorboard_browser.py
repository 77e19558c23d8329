"""The nli_app_sharpness plugin in a real TensorBoard, rendered by headless Debian chromium.

Starts ``tensorboard --logdir=... --host=127.0.0.1`` as a subprocess over logs written by ``nli_app.summary``, loads
the plugin's frame (``/data/plugin_entry.html?name=nli_app_sharpness``, what the Sharpness tab embeds) with
``chromium --headless --dump-dom``, checks the rendered table values against statistics computed here and that
every chart drew its lines, and saves a screenshot of the tab to ``artifacts/tensorboard_plugin.png`` (the CI
artifact). Skips when chromium is missing unless REQUIRE_BROWSER=1, in which case it fails.
"""
import html
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from nli_app import summary

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCREENSHOT = os.path.join(ROOT, "artifacts", "tensorboard_plugin.png")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
EPS_TAG = summary.sharpness_tag("sharpness", 1e-3)
SUB_TAG = summary.sharpness_tag("sharpness", 5e-4, 100)
PAPER_TAG = summary.sharpness_tag("sharpness", 1e-3, method="paper")
LAMBDA_TAG = "curvature/lambda_max"
# Latest sharpness per run and setting (eps=1e-3 full space, eps=5e-4 in a 100-dim subspace).
LATEST = {"F1/SB/trial_0": (1.02, 0.48), "F1/SB/trial_1": (1.61, 0.71),
          "F1/LB/trial_0": (172.3, 35.2), "F1/LB/trial_1": (231.9, 47.5)}
STEPS = (0, 20, 40, 60, 80, 100)


def _chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    message = "Debian's chromium is not installed (apt-get install chromium)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(message + " and REQUIRE_BROWSER=1")
    pytest.skip(message + "; set REQUIRE_BROWSER=1 to fail instead of skipping")


def _write_logs(logdir):
    """A tiny SB vs LB study's records: sharpness rising over training, interpolation curves, a sweep."""
    for run, (last_full, last_sub) in LATEST.items():
        regime, batch = ("SB", 32) if "/SB/" in run else ("LB", 512)
        with tf.summary.create_file_writer(os.path.join(logdir, run)).as_default():
            for step in STEPS:
                growth = (step / STEPS[-1]) ** 0.5
                summary.sharpness("sharpness", 0.05 + (last_full - 0.05) * growth, step, epsilon=1e-3,
                                  batch_size=batch, regime=regime)
                summary.sharpness("sharpness", 0.02 + (last_sub - 0.02) * growth, step, epsilon=5e-4,
                                  subspace_dim=100, batch_size=batch, regime=regime)
            summary.sharpness("sharpness", last_full / 2, STEPS[-1], epsilon=1e-3, batch_size=batch, regime=regime,
                              method="paper")
            summary.curvature("curvature", last_full * 4, last_full * 40, STEPS[-1], batch_size=batch, regime=regime)
    alphas = np.linspace(-1.0, 2.0, 25)
    with tf.summary.create_file_writer(os.path.join(logdir, "F1/parametric")).as_default():
        for path, bend in (("linear", 1.0), ("curved", 0.7)):
            # A wide basin at x_s (alpha = 0) and a sharp one at x_l (alpha = 1), joined smoothly (soft minimum).
            train = 0.02 + bend * np.clip(-np.log(np.exp(-0.8 * alphas ** 2) + np.exp(-6.0 * (alphas - 1) ** 2)),
                                          0, None)
            test = train + 0.08 + 0.05 * np.clip(alphas, 0, None)
            summary.interpolation("interpolation", alphas, train, test, 1 - train / 4, 0.97 - test / 4,
                                  path=path, step=100)
        grid = np.linspace(-1.0, 1.0, 21)  # an anisotropic bowl: elliptic contours around the minimiser
        summary.loss_surface("surface", grid, grid, 0.05 + grid[None, :] ** 2 + 4 * grid[:, None] ** 2, step=100)
    with tf.summary.create_file_writer(os.path.join(logdir, "F1/sweep")).as_default():
        summary.sweep("sweep", [32, 64, 128, 256, 512], [0.978, 0.977, 0.971, 0.962, 0.951],
                      [1.3, 4.1, 22.0, 95.0, 201.0], step=100)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
        return response.read()


@pytest.fixture(scope="module")
def tensorboard_url():
    chromium = _chromium()
    del chromium
    tmp = tempfile.mkdtemp(prefix="tb_plugin_")
    logdir = os.path.join(tmp, "logs")
    _write_logs(logdir)
    port = _free_port()
    binary = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    command = [binary if os.path.exists(binary) else shutil.which("tensorboard"), f"--logdir={logdir}",
               f"--port={port}", "--host=127.0.0.1", f"--samples_per_plugin={summary.PLUGIN_NAME}=0",
               "--reload_interval=1"]
    log = open(os.path.join(tmp, "tensorboard.log"), "w+")  # pylint: disable=consider-using-with
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # pylint: disable=consider-using-with
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"tensorboard exited with {proc.returncode}:\n{log.read()[-3000:]}")
            try:
                runs = json.loads(_get(url + f"/data/plugin/{summary.PLUGIN_NAME}/tags"))["runs"]
                if len(runs) == len(LATEST) + 2:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.time() > deadline:
                log.seek(0)
                pytest.fail(f"tensorboard did not serve the logs within 120 s:\n{log.read()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.kill()  # a read-only server on a temporary logdir: nothing to flush (terminate took ~8 s)
        proc.wait(timeout=20)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _chrome(*args, timeout=120):
    profile = tempfile.mkdtemp(prefix="chromium_profile_")
    try:
        result = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                                capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _dom(url):
    # --virtual-time-budget lets the page's fetches and rendering finish before the DOM is dumped.
    return _chrome("--virtual-time-budget=20000", "--window-size=1400,1000", "--dump-dom", url)


def _cell_text(cell_html):
    return html.unescape(re.sub(r"<[^>]+>", "", cell_html)).strip()


def _row_cells(dom, attribute, name):
    row = re.search(rf'<tr {attribute}="{re.escape(name)}">(.*?)</tr>', dom, re.S)
    assert row, f"no table row {attribute}={name!r}"
    return {tag: _cell_text(c) for tag, c in re.findall(r'<td class="num" data-tag="([^"]+)">(.*?)</td>',
                                                          row.group(1), re.S)}


def test_tab_is_listed(tensorboard_url):
    listing = json.loads(_get(tensorboard_url + "/data/plugins_listing"))[summary.PLUGIN_NAME]
    assert listing["enabled"] and listing["tab_name"] == "Sharpness"
    assert listing["loading_mechanism"]["type"] == "IFRAME"


def test_plugin_renders_table_values_and_charts(tensorboard_url):
    dom = _dom(tensorboard_url + f"/data/plugin_entry.html?name={summary.PLUGIN_NAME}")
    assert 'data-ready="true"' in dom, dom[:2000]
    assert 'id="error"' not in dom, re.search(r'id="error">([^<]*)', dom).group(1)

    # Group rows: mean +- sample std of the latest values, computed independently here.
    for group in ("F1/SB", "F1/LB"):
        cells = _row_cells(dom, "data-group", group)
        for tag, index in ((EPS_TAG, 0), (SUB_TAG, 1)):
            values = [v[index] for run, v in LATEST.items() if run.startswith(group + "/")]
            assert cells[html.escape(tag)] == f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"
        fulls = [v[0] for run, v in LATEST.items() if run.startswith(group + "/")]
        assert cells[html.escape(PAPER_TAG)] == (f"{statistics.mean(fulls) / 2:.2f} ± "
                                                 f"{statistics.stdev(fulls) / 2:.2f}")
        lambdas = [4 * v for v in fulls]
        assert cells[LAMBDA_TAG] == f"{statistics.mean(lambdas):.2f} ± {statistics.stdev(lambdas):.2f}"
    assert _row_cells(dom, "data-group", "F1/LB")[html.escape(EPS_TAG)] == "202.10 ± 42.14"
    assert "mean ± sample std over N trials" in dom and "φ (paper: L-BFGS-B)" in dom and "Hessian trace" in dom
    # Per-run rows: the latest value of each run.
    for run, (full, sub) in LATEST.items():
        cells = _row_cells(dom, "data-run", run)
        assert cells[html.escape(EPS_TAG)] == f"{full:.2f}" and cells[html.escape(SUB_TAG)] == f"{sub:.2f}"
        assert cells[html.escape(PAPER_TAG)] == f"{full / 2:.2f}" and cells["curvature/trace"] == f"{40 * full:.2f}"

    # The loss surface: a contour chart whose iso-lines are drawn, with the minimiser marked.
    contours = re.findall(r'<path d="([^"]*)" class="contour-line"', dom)
    assert len(contours) >= 8 and all(re.fullmatch(r"(M[\d.]+,[\d.]+L[\d.]+,[\d.]+)+", d) for d in contours)
    assert dom.count('class="contour-marker"') == 1

    # Charts: SB and LB sharpness panels, linear + curved interpolation, the sweep; every line drawn.
    charts = re.findall(r'<svg class="chart"[^>]*data-series="(\d+)"', dom)
    assert [int(n) for n in charts] == [2, 2, 4, 4, 2]
    lines = re.findall(r'<path d="([^"]*)" class="series"', dom)
    assert len(lines) == 14
    for d in lines:
        assert re.fullmatch(r"M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+", d), d
    # The sharpness panels have one point per logged step.
    assert all(d.count("L") == len(STEPS) - 1 for d in lines[:4])
    assert "SB (batch 32)" in dom and "LB (batch 512)" in dom


def test_screenshot_of_the_tab(tensorboard_url):
    from PIL import Image  # pylint: disable=import-outside-toplevel
    os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
    if os.path.exists(SCREENSHOT):
        os.remove(SCREENSHOT)
    _chrome("--virtual-time-budget=12000", "--window-size=1400,2300", f"--screenshot={SCREENSHOT}",
            tensorboard_url + f"/#{summary.PLUGIN_NAME}")
    with Image.open(SCREENSHOT) as image:
        assert image.size == (1400, 2300)
        rgb = np.asarray(image.convert("RGB"))
    # TensorBoard's orange header is there and the page is not blank: many distinct colours (charts, badges).
    assert (np.abs(rgb[10, 10].astype(int) - (245, 124, 0)) < 20).all(), rgb[10, 10]
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 500
