"""The plugin's bundled frontend files (``static/``): name -> (bytes, MIME type), refusing anything outside it."""
import mimetypes
import os
import posixpath

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_MIME = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


class StaticPathError(ValueError):
    """A requested static path that is malformed or leaves the static directory."""


def resolve(name):
    """Absolute path of static file ``name`` (a relative POSIX path); raises ``StaticPathError`` for traversal,
    absolute paths, backslashes, NUL bytes or hidden files, and ``FileNotFoundError`` if it does not exist."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or posixpath.isabs(name):
        raise StaticPathError(f"invalid static path {name!r}")
    parts = name.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise StaticPathError(f"invalid static path {name!r}")
    path = os.path.realpath(os.path.join(STATIC_DIR, *parts))
    if os.path.commonpath([path, os.path.realpath(STATIC_DIR)]) != os.path.realpath(STATIC_DIR):
        raise StaticPathError(f"static path {name!r} leaves the static directory")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no static file {name!r}")
    return path


def read(name):
    """(contents, MIME type) of static file ``name`` (see ``resolve``)."""
    path = resolve(name)
    ext = os.path.splitext(path)[1]
    mime = _MIME.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    with open(path, "rb") as f:
        return f.read(), mime
