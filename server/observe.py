"""Watching the server: Prometheus metrics, a request id, and one log line per request.

`Observe` is one pure ASGI middleware (no per-request dependency, no BaseHTTPMiddleware: this
is on every request's path). For each HTTP request it

- takes the caller's `X-Request-ID` when it is a sane token (1 to 64 of `A-Za-z0-9._-`), else
  makes one (uuid4 hex), and answers it in `X-Request-ID`;
- counts the request (`terrain_http_requests_total` by method, route template and status) and
  times it (`terrain_http_request_duration_seconds` by route template): the route's template
  (`/api/v1/accounts/{account_id}`), never the raw path, and `unmatched` for a path no route
  has, so that the labels stay few;
- logs one line, `request`, on the `terrain.access` logger with the method, route, path, status,
  duration, request id, client address, and the device (and user) when the request signed in.

Every log record made while a request runs carries its `request_id` (`RequestIdFilter`), the
traceback of an error too. `log_config()` is the logging set-up `terrain-server serve` gives
uvicorn: JSON lines (python-json-logger) or text for a person at a terminal.

Several worker processes: prometheus_client's multiprocess mode, on when `PROMETHEUS_MULTIPROC_DIR`
is set (before this module is first imported: the workers inherit it), each process writing its
values there and `/metrics` adding them up. `prepare_multiprocess_dir(workers)` sets it up.
"""

from __future__ import annotations

import atexit
import contextvars
import hmac
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response, status
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pythonjsonlogger.orjson import OrjsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import ApiError

if TYPE_CHECKING:
    from sync.wire import MutationResult

__all__ = [
    "MULTIPROC_ENV",
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "Observe",
    "RequestIdFilter",
    "TextFormatter",
    "current_request_id",
    "log_config",
    "metrics_endpoint",
    "prepare_multiprocess_dir",
    "record_pull",
    "record_push",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
REQUEST_ID_HEADER = "X-Request-ID"
_HEADER = REQUEST_ID_HEADER.lower().encode()
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}").fullmatch
#: Any other method a client invents is counted as OTHER (its labels must stay few).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

# -- metrics ---------------------------------------------------------------------------------

# No `_created` twin of every counter: half the scrape, nothing lost (prometheus_client leaves it unannotated).
disable_created_metrics()  # type: ignore[no-untyped-call]

HTTP_REQUESTS = Counter("terrain_http_requests", "HTTP requests answered", ["method", "route", "status"])
#: 5 ms to 5 s: a sign-in (argon2) is ~50 ms, a first sync's 5,000-record page a few hundred.
HTTP_LATENCY = Histogram(
    "terrain_http_request_duration_seconds",
    "Time from the request's arrival to the end of its answer",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SYNC_PULLS = Counter("terrain_sync_pulls", "Pull pages served")
SYNC_PULL_ROWS = Counter("terrain_sync_pull_rows", "Records sent by pull pages")
SYNC_PUSHES = Counter("terrain_sync_pushes", "Pushes answered (each mutation with its own result)")
SYNC_MUTATIONS = Counter("terrain_sync_mutations", "Pushed mutations by their result", ["result"])
SYNC_CONFLICT_FIELDS = Counter(
    "terrain_sync_conflict_fields", "Fields a push found in conflict (changed on the server since the device read them)"
)
_RESULTS = {result: SYNC_MUTATIONS.labels(result) for result in ("applied", "rejected", "conflict")}

#: (method, route, status) -> the request counter's and the latency histogram's children:
#: `.labels()` costs a few microseconds, a dict lookup far less. Routes and statuses are few.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def record_pull(records: int) -> None:
    """A pull page of `records` records went out."""
    SYNC_PULLS.inc()
    if records:
        SYNC_PULL_ROWS.inc(records)


def record_push(results: Iterable[MutationResult]) -> None:
    """A push was answered: each mutation's result, and the fields found in conflict."""
    SYNC_PUSHES.inc()
    counts = {"applied": 0, "rejected": 0, "conflict": 0}
    fields = 0
    for result in results:
        counts[result.status] += 1
        fields += len(result.conflicts)
    for name, count in counts.items():
        if count:
            _RESULTS[name].inc(count)
    if fields:
        SYNC_CONFLICT_FIELDS.inc(fields)


def prepare_multiprocess_dir(workers: int) -> Path | None:
    """Call before starting `workers` server processes (the workers inherit the environment).

    With `PROMETHEUS_MULTIPROC_DIR` set by the operator: that directory, emptied of the values
    of an earlier run (its `*.db` files). Else, with more than one worker: a fresh temporary
    directory, set in the environment and removed when this process exits. Else (one process,
    nothing set): None, and the metrics live in the process (prometheus_client's default registry).
    """
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        own = f"_{os.getpid()}.db"  # opened already when this module was imported: still in use
        for stale in directory.glob("*.db"):
            if not stale.name.endswith(own):
                stale.unlink(missing_ok=True)
        return directory
    if workers <= 1:
        return None
    directory = Path(tempfile.mkdtemp(prefix="terrain-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


def metrics_text() -> bytes:
    """The Prometheus text exposition: of every worker when in multiprocess mode, else of this process."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics_endpoint(request: Request) -> Response:
    """GET /metrics: open unless `TERRAIN_METRICS_TOKEN` is set, then `Authorization: Bearer <it>`."""
    token: str = request.app.state.settings.metrics_token
    if token:
        given = request.headers.get("authorization", "")
        scheme, _, credentials = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), token.encode()):
            raise ApiError(
                status.HTTP_401_UNAUTHORIZED,
                "the metrics need Authorization: Bearer and the server's TERRAIN_METRICS_TOKEN",
                headers={"WWW-Authenticate": "Bearer"},
            )
    return Response(metrics_text(), media_type=CONTENT_TYPE_LATEST)


# -- request id, access log ------------------------------------------------------------------

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("terrain_request_id", default=None)
access_log = logging.getLogger("terrain.access")


def current_request_id() -> str | None:
    """The id of the request being served (None outside a request)."""
    return _request_id.get()


class Observe:
    """Pure ASGI middleware: request id, metrics and the access log line (see the module's doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        request_id = None
        for name, value in scope["headers"]:
            if name == _HEADER:
                if _SANE_ID(value):
                    request_id = value.decode("ascii")
                break
        if request_id is None:
            request_id = uuid.uuid4().hex
        id_header = (_HEADER, request_id.encode("ascii"))
        # The endpoint's request.state (the device that signed in) lands in this dict, shared
        # by whatever scope copies the layers below make.
        state = scope.setdefault("state", {})
        answered = 0

        async def send_with_id(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        token = _request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answered here rather than by Starlette's error middleware, so that the 500 carries
            # the id. The context keeps the id: uvicorn's log of the traceback, made in this
            # task, carries it too (RequestIdFilter).
            try:
                if not answered:
                    await _internal_error(send_with_id, request_id)
            finally:
                _finish(scope, state, start, answered or 500, request_id)
            raise
        _finish(scope, state, start, answered or 500, request_id)
        _request_id.reset(token)


async def _internal_error(send: Send, request_id: str) -> None:
    body = json.dumps({"detail": f"the server failed on this request (request id {request_id})", "code": None}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _finish(scope: Scope, state: dict[str, Any], start: float, status_code: int, request_id: str) -> None:
    elapsed = perf_counter() - start
    route = getattr(scope.get("route"), "path", None) or UNMATCHED
    method = scope["method"]
    if method not in _METHODS:
        method = "OTHER"
    key = (method, route, status_code)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (HTTP_REQUESTS.labels(method, route, str(status_code)), HTTP_LATENCY.labels(route))
    children[0].inc()
    children[1].observe(elapsed)
    level = logging.ERROR if status_code >= 500 else logging.INFO
    if access_log.isEnabledFor(level):
        client = scope.get("client")
        extra = {
            "method": method,
            "route": route,
            "path": scope["path"],
            "status": status_code,
            "duration_ms": round(elapsed * 1000, 2),
            "request_id": request_id,
            "client": client[0] if client else None,
        }
        if (device_id := state.get("device_id")) is not None:
            extra["device_id"] = str(device_id)
        if (user_id := state.get("user_id")) is not None:
            extra["user_id"] = str(user_id)
        # As logger.log() would, without its look for the caller's frame (this line's, always).
        access_log.handle(access_log.makeRecord(access_log.name, level, __file__, 0, "request", (), None, extra=extra))


# -- logging set-up --------------------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    """Gives every record made while a request runs that request's `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request_id = _request_id.get()
            if request_id is not None:
                record.request_id = request_id
        return True


#: uvicorn's records carry a coloured copy of their message: not for a log collector.
_NOT_LOGGED = {"color_message"}
#: A record's own attributes: what is not among them came with `extra=`.
_STANDARD = {*logging.makeLogRecord({}).__dict__, "message", "asctime", "taskName", *_NOT_LOGGED}


class JsonFormatter(OrjsonFormatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, pid (which worker), message,
    then the record's own fields (`extra=`: the request's for an access line), and `exc_info`
    (the traceback)."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(process)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
            reserved_attrs=sorted(_STANDARD),
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        moment = datetime.fromtimestamp(record.created, UTC)
        log_data["time"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        super().add_fields(log_data, record, message_dict)


class TextFormatter(logging.Formatter):
    """For a person at a terminal: `time level logger: message key=value...`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        extras = " ".join(f"{key}={value}" for key, value in record.__dict__.items() if key not in _STANDARD)
        return f"{line} {extras}" if extras else line


def log_config(log_format: str = "json", level: str = "info") -> dict[str, Any]:
    """The logging set-up for `uvicorn.run(log_config=..., access_log=False)`: every record (the
    server's, uvicorn's start-up and error lines) on stderr as JSON lines (or text), with the
    request id; uvicorn's own access log off, as `terrain.access` says more."""
    if log_format not in ("json", "text"):
        raise ValueError(f"TERRAIN_LOG_FORMAT is json or text, not {log_format!r}")
    level = level.upper()
    numeric = logging.getLevelName(level)
    if not isinstance(numeric, int):
        raise ValueError(f"TERRAIN_LOG_LEVEL is debug, info, warning or error, not {level.lower()!r}")
    # Libraries' own INFO lines (alembic's plugins at each start...) are noise: warnings and up.
    quieter = level if numeric >= logging.WARNING else "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        # By name, not by object: with several workers, each process sets its logging up anew.
        "filters": {"request_id": {"()": "server.observe.RequestIdFilter"}},
        "formatters": {
            "json": {"()": "server.observe.JsonFormatter"},
            "text": {"()": "server.observe.TextFormatter"},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": log_format,
                "filters": ["request_id"],
            }
        },
        "loggers": {
            **{name: {"level": level} for name in ("terrain", "server", "sync", "app")},
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": quieter},
    }
