"""``nli_app_sharpness``: a TensorBoard dynamic plugin for the large-batch study (Keskar et al., ICLR 2017).

Shows the records of ``nli_app.summary``: sharpness (Metric 2.1) over steps per run with epsilon / subspace
selectors and SB vs LB side by side, the latest sharpness per run with mean +- std per run group (Tables 3-4), the
parametric interpolation curves (Figure 3) and batch-size sweeps (Figure 4). Registered through the
``tensorboard_plugins`` entry point in setup.cfg; the frontend is the ES module ``static/index.js``.

This module is the thin HTTP layer: JSON routes delegate to the plain functions of ``routes.py`` and turn
``tensorboard.errors.PublicError`` into a JSON ``{"error": ...}`` response with its HTTP code.
"""
import json

from tensorboard import context as tb_context
from tensorboard import errors
from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from nli_app import summary
from nli_app.tensorboard_plugin import routes
from nli_app.tensorboard_plugin import static_files

_STATIC_PREFIX = "/static/"
_JSON_ROUTES = {
    "/tags": routes.tags,
    "/sharpness": routes.sharpness,
    "/sharpness_table": routes.sharpness_table,
    "/surface": routes.surface,
    "/interpolation": routes.interpolation,
    "/sweep": routes.sweep,
}


def _json(request, payload, code=200):
    return http_util.Respond(request, json.dumps(payload, allow_nan=False), "application/json", code=code)


class SharpnessPlugin(base_plugin.TBPlugin):
    """Sharpness and loss-landscape dashboards, reading through ``context.data_provider``."""

    plugin_name = summary.PLUGIN_NAME

    def __init__(self, context):
        super().__init__(context)
        self._provider = context.data_provider

    def get_plugin_apps(self):
        apps = {route: self._json_app(fn) for route, fn in _JSON_ROUTES.items()}
        apps[_STATIC_PREFIX + "*"] = self._serve_static
        return apps

    def is_active(self):
        """Whether any run of the default experiment holds records of this plugin.

        TensorBoard's plugins listing first checks ``data_plugin_names()`` against the provider's plugin list and
        calls this only when that finds nothing.
        """
        if self._provider is None:
            return False
        return bool(self._provider.list_tensors(tb_context.RequestContext(), experiment_id="",
                                                plugin_name=summary.PLUGIN_NAME))

    def data_plugin_names(self):
        return (summary.PLUGIN_NAME,)

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path=_STATIC_PREFIX + "index.js",
                                            tab_name="Sharpness")

    def _json_app(self, fn):
        @wrappers.Request.application
        def app(request):
            try:
                payload = fn(self._provider, plugin_util.context(request.environ),
                             plugin_util.experiment_id(request.environ), request.args)
            except errors.PublicError as e:
                return _json(request, {"error": str(e)}, code=e.http_code)
            return _json(request, payload)

        return app

    @wrappers.Request.application
    def _serve_static(self, request):
        name = request.path.split(_STATIC_PREFIX, 1)[1] if _STATIC_PREFIX in request.path else ""
        try:
            content, mime = static_files.read(name)
        except static_files.StaticPathError as e:
            return _json(request, {"error": str(e)}, code=400)
        except FileNotFoundError as e:
            return _json(request, {"error": str(e)}, code=404)
        return http_util.Respond(request, content, mime)
