"""The dashboard at ``/`` and the answers for paths no route serves.

Unknown ``/api`` paths answer JSON 404s (after the token check, like every ``/api`` route but
health); every other path is the built dashboard's, whose client-side routes get its
``index.html``. Without a built dashboard, ``/`` says how to build it.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

import pipeline

from ..deps import require_token
from ..errors import json_error

__all__ = ["SPAStaticFiles", "api_fallback", "api_root", "default_ui_dir", "mount_dashboard"]

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

_NOT_BUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Synthetic Market Engine</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Synthetic Market Engine</h1>
<p>The API is running: see <a href="/docs">/docs</a>.</p>
<p>The web dashboard has not been built. Run <code>make serve</code>, or
<code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</code> and restart the server.</p>
</body></html>
"""

#: ``/api`` itself: no route, and no token needed to be told so.
api_root = APIRouter()
#: Any other unknown ``/api/...`` path; included after every other router.
api_fallback = APIRouter(prefix="/api", dependencies=[Depends(require_token)])


@api_root.api_route("/api", methods=_METHODS, include_in_schema=False)
def root() -> Response:
    return json_error(404, "no route /api; see /docs")


@api_fallback.api_route("/{path:path}", methods=_METHODS, include_in_schema=False)
def api_not_found(path: str) -> Response:
    return json_error(404, f"no route /api/{path[:100]}; see /docs")


class SPAStaticFiles(StaticFiles):
    """The built dashboard; unknown extension-less paths get index.html (client-side routes)."""

    async def get_response(self, path: str, scope):
        """The file at ``path``, or ``index.html`` for a client-side route."""
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            last = path.rsplit("/", 1)[-1]
            if exc.status_code == 404 and not path.startswith("api") and "." not in last:
                return await super().get_response("index.html", scope)
            raise


def default_ui_dir() -> Path | None:
    """The built dashboard of a source checkout (``ui/dist``) or of the package (``ui_dist``)."""
    package = Path(pipeline.__file__).resolve().parent
    for candidate in (package.parent / "ui" / "dist", package / "ui_dist"):
        if (candidate / "index.html").is_file():
            return candidate
    return None


def _not_built() -> HTMLResponse:
    return HTMLResponse(_NOT_BUILT_PAGE)


def mount_dashboard(app: FastAPI, ui_dir: str | os.PathLike[str] | None) -> None:
    """Serve the built dashboard at ``/`` (after every route), or the not-built page."""
    ui_path = Path(ui_dir) if ui_dir is not None else default_ui_dir()
    if ui_path is not None and (ui_path / "index.html").is_file():
        app.mount("/", SPAStaticFiles(directory=ui_path, html=True), name="ui")
    else:
        app.add_api_route("/", _not_built, methods=["GET"], include_in_schema=False)
