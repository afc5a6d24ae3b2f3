"""Shared fixtures: real databases (SQLite files, this machine's PostgreSQL), the real API over
HTTP (in-process or uvicorn on 127.0.0.1), and devices with real replica files.

A test that needs PostgreSQL or a browser that is not there is skipped with the reason; with
CI=true it fails instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from server.db import ServerSession, make_engine
from server.demo import load_demo_data
from server.main import create_app
from server.migrate import upgrade
from server.settings import ServerSettings
from tests.faults import FaultyProxy

PG_ADMIN = os.environ.get("TERRAIN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
#: The demo company is centred on this day in tests, so that figures are stable.
DEMO_DAY = date(2026, 11, 18)


def unavailable(reason: str) -> None:
    """Skip for a missing service; in CI, fail: CI must run every test."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def wait_for(condition: Callable[[], object], message: str = "timed out", seconds: float = 60) -> None:
    """Poll `condition` until it holds; fail with `message` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def pg_admin() -> str:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL is not reachable at {PG_ADMIN}: {exc}")
    return PG_ADMIN


def _create_pg_database(admin: str, template: str | None = None) -> tuple[str, str]:
    name = f"terrain_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name, admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"


def _drop_pg_database(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database(pg_admin: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    name, url = _create_pg_database(pg_admin)
    try:
        yield url
    finally:
        _drop_pg_database(pg_admin, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on a SQLite file and once on PostgreSQL."""
    if request.param == "postgres":
        request.getfixturevalue("pg_admin")
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'server.db'}"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
def server_engine(database_url: str) -> Iterator[Engine]:
    """An empty, migrated server database."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _load_demo(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with ServerSession(engine) as session:
        load_demo_data(session=session, seed=42, today=DEMO_DAY)
    engine.dispose()


@pytest.fixture(scope="session")
def _demo_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The demo company loaded once per backend; each test gets its own copy."""
    templates: dict[str, str] = {}
    yield templates
    if "postgres" in templates:
        _drop_pg_database(PG_ADMIN, templates["postgres"])


@pytest.fixture
def demo_engine(
    backend: str,
    _demo_templates: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> Iterator[Engine]:
    """A server database holding the demo company (centred on DEMO_DAY), for this test alone."""
    if backend == "sqlite":
        if "sqlite" not in _demo_templates:
            template = tmp_path_factory.mktemp("demo") / "demo.db"
            _load_demo(f"sqlite:///{template}")
            _demo_templates["sqlite"] = str(template)
        target = tmp_path / "server.db"
        shutil.copyfile(_demo_templates["sqlite"], target)
        engine = make_engine(f"sqlite:///{target}")
        yield engine
        engine.dispose()
        return
    admin = str(request.getfixturevalue("pg_admin"))
    if "postgres" not in _demo_templates:
        name, url = _create_pg_database(admin)
        _demo_templates["postgres"] = name
        _load_demo(url)
    name, url = _create_pg_database(admin, template=_demo_templates["postgres"])
    engine = make_engine(url)
    yield engine
    engine.dispose()
    _drop_pg_database(admin, name)


def settings_for(tmp_path: Path) -> ServerSettings:
    return ServerSettings(server_data_dir=tmp_path / "server-data", secret_key="test-secret-key-" + "x" * 32)


@pytest.fixture
def api(demo_engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    """The real API, in-process, over the demo company."""
    with TestClient(create_app(engine=demo_engine, settings=settings_for(tmp_path))) as client:
        yield client


@dataclass
class LiveServer:
    url: str
    engine: Engine
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_live_server(
    engine: Engine, tmp_path: Path, port: int | None = None, settings: ServerSettings | None = None
) -> LiveServer:
    port = port or free_port()
    app = create_app(engine=engine, settings=settings or settings_for(tmp_path))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return LiveServer(url, engine, server, thread)
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("uvicorn did not start")


@pytest.fixture
def live_server(demo_engine: Engine, tmp_path: Path) -> Iterator[LiveServer]:
    """The real API served by uvicorn on 127.0.0.1, over the demo company."""
    server = start_live_server(demo_engine, tmp_path)
    yield server
    server.stop()


class ProxiedApi(httpx.Client):
    """The real API served by uvicorn, reached through a real TCP proxy that can cut any
    connection at any byte (`proxy.cut_next`). Like the in-process client, `.app` is the app."""

    def __init__(self, server: LiveServer, proxy: FaultyProxy) -> None:
        # No keep-alive: every request opens its own connection, so each one meets its own fault.
        super().__init__(base_url=proxy.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
        self.app = server.server.config.app
        self.proxy = proxy


@pytest.fixture
def proxied_api(live_server: LiveServer) -> Iterator[ProxiedApi]:
    proxy = FaultyProxy(upstream_port=int(live_server.url.rsplit(":", 1)[1])).start()
    with ProxiedApi(live_server, proxy) as client:
        yield client
    proxy.stop()


def sign_in(
    client: httpx.Client, username: str, password: str = "demo", device_id: str | None = None
) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "password",
            "username": username,
            "password": password,
            "device_id": device_id or str(uuid.uuid4()),
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
