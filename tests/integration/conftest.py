"""Fixtures of the integration tier: a device of alice's, synced with the demo company; devices
signed in to a live server; pushes made by hand, as a device that skipped its own checks would
send them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.replica import open_replica
from sync.engine import SyncEngine
from tests.conftest import LiveServer


@pytest.fixture
def alice(api: TestClient, tmp_path: Path) -> Iterator[SyncEngine]:
    """alice's device (a real replica file), signed in and synced over the in-process API."""
    device = SyncEngine(replica=open_replica(tmp_path / "alice"), http=api)
    device.sign_in(username="alice", password="demo")
    device.sync()
    yield device
    device.replica.dispose()  # its connections hold the replica's lock file open


@pytest.fixture
def live_devices(live_server: LiveServer, tmp_path: Path) -> Iterator[Callable[..., SyncEngine]]:
    """`live_devices(username, name=username)`: a device (its replica named `name`) signed in to
    the live server over a connection of its own, and synced; closed after the test."""
    made: list[SyncEngine] = []

    def device(username: str, name: str | None = None) -> SyncEngine:
        engine = SyncEngine(
            replica=open_replica(tmp_path / (name or username)),
            http=httpx.Client(base_url=live_server.url, timeout=120),
        )
        made.append(engine)
        engine.sign_in(username=username, password="demo")
        engine.sync()
        return engine

    yield device
    for engine in made:
        engine.http.close()
        engine.replica.dispose()


def push_mutations(api: TestClient, device: SyncEngine, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
    """Push these mutations with the device's token, bypassing its own checks; the results."""
    body = {"client_id": device.state()["device_id"], "schema_version": 1, "mutations": list(mutations)}
    headers = {"Authorization": f"Bearer {device._access_token}"}
    response = api.post("/api/v1/sync/push", json=body, headers=headers)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def push_updates(
    api: TestClient,
    device: SyncEngine,
    entity: str,
    record_id: str,
    version: int,
    first_mid: int,
    *edits: dict[str, Any],
) -> list[dict[str, Any]]:
    """Push edits of one record with the device's token, bypassing its own checks; the results."""
    return push_mutations(
        api,
        device,
        *(
            {
                "mid": first_mid + n,
                "entity": entity,
                "id": record_id,
                "op": "update",
                "base_version": version,
                "fields": f,
            }
            for n, f in enumerate(edits)
        ),
    )
