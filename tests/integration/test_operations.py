"""Watching the server (server/observe.py): Prometheus metrics at /metrics, the request id, and
JSON log lines, over the real app (in-process), a uvicorn in a thread, and `terrain-server
serve` run as a process (one worker, then two sharing their metrics)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

import server.db
from app.models import Account
from server.db import TCP_SETTINGS, make_engine
from server.main import create_app
from server.models import User
from server.observe import (
    MULTIPROC_ENV,
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    log_config,
    prepare_multiprocess_dir,
)
from server.workers import listening, spreads_connections
from sync.wire import SCHEMA_VERSION
from tests.conftest import free_port, settings_for, sign_in, wait_for

#: The tests over a database run on a SQLite file: what they watch is the same on PostgreSQL.
SQLITE = pytest.mark.parametrize("backend", ["sqlite"])

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
HEX_ID = re.compile(r"[0-9a-f]{32}")


def scrape(client: httpx.Client | TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def _device(api: TestClient, username: str = "alice") -> tuple[str, dict[str, str]]:
    device_id = str(uuid.uuid4())
    return device_id, sign_in(api, username, device_id=device_id)


def _push(api: TestClient, device_id: str, headers: dict[str, str], *mutations: dict[str, object]) -> list[str]:
    body = {"client_id": device_id, "schema_version": SCHEMA_VERSION, "mutations": list(mutations)}
    response = api.post("/api/v1/sync/push", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return [result["status"] for result in response.json()["results"]]


@SQLITE
def _alices_account(engine: Engine) -> Account:
    with Session(engine) as session:
        alice_id = session.exec(select(User.id).where(User.username == "alice")).one()
        account = session.exec(select(Account).where(Account.owner_id == alice_id).order_by(col(Account.name))).first()
        assert account is not None
        return account


@SQLITE
def test_metrics_follow_the_requests_and_the_sync(api: TestClient, demo_engine: Engine) -> None:
    account = _alices_account(demo_engine)
    before = scrape(api)
    phone, headers = _device(api)
    pulled = api.get("/api/v1/sync/pull", params={"limit": 300}, headers=headers)
    assert pulled.status_code == 200
    records = sum(len(c["rows"]) if "rows" in c else 1 for c in pulled.json()["changes"])
    assert records > 0
    edit = {"entity": "account", "id": account.id, "op": "update", "base_version": account.version}
    nobodys = {"entity": "account", "id": str(uuid.uuid4()), "op": "update", "base_version": 1}
    assert _push(
        api,
        phone,
        headers,
        {**edit, "mid": 1, "fields": {"notes": "vu au salon"}},
        {**nobodys, "mid": 2, "fields": {"notes": "x"}},
    ) == ["applied", "rejected"]
    # alice's laptop edits the same field from the version it read before the phone's edit.
    laptop, laptop_headers = _device(api)
    assert _push(api, laptop, laptop_headers, {**edit, "mid": 1, "fields": {"notes": "pas vu"}}) == ["conflict"]
    assert api.get(f"/api/v1/accounts/{account.id}", headers=headers).status_code == 200
    assert api.get("/no/such/page").status_code == 404
    after = scrape(api)

    assert moved(before, after, "terrain_sync_pulls_total") == 1
    assert moved(before, after, "terrain_sync_pull_rows_total") == records
    assert moved(before, after, "terrain_sync_pushes_total") == 2
    for result in ("applied", "rejected", "conflict"):
        assert moved(before, after, "terrain_sync_mutations_total", result=result) == 1, result
    assert moved(before, after, "terrain_sync_conflict_fields_total") == 1
    requests = "terrain_http_requests_total"
    assert moved(before, after, requests, method="GET", route="/api/v1/sync/pull", status="200") == 1
    assert moved(before, after, requests, method="POST", route="/api/v1/sync/push", status="200") == 2
    assert moved(before, after, requests, method="POST", route="/api/v1/auth/token", status="200") == 2
    assert moved(before, after, requests, method="GET", route="/api/v1/accounts/{account_id}", status="200") == 1
    assert moved(before, after, requests, method="GET", route="unmatched", status="404") == 1
    assert moved(before, after, requests, method="GET", route="/metrics", status="200") == 1  # the first scrape

    # Route labels are templates: no raw path (an id, a page nobody has) ever becomes a label.
    routes = {dict(labels).get("route") for _name, labels in after} - {None}
    assert routes and all(route == "unmatched" or route.startswith("/") for route in routes)
    assert not any(account.id in str(route) or "/no/such" in str(route) for route in routes)
    assert {"/api/v1/sync/pull", "/api/v1/accounts/{account_id}", "unmatched"} <= routes

    # The latency histogram: buckets from 5 ms to 5 s, cumulative, counting the pull.
    histogram = "terrain_http_request_duration_seconds"
    pull = {"route": "/api/v1/sync/pull"}
    bounds = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "+Inf"]
    counts = [value(after, f"{histogram}_bucket", le=le, **pull) for le in bounds]
    assert counts == sorted(counts) and counts[-1] == value(after, f"{histogram}_count", **pull) >= 1
    assert moved(before, after, f"{histogram}_count", **pull) == 1
    assert moved(before, after, f"{histogram}_sum", **pull) > 0


@SQLITE
def test_metrics_stay_out_of_the_api_document_and_take_a_token(
    server_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app(engine=server_engine, settings=settings_for(tmp_path))) as open_api:
        assert "/metrics" not in open_api.get("/openapi.json").json()["paths"]
        assert open_api.get("/metrics").status_code == 200  # open by default, like /healthz
    monkeypatch.setenv("TERRAIN_METRICS_TOKEN", "scrape-me-" + "x" * 20)
    with TestClient(create_app(engine=server_engine, settings=settings_for(tmp_path))) as guarded:
        for refused in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic scrape-me-" + "x" * 20}):
            answer = guarded.get("/metrics", headers=refused)
            assert answer.status_code == 401, refused
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "TERRAIN_METRICS_TOKEN" in answer.json()["detail"]
        assert "terrain_http_requests_total" in str(scrape(guarded, Authorization="Bearer scrape-me-" + "x" * 20))
        assert guarded.get("/healthz").status_code == 200  # the token guards /metrics alone


@SQLITE
def test_a_request_id_is_echoed_when_sane_and_made_otherwise(server_engine: Engine, tmp_path: Path) -> None:
    with TestClient(create_app(engine=server_engine, settings=settings_for(tmp_path))) as api:
        sane = "lb-7f3a.2026_11-18"
        assert api.get("/healthz", headers={"X-Request-ID": sane}).headers["x-request-id"] == sane
        assert api.get("/nowhere", headers={"X-Request-ID": "a" * 64}).headers["x-request-id"] == "a" * 64
        made = [
            api.get("/healthz", headers=headers).headers["x-request-id"]
            for headers in ({}, {}, {"X-Request-ID": "a" * 65}, {"X-Request-ID": "two words"}, {"X-Request-ID": ""})
        ]
        assert all(HEX_ID.fullmatch(rid) for rid in made) and len(set(made)) == len(made)
        # Every answer has one: an error, a refused sign-in, a 404 alike.
        assert HEX_ID.fullmatch(api.get("/api/v1/accounts").headers["x-request-id"])  # 401


@SQLITE
def test_each_request_is_logged_as_one_json_line(
    api: TestClient, demo_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    device_id, headers = _device(api)
    caplog.set_level(logging.INFO, logger="terrain.access")
    account = _alices_account(demo_engine)
    answer = api.get(f"/api/v1/accounts/{account.id}", headers={**headers, "X-Request-ID": "trace-42"})
    assert answer.status_code == 200
    [record] = [r for r in caplog.records if r.name == "terrain.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "request" and line["level"] == "INFO" and line["logger"] == "terrain.access"
    assert line["request_id"] == "trace-42" and line["status"] == answer.status_code
    assert line["method"] == "GET" and line["route"] == "/api/v1/accounts/{account_id}"
    assert line["path"] == f"/api/v1/accounts/{account.id}"
    assert line["device_id"] == device_id and line["client"] == "testclient"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"]) and line["pid"] == os.getpid()
    text = TextFormatter().format(record)
    assert " INFO terrain.access: request " in text and "route=/api/v1/accounts/{account_id}" in text
    caplog.clear()
    api.get("/healthz")  # no one signed in: no device
    [anonymous] = [r for r in caplog.records if r.name == "terrain.access"]
    assert "device_id" not in json.loads(JsonFormatter().format(anonymous))


@SQLITE
def test_an_error_is_answered_and_logged_with_its_request_id(server_engine: Engine, tmp_path: Path) -> None:
    app = create_app(engine=server_engine, settings=settings_for(tmp_path))

    def fail() -> None:
        raise RuntimeError("the disk is on fire")

    app.add_api_route("/fail", fail, include_in_schema=False)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    watched = [logging.getLogger(name) for name in ("uvicorn.error", "terrain.access")]
    for logger in watched:
        logger.addHandler(handler)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            _wait_until_up(client)
            answer = client.get("/fail", headers={"X-Request-ID": "fire-1"})
    finally:
        server.should_exit = True
        thread.join(10)
        for logger in watched:
            logger.removeHandler(handler)
    assert answer.status_code == 500 and answer.headers["x-request-id"] == "fire-1"
    assert "fire-1" in answer.json()["detail"]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [error] = [line for line in lines if "exc_info" in line]
    assert error["request_id"] == "fire-1" and error["level"] == "ERROR" and error["logger"] == "uvicorn.error"
    assert "RuntimeError: the disk is on fire" in error["exc_info"] and "Traceback" in error["exc_info"]
    [request] = [line for line in lines if line.get("message") == "request"]
    assert (request["request_id"], request["status"], request["level"], request["route"]) == (
        "fire-1",
        500,
        "ERROR",
        "/fail",
    )


def _wait_until_up(client: httpx.Client, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process is None or process.poll() is None, "the server stopped"
        assert time.monotonic() < deadline, "the server did not answer"
        time.sleep(0.2)


class Served:
    """`terrain-server serve` run as a process on a free port with a SQLite file; its stdout and
    stderr kept in a file."""

    def __init__(self, tmp_path: Path, *arguments: str, **environment: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"serve-{self.port}.log"
        self.tmp = tmp_path / f"tmp-{self.port}"  # its TMPDIR: where a metrics directory is made
        self.tmp.mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if k not in (MULTIPROC_ENV, "TERRAIN_LOG_FORMAT")},
            "TERRAIN_SERVER_DATA_DIR": str(tmp_path / "srv"),
            "TERRAIN_SECRET_KEY": settings_for(tmp_path).secret_key,
            "TMPDIR": str(self.tmp),
            **environment,
        }
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port), *arguments],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def stop(self) -> bool:
        """Stops it as a service manager would (SIGTERM); whether it stopped cleanly (uvicorn
        shuts down, then dies of the signal it caught)."""
        self.process.terminate()
        return self.process.wait(20) in (0, -signal.SIGTERM)

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines() if line.startswith("{")]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """`serve(*arguments, **environment)`: a `terrain-server serve` process, killed afterwards."""
    started: list[Served] = []

    def start(*arguments: str, **environment: str) -> Served:
        started.append(Served(tmp_path, *arguments, **environment))
        return started[-1]

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(10)


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_pooled_connection_is_lent_without_a_round_trip_unless_closed_or_long_idle(
    server_engine: Engine, pg_admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ping before each request; a connection the database closed while it sat in the pool
    is replaced before a request meets it; one idle long is pinged."""
    whoami = sa.text("SELECT pg_backend_pid()")
    # One connection at a time: the pool lends back the one just returned.
    with psycopg.connect(pg_admin, autocommit=True) as admin:

        def last_statement(pid: int) -> str:
            row = admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
            assert row is not None
            return str(row[0])

        with server_engine.connect() as conn:
            first = conn.execute(whoami).scalar_one()
        returned = last_statement(first)  # the end of its transaction as it went back
        with server_engine.connect() as conn:  # lent again at once: as it was, nothing sent
            assert last_statement(first) == returned
            assert conn.execute(whoami).scalar_one() == first

        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        wait_for(lambda: admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (first,)).fetchone() is None)
        with server_engine.connect() as conn:  # the request gets a live connection, not an error
            second = conn.execute(whoami).scalar_one()
        assert second != first

        returned = last_statement(second)
        monkeypatch.setattr(server.db, "IDLE_PING_SECONDS", 0.0)
        with server_engine.connect() as conn:  # idle "long": pinged, and kept since it answers
            assert last_statement(second) != returned
            assert conn.execute(whoami).scalar_one() == second


def _tcp_options(url: str) -> dict[str, int]:
    """What libpq set on a real connection's socket: the TCP_SETTINGS' names and values."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            fd = conn.connection.driver_connection.fileno()  # type: ignore[union-attr]
            with socket.socket(fileno=os.dup(fd)) as sock:  # a duplicate: libpq's stays open
                tcp = socket.IPPROTO_TCP
                return {
                    "keepalives": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                    "keepalives_idle": sock.getsockopt(tcp, socket.TCP_KEEPIDLE),
                    "keepalives_interval": sock.getsockopt(tcp, socket.TCP_KEEPINTVL),
                    "keepalives_count": sock.getsockopt(tcp, socket.TCP_KEEPCNT),
                    "tcp_user_timeout": sock.getsockopt(tcp, socket.TCP_USER_TIMEOUT),
                }
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_database_connections_have_keepalives_and_a_user_timeout_unless_the_url_sets_them(
    database_url: str,
) -> None:
    """On the socket itself: keepalives after 30 s idle, and a request to a silent peer given up
    after 30 s (the kernel's defaults: 2 hours idle before a probe, about 15 minutes of
    retransmissions). A vanished peer itself is not staged: that needs packet filtering."""
    assert "127.0.0.1" in database_url  # TCP: libpq sets none of this on a Unix socket
    assert _tcp_options(database_url) == TCP_SETTINGS
    separator = "&" if "?" in database_url else "?"
    chosen = _tcp_options(f"{database_url}{separator}keepalives_idle=7&tcp_user_timeout=5000")
    assert chosen == {**TCP_SETTINGS, "keepalives_idle": 7, "tcp_user_timeout": 5000}


def test_serve_logs_json_lines(serve: Callable[..., Served]) -> None:
    served = serve()
    with httpx.Client(base_url=served.url, timeout=10) as client:
        _wait_until_up(client, served.process)
        assert client.get("/healthz", headers={"X-Request-ID": "probe-1"}).headers["x-request-id"] == "probe-1"
        assert client.get("/nowhere").status_code == 404
    assert served.stop()
    lines = served.lines()
    entries = served.entries()
    # Everything after the migration's own prints is JSON: uvicorn's start and stop too.
    first = next(n for n, line in enumerate(lines) if line.startswith("{"))
    assert all(line.startswith("{") for line in lines[first:]), lines
    assert any(e["logger"] == "uvicorn.error" and "Application startup complete" in e["message"] for e in entries)
    [probe] = [e for e in entries if e.get("request_id") == "probe-1"]
    assert probe["message"] == "request" and probe["logger"] == "terrain.access"
    assert (probe["status"], probe["route"], probe["path"], probe["client"]) == (
        200,
        "/healthz",
        "/healthz",
        "127.0.0.1",
    )
    assert probe["duration_ms"] >= 0 and probe["time"].endswith("Z")
    assert any(e.get("route") == "unmatched" and e.get("status") == 404 for e in entries)
    assert not any("uvicorn.access" == e["logger"] for e in entries)  # ours replaces uvicorn's access log


def test_serve_logs_text_when_asked(serve: Callable[..., Served]) -> None:
    served = serve("--log-level", "warning", TERRAIN_LOG_FORMAT="text")
    with httpx.Client(base_url=served.url, timeout=10) as client:
        _wait_until_up(client, served.process)
    assert served.stop()
    assert not any(line.startswith("{") for line in served.lines())
    assert not any("terrain.access" in line for line in served.lines())  # --log-level warning: no request lines


def _workers_of(process: subprocess.Popen[str]) -> set[int]:
    """The worker processes a `serve --workers N` process started (multiprocessing's spawn)."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if int(stat[1]) == process.pid and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


@pytest.mark.skipif(not spreads_connections(), reason="a socket per worker on Linux only")
def test_each_worker_listens_on_its_own_socket_and_one_that_dies_is_replaced(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    """Every worker up can be seen listening; a worker killed is started again; a second
    server on the same port is refused instead of silently sharing it; workers do not outlive
    their supervisor."""
    served = serve("--workers", "2")
    with httpx.Client(base_url=served.url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        _wait_until_up(client, served.process)
        wait_for(lambda: listening(served.port) >= 2, "the second worker never listened")
        workers = _workers_of(served.process)
        assert len(workers) == 2
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: len(_workers_of(served.process) - {victim}) == 2 and listening(served.port) == 2,
            "the killed worker was not replaced",
        )
        assert all(client.get("/healthz").status_code == 200 for _ in range(20))
        second = subprocess.run(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(served.port), "--workers", "2"],
            env={**os.environ, "TERRAIN_SERVER_DATA_DIR": str(tmp_path / "second")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1
        assert f"cannot listen on 127.0.0.1:{served.port}" in second.stdout + second.stderr
        assert listening(served.port) == 2  # the first one's, still serving
        assert client.get("/healthz").status_code == 200
        workers = _workers_of(served.process)
    assert served.stop()
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)  # stopped with it

    # The supervisor killed outright: its workers stop by themselves, the port is free again.
    orphaned = serve("--workers", "2")
    with httpx.Client(base_url=orphaned.url, timeout=10) as client:
        _wait_until_up(client, orphaned.process)
    wait_for(lambda: len(_workers_of(orphaned.process)) >= 2 and listening(orphaned.port) >= 2, "never listened")
    workers = _workers_of(orphaned.process)
    orphaned.process.kill()
    orphaned.process.wait(10)
    wait_for(
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers) and not listening(orphaned.port),
        "workers outlived their supervisor",
        seconds=30,
    )


def test_two_workers_add_up_their_metrics(serve: Callable[..., Served]) -> None:
    served = serve("--workers", "2")

    def healthz_lines() -> list[dict[str, Any]]:
        return [e for e in served.entries() if e.get("route") == "/healthz" and e.get("status") == 200]

    with httpx.Client(base_url=served.url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        _wait_until_up(client, served.process)
        # A new connection per request: the two workers take them as the kernel chooses.
        deadline = time.monotonic() + 60
        while len({e["pid"] for e in healthz_lines()}) < 2:
            assert time.monotonic() < deadline, "one worker answered every request"
            for _ in range(10):
                assert client.get("/healthz").status_code == 200
        [directory] = served.tmp.glob("terrain-metrics-*")
        writers = {int(f.stem.rsplit("_", 1)[1]) for f in directory.glob("*.db")}  # counter_<pid>.db...
        assert {e["pid"] for e in healthz_lines()} <= writers  # each worker's values, in files of its own
        time.sleep(0.3)  # a request's line and counts come right after its answer
        # Whichever worker answers the scrape, it counts both workers' requests.
        answered = len(healthz_lines())
        for _ in range(4):
            samples = scrape(client)
            assert (
                value(samples, "terrain_http_requests_total", method="GET", route="/healthz", status="200") == answered
            )
            assert value(samples, "terrain_http_request_duration_seconds_count", route="/healthz") == answered
        scrapers = {e["pid"] for e in served.entries() if e.get("route") == "/metrics"}
    assert served.stop()
    assert not directory.exists()  # removed when the server stops
    assert scrapers  # (which worker answered each scrape is the kernel's choice)


def test_prepare_multiprocess_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    assert prepare_multiprocess_dir(1) is None and MULTIPROC_ENV not in os.environ
    chosen = tmp_path / "metrics"
    chosen.mkdir()
    (chosen / "counter_123.db").write_bytes(b"stale")
    (chosen / "keep.txt").write_text("not ours")
    monkeypatch.setenv(MULTIPROC_ENV, str(chosen))
    assert prepare_multiprocess_dir(4) == chosen
    assert sorted(p.name for p in chosen.iterdir()) == ["keep.txt"]  # an earlier run's values are gone
    monkeypatch.delenv(MULTIPROC_ENV)
    made = prepare_multiprocess_dir(2)
    assert made is not None and made.is_dir() and os.environ[MULTIPROC_ENV] == str(made)
    made.rmdir()


def test_log_config_is_a_valid_dict_config() -> None:
    import logging.config

    for log_format in ("json", "text"):
        config = log_config(log_format, "debug")
        assert config["handlers"]["stderr"]["formatter"] == log_format
        assert config["loggers"]["uvicorn.access"]["propagate"] is False
        assert config["root"]["level"] == "WARNING"  # libraries' INFO lines stay out
    with pytest.raises(ValueError, match="json or text"):
        log_config("xml")
    with pytest.raises(ValueError, match="TERRAIN_LOG_LEVEL"):
        log_config("json", "chatty")
    # What dictConfig would build from it (without touching this process's logging).
    configurator = logging.config.DictConfigurator(log_config())
    assert isinstance(configurator.configure_custom(dict(log_config()["formatters"]["json"])), JsonFormatter)
