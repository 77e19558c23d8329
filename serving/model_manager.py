"""Which model versions are loaded: version policies, labels, and file-system polling while serving.

Mirrors TF Serving's ``FileSystemStoragePathSource`` + ``AspiredVersionsManager`` with the
availability-preserving policy:

* versions are the all-digit sub-directories of each model's ``base_path``;
* the policy picks the aspired ones: ``latest { num_versions: N }`` (default N=1), ``all``, ``specific { versions }``;
* every poll loads aspired versions that are not loaded yet and unloads loaded versions that are no longer aspired,
  but never unloads while no aspired version is available, so a broken new version (reported ``END`` with its
  error in :meth:`ModelManager.status`) leaves the previous one serving. A failed load is retried on later polls
  up to ``max_num_load_retries`` times, as TF Serving does.

Versions given up on are skipped by the policy, so ``latest`` serves the highest-numbered *loadable* version. Whenever
that is older than the newest version on disk, or than the version served before, the manager says so: a WARNING in
the log (once per change) and a note in that version's status (``error_message``, code OK) naming the newer
versions and why they are not served. When the directory of a serving version disappears, the version stops being
aspired: the next loadable version (possibly an older one, as above) is loaded and the vanished one is unloaded
(status END, NOT_FOUND "directory ... disappeared"); if no other version is loadable it keeps serving from memory
(availability first) and the log says so. A ``base_path`` that does not exist is logged as an ERROR (at start and
whenever it disappears) and status answers NOT_FOUND naming it; its versions load once it appears.
"""
import dataclasses
import os
import threading
import time

import grpc
from absl import logging

from serving import errors
from serving.errors import ServingError
from serving.servable import load_servable

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"


@dataclasses.dataclass(frozen=True)
class ModelOverview:
    """One model's state at a glance (readiness and metrics read it): statuses newest first, AVAILABLE versions."""
    name: str
    base_path: str
    base_missing: bool
    available: tuple
    statuses: tuple


@dataclasses.dataclass
class VersionStatus:
    version: int
    state: str
    error_code: grpc.StatusCode = grpc.StatusCode.OK
    error_message: str = ""


def list_versions(base_path: str) -> list[int]:
    """The numbered version directories under ``base_path`` (others are ignored, as TF Serving does)."""
    try:
        names = os.listdir(base_path)
    except FileNotFoundError:
        return []
    return sorted(int(n) for n in names if n.isdigit() and int(n) > 0 and os.path.isdir(os.path.join(base_path, n)))


def aspired_versions(policy, available_on_disk: list[int]) -> list[int]:
    """Applies a ``FileSystemStoragePathSourceConfig.ServableVersionPolicy`` to the versions found on disk."""
    choice = policy.WhichOneof("policy_choice")
    versions = sorted(available_on_disk)
    if choice == "all":
        return versions
    if choice == "specific":
        wanted = set(policy.specific.versions)
        return [v for v in versions if v in wanted]
    num_versions = policy.latest.num_versions if choice == "latest" and policy.latest.num_versions else 1
    return versions[-num_versions:]


class _Model:
    def __init__(self, config):
        self.config = config
        self.servables = {}     # version -> Servable (AVAILABLE)
        self.status = {}        # version -> VersionStatus
        self.failures = {}      # version -> failed load attempts
        self.base_missing = False
        self.note = ""          # why the newest servable is not the newest version (logged once per change)
        self.newest_served = None


class ModelManager:
    """Loads and unloads the versions of every configured model; thread-safe look-ups for requests."""

    def __init__(self, model_server_config, poll_wait_seconds: float = 1.0, max_num_load_retries: int = 5,
                 loader=load_servable, on_change=None, initial_load=True):
        """``loader(name, version, path)`` loads one version; ``on_change()`` runs after every poll (the server
        updates its health from it); ``initial_load=False`` leaves the first load to the first :meth:`poll_once`."""
        self._lock = threading.Lock()
        self._models = {}
        self._loader = loader
        self._on_change = on_change
        self._poll_wait_seconds = poll_wait_seconds
        self._max_num_load_retries = max_num_load_retries
        self._stop = threading.Event()
        self._thread = None
        self._set_config(model_server_config)
        if initial_load:
            self.poll_once()

    # ---- configuration and polling -------------------------------------------------------------------------------
    def reload_config(self, model_server_config):
        """Switches to a new model list: new models are loaded, models no longer listed are unloaded."""
        self._set_config(model_server_config)
        self.poll_once()

    def _set_config(self, model_server_config):
        configs = {c.name: c for c in model_server_config.model_config_list.config}
        with self._lock:
            for name in list(self._models):
                if name not in configs:
                    logging.info("Unloading model %s (no longer in the config)", name)
                    del self._models[name]
            for name, config in configs.items():
                if name in self._models:
                    self._models[name].config = config
                else:
                    self._models[name] = _Model(config)

    def poll_once(self):
        """One pass of the file-system source over every model (the work each poll tick does)."""
        with self._lock:
            models = list(self._models.values())
        for model in models:
            self._poll_model(model)
        if self._on_change is not None:
            self._on_change()

    def _poll_model(self, model):
        name, config = model.config.name, model.config
        missing = not os.path.isdir(config.base_path)
        if missing and not model.base_missing:
            logging.error("Model %s: base path %s does not exist; nothing of it is served (status NOT_FOUND) until "
                          "it appears", name, config.base_path)
        model.base_missing = missing
        on_disk = list_versions(config.base_path)
        given_up = {v for v, n in model.failures.items() if n > self._max_num_load_retries}
        aspired = aspired_versions(config.model_version_policy, [v for v in on_disk if v not in given_up])
        for version in aspired:
            if version not in model.servables:
                self._load(model, version)
        with self._lock:
            if any(v in model.servables for v in aspired):
                for version in [v for v in model.servables if v not in aspired]:
                    model.status[version] = VersionStatus(version, UNLOADING)
                    del model.servables[version]
                    if version in on_disk:
                        logging.info("Unloading %s version %d", name, version)
                        model.status[version] = VersionStatus(version, END)
                    else:
                        message = (f"directory {os.path.join(config.base_path, str(version))} disappeared while "
                                   f"the version was loaded; unloaded")
                        logging.warning("Model %s version %d: %s", name, version, message)
                        model.status[version] = VersionStatus(version, END, grpc.StatusCode.NOT_FOUND, message)
            else:
                for version in [v for v in model.servables if v not in on_disk]:
                    if model.status[version].error_message == "":
                        message = (f"directory {os.path.join(config.base_path, str(version))} disappeared; still "
                                   f"serving from memory: no other version is loadable")
                        logging.warning("Model %s version %d: %s", name, version, message)
                        model.status[version] = VersionStatus(version, AVAILABLE, error_message=message)
            self._note_fallback(model, on_disk)

    def _note_fallback(self, model, on_disk):
        """Logs and records (in the status of the newest servable) why it is older than what it should be."""
        if not model.servables:
            model.newest_served, model.note = None, ""
            return
        newest = max(model.servables)
        newer = [v for v in on_disk if v > newest]
        reasons = [f"version {v} failed to load ({model.status[v].error_message})" for v in newer
                   if v in model.status and model.status[v].state == END and model.status[v].error_message]
        if model.newest_served is not None and newest < model.newest_served:
            gone = model.status.get(model.newest_served)
            reasons.append(f"version {model.newest_served} is no longer served"
                           + (f" ({gone.error_message})" if gone and gone.error_message else ""))
        note = f"serving version {newest} in place of a newer one: " + "; ".join(reasons) if reasons else ""
        if note and note != model.note:
            logging.warning("Model %s: %s", model.config.name, note)
            model.status[newest] = VersionStatus(newest, AVAILABLE, error_message=note)
        model.note = note
        model.newest_served = max(model.newest_served or 0, newest)

    def _load(self, model, version):
        name = model.config.name
        path = os.path.join(model.config.base_path, str(version))
        with self._lock:
            if model.failures.get(version, 0) > self._max_num_load_retries:
                return
            model.status[version] = VersionStatus(version, LOADING)
        start = time.monotonic()
        try:
            servable = self._loader(name, version, path)
        except Exception as error:  # noqa: BLE001 - any broken version must be reported, never crash the server
            failure = errors.from_exception(error)
            if failure.code == grpc.StatusCode.INTERNAL:
                failure = ServingError(grpc.StatusCode.UNKNOWN, failure.message)
            with self._lock:
                model.failures[version] = model.failures.get(version, 0) + 1
                model.status[version] = VersionStatus(version, END, failure.code, failure.message)
            logging.error("Loading %s version %d from %s failed (attempt %d): %s", name, version, path,
                          model.failures[version], failure.message)
            return
        with self._lock:
            model.servables[version] = servable
            model.failures.pop(version, None)
            model.status[version] = VersionStatus(version, AVAILABLE)
        logging.info("Loaded %s version %d from %s in %.2f s", name, version, path, time.monotonic() - start)

    def start_polling(self):
        """Polls every ``poll_wait_seconds`` in a daemon thread (no polling when it is <= 0, as TF Serving)."""
        if self._poll_wait_seconds <= 0 or self._thread is not None:
            return
        def loop():
            while not self._stop.wait(self._poll_wait_seconds):
                try:
                    self.poll_once()
                except Exception:  # noqa: BLE001 - the poller must survive a bad file system state
                    logging.exception("Polling the model base paths failed")
        self._thread = threading.Thread(target=loop, name="model-poller", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # ---- look-ups for requests -----------------------------------------------------------------------------------
    def model_names(self):
        with self._lock:
            return sorted(self._models)

    def resolve_label(self, name: str, label: str) -> int:
        with self._lock:
            model = self._models.get(name)
            if model is None:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")
            if label not in model.config.version_labels:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"Unrecognized servable version label: {label}")
            return model.config.version_labels[label]

    def servable(self, name: str, version: int | None = None, label: str | None = None):
        """The servable for a request: a given version, the version a label names, or the latest available."""
        if label:
            version = self.resolve_label(name, label)
        with self._lock:
            model = self._models.get(name)
            servables = model.servables if model else {}
            if version is None:
                if servables:
                    return servables[max(servables)]
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")
            if version in servables:
                return servables[version]
        raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Specific({name}, {version})")

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """Per-version states, newest first (TF Serving's ``GetModelStatus``)."""
        with self._lock:
            model = self._models.get(name)
            statuses = dict(model.status) if model else {}
        if version is not None:
            if version not in statuses:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}")
            return [statuses[version]]
        if not statuses:
            missing = model is not None and model.base_missing
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}" + (
                f": its base path {model.config.base_path} does not exist" if missing else ""))
        return [statuses[v] for v in sorted(statuses, reverse=True)]

    def overview(self) -> list[ModelOverview]:
        """Every configured model's state, by name."""
        with self._lock:
            return [ModelOverview(name, model.config.base_path, model.base_missing, tuple(sorted(model.servables)),
                                  tuple(model.status[v] for v in sorted(model.status, reverse=True)))
                    for name, model in sorted(self._models.items())]
