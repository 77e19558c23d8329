"""Liveness and readiness as plain functions over the model manager's state (REST ``/livez`` ``/readyz``, the gRPC
health service and the ``:nli_app:serving:ready`` metric all use :func:`readiness_reasons`).

Live: the process answers (``GET /livez`` is 200 whenever the REST port serves). Ready: every configured model has
an AVAILABLE version, its base path exists, and the server is not draining. Otherwise ``GET /readyz`` is 503 and
the reasons name the model and what is wrong: still loading (the server opens its ports before the first load, so
probes get answers during a long load), its versions failed to load (their errors), its base path is gone (even
while a version still serves from memory: the model's storage needs an operator), or SIGTERM has begun draining.
TF Serving has no such endpoints; they follow what Kubernetes probes expect.
"""
DRAINING = "draining: the server is shutting down"


def model_reasons(overview) -> list:
    """Why one model (``ModelManager.overview()`` entry) keeps the server from being ready ([]: it does not)."""
    name = overview.name
    reasons = []
    if overview.base_missing:
        serving = f" (still serving version {max(overview.available)} from memory)" if overview.available else ""
        reasons.append(f"model {name}: base path {overview.base_path} does not exist{serving}")
    if overview.available:
        return reasons
    loading = [s.version for s in overview.statuses if s.state == "LOADING"]
    failed = [s for s in overview.statuses if s.state == "END" and s.error_message]
    if loading:
        reasons.append(f"model {name}: version {', '.join(map(str, loading))} loading")
    for status in failed:
        reasons.append(f"model {name}: version {status.version} failed to load: {status.error_message}")
    if not loading and not failed and not overview.base_missing:
        reasons.append(f"model {name}: no version loaded yet" if not overview.statuses
                       else f"model {name}: no version AVAILABLE")
    return reasons


def readiness_reasons(overviews, draining: bool = False) -> list:
    """Every reason the server is not ready; [] means ready."""
    reasons = [DRAINING] if draining else []
    for overview in overviews:
        reasons.extend(model_reasons(overview))
    return reasons
