"""Version policies, labels and polling of the model manager, with a fake loader (no TensorFlow needed)."""
import os

import grpc
import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.errors import ServingError
from serving.model_manager import ModelManager, aspired_versions, list_versions


class FakeLoader:
    """Loads a version dir unless it holds a file named BROKEN; records loads."""

    def __init__(self):
        self.loads = []

    def __call__(self, name, version, path):
        self.loads.append((name, version))
        if os.path.exists(os.path.join(path, "BROKEN")):
            raise RuntimeError(f"corrupt SavedModel at {path}")
        return (name, version)


def make_versions(base, *versions, broken=()):
    for version in versions:
        os.makedirs(base / str(version), exist_ok=True)
        if version in broken:
            (base / str(version) / "BROKEN").write_text("x")


def config_for(base, policy="", labels=""):
    return text_format.Parse(f'model_config_list {{ config {{ name: "m" base_path: "{base}" '
                             f'model_version_policy {{ {policy} }} {labels} }} }}',
                             model_server_config_pb2.ModelServerConfig())


def policy(text):
    return text_format.Parse(text, model_server_config_pb2.ModelConfig().model_version_policy)


def test_list_versions_ignores_non_numeric_entries(tmp_path):
    make_versions(tmp_path, 3, 1, 10)
    (tmp_path / "tmp-export").mkdir()
    (tmp_path / "7").write_text("a file, not a version")
    assert list_versions(tmp_path) == [1, 3, 10]
    assert list_versions(tmp_path / "missing") == []


@pytest.mark.parametrize("text, expected", [
    ("", [5]),
    ("latest { num_versions: 2 }", [3, 5]),
    ("all {}", [1, 3, 5]),
    ("specific { versions: 1 versions: 4 }", [1]),
])
def test_version_policies(text, expected):
    assert aspired_versions(policy(text), [1, 3, 5]) == expected


def test_latest_serves_newest_and_specific_versions_and_labels(tmp_path):
    make_versions(tmp_path, 1, 2, 3)
    manager = ModelManager(config_for(tmp_path, "latest { num_versions: 2 }",
                                      'version_labels { key: "stable" value: 2 }'), poll_wait_seconds=0,
                           loader=FakeLoader())
    assert manager.servable("m") == ("m", 3)
    assert manager.servable("m", version=2) == ("m", 2)
    assert manager.servable("m", label="stable") == ("m", 2)
    assert [(s.version, s.state) for s in manager.status("m")] == [(3, "AVAILABLE"), (2, "AVAILABLE")]
    cases = [
        (lambda: manager.servable("m", version=1), grpc.StatusCode.NOT_FOUND,
         "Servable not found for request: Specific(m, 1)"),
        (lambda: manager.servable("nope"), grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)"),
        (lambda: manager.servable("m", label="canary"), grpc.StatusCode.INVALID_ARGUMENT,
         "Unrecognized servable version label: canary"),
        (lambda: manager.status("m", 9), grpc.StatusCode.NOT_FOUND, "Could not find version 9 of model m"),
        (lambda: manager.status("nope"), grpc.StatusCode.NOT_FOUND, "Could not find any versions of model nope"),
    ]
    for call, code, message in cases:
        with pytest.raises(ServingError) as info:
            call()
        assert (info.value.code, info.value.message) == (code, message)


def test_polling_loads_new_and_unloads_old_versions(tmp_path):
    make_versions(tmp_path, 1)
    loader = FakeLoader()
    manager = ModelManager(config_for(tmp_path), poll_wait_seconds=0, loader=loader)
    assert manager.servable("m") == ("m", 1)
    make_versions(tmp_path, 2)
    manager.poll_once()
    assert manager.servable("m") == ("m", 2)
    assert [(s.version, s.state) for s in manager.status("m")] == [(2, "AVAILABLE"), (1, "END")]
    manager.poll_once()
    assert loader.loads == [("m", 1), ("m", 2)]  # nothing reloaded


def test_broken_version_keeps_previous_serving_and_reports_error(tmp_path):
    make_versions(tmp_path, 1)
    loader = FakeLoader()
    manager = ModelManager(config_for(tmp_path), poll_wait_seconds=0, max_num_load_retries=2, loader=loader)
    make_versions(tmp_path, 2, broken=(2,))
    for _ in range(5):
        manager.poll_once()
    assert manager.servable("m") == ("m", 1)
    latest, previous = manager.status("m")
    assert (latest.version, latest.state, latest.error_code) == (2, "END", grpc.StatusCode.UNKNOWN)
    assert "corrupt SavedModel" in latest.error_message
    assert (previous.version, previous.state) == (1, "AVAILABLE")
    assert loader.loads.count(("m", 2)) == 3  # first try + max_num_load_retries, then given up


def test_reload_config_adds_and_removes_models(tmp_path):
    make_versions(tmp_path / "a", 1)
    make_versions(tmp_path / "b", 4)
    manager = ModelManager(config_for(tmp_path / "a"), poll_wait_seconds=0, loader=FakeLoader())
    new = model_server_config_pb2.ModelServerConfig()
    new.model_config_list.config.add(name="b", base_path=str(tmp_path / "b"))
    manager.reload_config(new)
    assert manager.model_names() == ["b"] and manager.servable("b") == ("b", 4)
    with pytest.raises(ServingError):
        manager.servable("m")


def test_background_polling_thread(tmp_path):
    import time
    make_versions(tmp_path, 1)
    manager = ModelManager(config_for(tmp_path), poll_wait_seconds=0.05, loader=FakeLoader())
    manager.start_polling()
    make_versions(tmp_path, 2)
    deadline = time.monotonic() + 10
    while manager.servable("m") != ("m", 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    manager.stop()
    assert manager.servable("m") == ("m", 2)


def test_vanished_serving_version_with_corrupt_newer_is_reported_not_silent(tmp_path, caplog):
    """Issue 11 item 4: v3 corrupt, v2 serving; deleting v2's directory makes latest fall back to v1, loudly."""
    import shutil
    make_versions(tmp_path, 1, 2)
    manager = ModelManager(config_for(tmp_path), poll_wait_seconds=0, max_num_load_retries=0, loader=FakeLoader())
    make_versions(tmp_path, 3, broken=(3,))
    manager.poll_once()
    manager.poll_once()
    assert manager.servable("m") == ("m", 2)
    assert "version 3 failed to load (RuntimeError: corrupt SavedModel" in manager.status("m", 2)[0].error_message
    shutil.rmtree(tmp_path / "2")
    with caplog.at_level("WARNING"):
        manager.poll_once()
    assert manager.servable("m") == ("m", 1)
    statuses = {s.version: s for s in manager.status("m")}
    assert (statuses[2].state, statuses[2].error_code) == ("END", grpc.StatusCode.NOT_FOUND)
    assert "disappeared" in statuses[2].error_message
    note = statuses[1].error_message
    assert statuses[1].state == "AVAILABLE" and note.startswith("serving version 1 in place of a newer one: ")
    assert "version 3 failed to load" in note and "version 2 is no longer served (directory" in note
    assert note in caplog.text
    caplog.clear()
    manager.poll_once()
    assert "in place of" not in caplog.text  # said once per change, not on every poll


def test_only_version_vanishing_keeps_serving_from_memory(tmp_path):
    import shutil
    make_versions(tmp_path, 1)
    manager = ModelManager(config_for(tmp_path), poll_wait_seconds=0, loader=FakeLoader())
    shutil.rmtree(tmp_path / "1")
    manager.poll_once()
    assert manager.servable("m") == ("m", 1)
    assert "still serving from memory" in manager.status("m")[0].error_message


def test_missing_base_path_is_loud_and_not_found(tmp_path, caplog):
    with caplog.at_level("ERROR"):
        manager = ModelManager(config_for(tmp_path / "nope"), poll_wait_seconds=0, loader=FakeLoader())
    assert f"base path {tmp_path / 'nope'} does not exist" in caplog.text
    with pytest.raises(ServingError) as info:
        manager.status("m")
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert info.value.message == f"Could not find any versions of model m: its base path {tmp_path / 'nope'} " \
                                 "does not exist"
    make_versions(tmp_path / "nope", 1)
    manager.poll_once()
    assert manager.servable("m") == ("m", 1)
