"""The central CRM API as an ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI, Request, status
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.db import get_engine
from server.errors import ERROR_RESPONSES, ApiError, ErrorBody, api_error_handler
from server.limits import BodyLimit
from server.mailer import mail_lifespan
from server.migrate import current_revision, head_revision, schema_state
from server.nul import refuse_nul
from server.observe import Observe, metrics_endpoint
from server.routers import (
    accounts,
    audit,
    auth,
    contacts,
    devices,
    figures,
    imports,
    merges,
    orders,
    quotes,
    sync,
    users,
    visits,
)
from server.settings import ServerSettings, get_settings

__all__ = ["Readiness", "create_app"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Requests run in a pool of threads (the endpoints are synchronous): a few keep the
    # database busy; more would only queue for the interpreter's lock, at a cost in CPU.
    anyio.to_thread.current_default_thread_limiter().total_tokens = app.state.settings.request_threads
    async with mail_lifespan(app):  # sends the reps' e-mails in a thread while SMTP is set
        yield


class Readiness(BaseModel):
    status: str
    #: The database's migration revision: this server's, or a newer server's (see `note`).
    schema_version: str
    #: Said when the database is ahead of this server: a newer server migrated it already
    #: (migrations are expand-only, so this one still serves it during a rolling upgrade).
    note: str | None = None


def create_app(*, engine: Engine | None = None, settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Terrain CRM API",
        version="1",
        summary="Central server of the Terrain field-sales CRM",
        lifespan=_lifespan,
        dependencies=[Depends(refuse_nul)],  # no NUL character in any request (server/nul.py)
    )
    app.state.settings = settings
    app.state.mail_sender = None
    app.state.engine = engine or get_engine()
    app.state.secret_key = settings.resolved_secret_key()
    # Level 1: a first sync's 5,000-record page shrinks 5.6 times in 6 ms; level 9 gains 17 % for 6 times the CPU.
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=1)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(Observe)  # outermost: request id, metrics and the access log (server/observe.py)
    app.add_exception_handler(ApiError, api_error_handler)
    for module in (
        auth,
        users,
        devices,
        audit,
        sync,
        accounts,
        contacts,
        orders,
        quotes,
        figures,
        visits,
        merges,
        imports,
    ):
        app.include_router(module.router, responses=ERROR_RESPONSES)

    @app.exception_handler(IntegrityError)
    async def _conflict(_request: Request, _exc: IntegrityError) -> JSONResponse:
        # Two callers created the same record at once, or a reference vanished meanwhile.
        return JSONResponse(
            {"detail": "this conflicts with a record saved meanwhile: reload and try again"}, status_code=409
        )

    @app.exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED)
    async def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's Allow names the methods of the one route it tried (GET of /accounts, not
        # POST): the resource is that route's path, whose methods the OpenAPI document lists.
        headers = dict(exc.headers or {})
        path = getattr(request.scope.get("route"), "path", None)
        if path in (paths := request.app.openapi()["paths"]):
            headers["Allow"] = ", ".join(sorted(method.upper() for method in paths[path]))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process answers (for a liveness probe; says nothing of the database)."""
        return {"status": "ok"}

    # Prometheus' scrape, like a probe out of the API's document; TERRAIN_METRICS_TOKEN guards it.
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)

    head = head_revision()

    @app.get(
        "/readyz",
        tags=["operations"],
        response_model=Readiness,
        response_model_exclude_none=True,
        responses={
            503: {"model": ErrorBody, "description": "Not ready: the database is unreachable, behind, or unknown"}
        },
    )
    def readyz() -> Readiness:
        """Ready to serve: the database answers and its schema is the one this server needs, or a
        newer server's (expand-only migrations: reported with a `note`)."""
        try:
            current = current_revision(app.state.engine)
        except SQLAlchemyError as exc:
            raise ApiError(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"the database does not answer ({type(exc).__name__}): check TERRAIN_DATABASE_URL and the server",
                code="database_unreachable",
            ) from exc
        state = schema_state(current)
        if state == "behind":
            raise ApiError(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"the database schema is at {current or 'nothing'}, this server needs {head}: "
                "run terrain-server migrate",
                code="schema_behind",
            )
        if state == "unknown":
            raise ApiError(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"the database schema is at {current}, a revision this server does not know (it needs {head}):"
                " is TERRAIN_DATABASE_URL this server's database?",
                code="schema_unknown",
            )
        note = "database is newer than this server" if state == "ahead" else None
        return Readiness(status="ready", schema_version=current or "", note=note)

    return app
