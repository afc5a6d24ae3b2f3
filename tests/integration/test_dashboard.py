"""The dashboard's figures on the device: the rep's targets come from the server at sign-in and
follow it when it changes them, at the next token refresh."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.replica import open_replica
from app.services import Device
from server.db import ServerSession
from server.models import User
from sync.engine import SyncEngine

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_a_target_changed_on_the_server_reaches_the_dashboard_at_the_next_refresh(
    api: TestClient, tmp_path: Path
) -> None:
    engine = SyncEngine(replica=open_replica(tmp_path / "alice"), http=api)
    engine.sign_in(username="alice", password="demo")
    engine.sync()
    device = Device(tmp_path / "alice", engine.replica, engine)
    january = (date(2026, 1, 1), date(2026, 1, 31))
    before = device.figures(*january)
    assert (before["revenue_target_amount"], before["order_target"]) == (200_000_00, 48)
    with ServerSession(api.app.state.engine) as session:  # type: ignore[attr-defined]
        alice = session.exec(select(User).where(User.username == "alice")).one()
        alice.monthly_revenue_target_amount = 250_000_00
        session.add(alice)
        session.commit()
    engine._access_token = None  # the access token ran out: the next sync refreshes it
    engine.sync()
    after = device.figures(*january)
    assert (after["revenue_target_amount"], after["order_target"]) == (250_000_00, 48)
    assert after["revenue_vs_target"] == after["revenue_net_amount"] / 250_000_00
