"""Fixtures of the integration tier: a device of alice's, synced with the demo company."""

from __future__ import annotations

from pathlib import Path

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
