"""The FastAPI application: the API, the pages, a body-size limit, and an engine that starts
with the app and stops with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opsagent.serve import api, api_learning, pages
from opsagent.serve.auth import Tokens
from opsagent.serve.engine import Engine
from opsagent.serve.schemas import MAX_DEPTH


async def _too_deep(request: Request, exc: Exception) -> Response:
    """A body nested past the JSON parser's recursion limit fails to parse (FastAPI's 400
    with no reason); say why, as the schema's own depth check does."""
    if isinstance(exc.__cause__, RecursionError):
        return JSONResponse({"detail": f"the payload nests deeper than {MAX_DEPTH} levels"}, status_code=422)
    return await http_exception_handler(request, exc)  # type: ignore[arg-type]


class BodyLimit:
    """413 for a body over the limit, whether announced by Content-Length or streamed: the
    body is read here first (bounded), then handed on."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        too_large = JSONResponse({"detail": f"request body over {self.max_bytes} bytes"}, status_code=413)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await too_large(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await too_large(scope, receive, send)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def create_app(engine: Engine, manage_engine: bool = True) -> FastAPI:
    """`manage_engine`: start the engine with the app and stop it at shutdown."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_engine:
            engine.start()
        try:
            yield
        finally:
            if manage_engine:
                engine.stop()

    app = FastAPI(
        title="opsagent",
        version="0.1.0",
        lifespan=lifespan,
        description="Alert webhook, chat, incidents and the SRE approval queue of the opsagent "
        "runtime. Every endpoint but /healthz, /readyz, /metrics and the page shells needs a "
        "bearer token; its role decides what it may do.",
    )
    app.state.engine = engine
    app.state.tokens = Tokens(engine.cfg)
    app.add_middleware(BodyLimit, max_bytes=engine.cfg.max_body_bytes)
    app.add_exception_handler(HTTPException, _too_deep)  # starlette's: the class FastAPI's handlers key
    app.include_router(api.router)
    app.include_router(api_learning.router)
    app.include_router(pages.router)
    return app
