"""Server-rendered pages and the static files of the web app.

Both are pure functions over files shipped inside the package (``templates/`` and
``static/``), read through :mod:`importlib.resources` once and then served from memory.

* :func:`render` fills ``{{ name }}`` placeholders in a template with HTML-escaped values.
* :func:`static_asset` returns the content type, body and strong ETag of a static file, or
  ``None`` for anything that is not a plain file under ``static/``.
* :data:`CSP` is the Content-Security-Policy every page is served with: no inline script or
  style, nothing from another origin.
"""

from __future__ import annotations

import hashlib
import html
import re
import threading
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Final

__all__ = ["CSP", "render", "static_asset", "template_names"]

CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

_PACKAGE: Final = "sketchychat.web"

# ``{{ name }}`` with optional spaces; names are identifiers.
_PLACEHOLDER: Final = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

# A path segment we are willing to serve: no hidden files, no odd characters.
_SEGMENT: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

_TEXT_TYPES: Final[dict[str, str]] = {
    ".css": "text/css",
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
    ".webmanifest": "application/manifest+json",
}
_BINARY_TYPES: Final[dict[str, str]] = {
    ".avif": "image/avif",
    ".gif": "image/gif",
    ".ico": "image/x-icon",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}

# A compiled template: literal text at even indexes, placeholder names at odd ones.
_Compiled = tuple[str, ...]

_lock = threading.Lock()
_templates: dict[str, _Compiled] = {}
_assets: dict[str, tuple[str, bytes, str]] = {}


def _root(folder: str) -> Traversable:
    return resources.files(_PACKAGE).joinpath(folder)


def _safe_parts(path: str) -> list[str] | None:
    """The segments of a relative, normalised path, or None if it could escape or is hidden."""
    if not path or len(path) > 256 or path.startswith(("/", "\\")):
        return None
    parts = path.split("/")
    for part in parts:
        if not _SEGMENT.fullmatch(part) or part.endswith(".") or ".." in part:
            return None
    return parts


def _compile(source: str) -> _Compiled:
    # re.split with one capture group alternates literal, name, literal, ..., literal.
    return tuple(_PLACEHOLDER.split(source))


def _template(name: str) -> _Compiled:
    compiled = _templates.get(name)
    if compiled is not None:
        return compiled
    parts = _safe_parts(name)
    if parts is None:
        raise FileNotFoundError(f"not a template name: {name!r}")
    node = _root("templates")
    for part in parts:
        node = node.joinpath(part)
    if not node.is_file():
        raise FileNotFoundError(f"no such template: {name!r}")
    compiled = _compile(node.read_text(encoding="utf-8"))
    with _lock:
        _templates[name] = compiled
    return compiled


def template_names() -> list[str]:
    """The names of the templates shipped in the package (``index.html``, ...)."""
    return sorted(
        entry.name
        for entry in _root("templates").iterdir()
        if entry.is_file() and _safe_parts(entry.name) is not None
    )


def render(name: str, **values: str) -> bytes:
    """Render ``templates/<name>`` to UTF-8 bytes.

    Every ``{{ key }}`` is replaced by ``values[key]``, HTML-escaped (quotes included, so a
    value is safe inside an attribute too). A placeholder without a value raises
    :class:`KeyError`; values no placeholder uses are ignored. An unknown template raises
    :class:`FileNotFoundError`.
    """
    compiled = _template(name)
    out: list[str] = []
    for index, piece in enumerate(compiled):
        if index % 2 == 0:
            out.append(piece)
        else:
            if piece not in values:
                raise KeyError(piece)
            out.append(html.escape(values[piece], quote=True))
    return "".join(out).encode("utf-8")


def _content_type(name: str) -> str:
    dot = name.rfind(".")
    suffix = name[dot:].lower() if dot > 0 else ""
    if suffix in _TEXT_TYPES:
        return _TEXT_TYPES[suffix] + "; charset=utf-8"
    return _BINARY_TYPES.get(suffix, "application/octet-stream")


def static_asset(path: str) -> tuple[str, bytes, str] | None:
    """``(content type, body, strong ETag)`` for ``static/<path>``, or None.

    ``path`` is relative to ``static/`` and uses ``/`` separators (``"js/room.js"``). Absolute
    paths, ``..``, empty segments, backslashes and hidden files (a segment starting with a dot)
    are refused, as is anything that is not a regular file. A file is read once and then kept
    in memory; the ETag is a quoted hash of its bytes.
    """
    cached = _assets.get(path)
    if cached is not None:
        return cached
    parts = _safe_parts(path)
    if parts is None:
        return None
    node = _root("static")
    for part in parts:
        node = node.joinpath(part)
    try:
        if not node.is_file():
            return None
        body = node.read_bytes()
    except OSError:
        return None
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    asset = (_content_type(parts[-1]), body, etag)
    with _lock:
        _assets[path] = asset
    return asset
