"""Fixtures of the integration tier: a device of alice's, synced with the demo company; pushes
made by hand, as a device that skipped its own checks would send them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.replica import open_replica
from sync.engine import SyncEngine


@pytest.fixture
def alice(api: TestClient, tmp_path: Path) -> SyncEngine:
    """alice's device (a real replica file), signed in and synced over the in-process API."""
    device = SyncEngine(replica=open_replica(tmp_path / "alice"), http=api)
    device.sign_in(username="alice", password="demo")
    device.sync()
    return device


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
    mutations = [
        {"mid": first_mid + n, "entity": entity, "id": record_id, "op": "update", "base_version": version, "fields": f}
        for n, f in enumerate(edits)
    ]
    body = {"client_id": device.state()["device_id"], "schema_version": 1, "mutations": mutations}
    headers = {"Authorization": f"Bearer {device._access_token}"}
    results: list[dict[str, Any]] = api.post("/api/v1/sync/push", json=body, headers=headers).json()["results"]
    return results
