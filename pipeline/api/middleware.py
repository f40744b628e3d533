"""ASGI middleware of the API: body-size limits, the early token gate, the last-resort 500.

They work on the raw ASGI messages, before FastAPI reads a request's body: a body over its
limit or a request without its token is answered before the body is received.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .deps import TOKEN_MESSAGE
from .errors import json_error
from .state import ServerSettings

__all__ = ["MAX_JSON_BYTES", "BodyLimit", "CatchAll", "TokenGate", "add_middleware"]

log = logging.getLogger("pipeline.api")

#: Largest JSON body accepted by routes other than the upload.
MAX_JSON_BYTES = 1 << 20
#: The upload route, whose body may be as large as the server's upload limit.
UPLOAD_PATH = "/api/datasets"


class BodyLimit:
    """413 for request bodies over the limit: by Content-Length, and by counting as they come.

    Parameters
    ----------
    app : ASGI app
        The app it wraps.
    upload_mb : float
        Limit of bodies sent to ``upload_path``, in MB; other bodies: :data:`MAX_JSON_BYTES`.
    upload_path : str
        The upload route.
    """

    def __init__(self, app, upload_mb: float, upload_path: str) -> None:
        self.app = app
        self.upload_mb = upload_mb
        self.upload_limit = int(upload_mb * 2**20)
        self.upload_path = upload_path

    def _message(self, limit: int, upload: bool) -> str:
        if upload:
            return (f"the upload is larger than this server's limit of {self.upload_mb:g} MB; "
                    "upload a shorter file or start the server with a higher --max-upload-mb")
        return f"the request body is larger than {limit} bytes"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        upload = scope.get("path", "").rstrip("/") == self.upload_path
        limit = self.upload_limit if upload else MAX_JSON_BYTES
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False
            if too_big:
                await json_error(413, self._message(limit, upload))(scope, receive, send)
                return
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, self._message(limit, upload))
            return message

        await self.app(scope, counting_receive, send)


class TokenGate:
    """401 for a request with a body and no valid bearer token, before the body is read.

    The routes' own token dependency runs only after FastAPI has read (and for an upload,
    parsed) the whole body; this gate answers before a byte of it is received.
    """

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    async def __call__(self, scope, receive, send) -> None:
        if (scope["type"] == "http" and scope.get("method") in ("POST", "PUT", "PATCH")
                and scope.get("path", "").startswith("/api/")):
            scheme, _, given = dict(scope.get("headers") or []).get(
                b"authorization", b"").strip().partition(b" ")
            if scheme.lower() != b"bearer" or not secrets.compare_digest(given.strip(),
                                                                          self.expected):
                response = JSONResponse(
                    {"detail": TOKEN_MESSAGE},
                    status_code=401, headers={"WWW-Authenticate": "Bearer", "Connection": "close"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class CatchAll:
    """Any unexpected exception becomes a logged 500 with a generic message, not a traceback."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        except Exception:
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await json_error(500, "internal server error; the details are in the server log")(
                scope, receive, send)


def add_middleware(app: FastAPI, settings: ServerSettings,
                   cors_origins: list[str] | None) -> None:
    """Wrap ``app`` in the middleware, outermost last: CORS, token gate, body limit, 500s."""
    app.add_middleware(CatchAll)
    app.add_middleware(BodyLimit, upload_mb=settings.max_upload_mb, upload_path=UPLOAD_PATH)
    if settings.token:
        app.add_middleware(TokenGate, token=settings.token)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins),
                           allow_methods=["*"], allow_headers=["*"])
