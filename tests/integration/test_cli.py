"""The `terrain` and `terrain-server` commands, run as a person would, against uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from sqlmodel import Session, select

from app.models import Account, Contact, Invoice, Order
from server.migrate import head_revision
from server.models import User
from tests.conftest import LiveServer, free_port, settings_for


def terrain(
    *args: str, data_dir: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--data-dir", str(data_dir), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def terrain_server(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **env},
    )


def _first_account(live_server: LiveServer, username: str) -> Account:
    with Session(live_server.engine) as session:
        owner = session.exec(select(User.id).where(User.username == username)).one()
        account = session.exec(
            select(Account).where(Account.owner_id == owner, Account.lifecycle_stage == "client").order_by(Account.name)
        ).first()
    assert account is not None
    return account


def test_sync_then_card_shows_alices_customer_and_never_bruno_s(live_server: LiveServer, tmp_path: Path) -> None:
    device = tmp_path / "device"
    synced = terrain(
        "sync", "--server", live_server.url, "--user", "alice", "--password-stdin", data_dir=device, stdin="demo\n"
    )
    assert synced.returncode == 0, synced.stderr
    assert "synced:" in synced.stdout

    account = _first_account(live_server, "alice")
    with Session(live_server.engine) as session:
        contacts = {c.id for c in session.exec(select(Contact).where(Contact.account_id == account.id))}
        orders = session.exec(select(Order).where(Order.account_id == account.id)).all()
        open_invoices = {
            i.id
            for i in session.exec(select(Invoice).where(Invoice.account_id == account.id, Invoice.status == "open"))
        }
    card = terrain("card", account.name, "--json", data_dir=device)
    assert card.returncode == 0, card.stderr
    data = json.loads(card.stdout)
    assert data["account"]["id"] == account.id
    assert {c["id"] for c in data["contacts"]} == contacts
    assert data["order_count"] == len(orders)
    assert {o["id"]: o["gross_amount"] for o in data["orders"]} == {o.id: o.gross_amount for o in orders}
    assert {i["id"] for i in data["open_invoices"]} == open_invoices

    by_id = terrain("card", account.id, "--json", data_dir=device)
    assert json.loads(by_id.stdout)["account"]["name"] == account.name
    bruno_account = _first_account(live_server, "bruno")
    refused = terrain("card", bruno_account.id, "--json", data_dir=device)
    assert refused.returncode == 1 and "no account matches" in refused.stderr and refused.stdout == ""

    status = json.loads(terrain("status", "--json", data_dir=device).stdout)
    assert status["user"] == "alice" and status["records"]["account"] == 110 and status["last_error"] is None

    # The server goes away: the card still answers from the replica, and sync says why it failed.
    live_server.stop()
    offline = terrain("card", account.name, "--json", data_dir=device)
    assert offline.returncode == 0 and json.loads(offline.stdout) == data
    failed = terrain("sync", "--user", "alice", "--password-stdin", data_dir=device, stdin="demo\n")
    assert failed.returncode == 1 and "cannot reach the server" in failed.stderr
    assert json.loads(terrain("card", account.name, "--json", data_dir=device).stdout) == data


def test_a_wrong_password_or_an_unreachable_server_gives_a_clear_error(live_server: LiveServer, tmp_path: Path) -> None:
    device = tmp_path / "device"
    wrong = terrain(
        "sync", "--server", live_server.url, "--user", "alice", "--password-stdin", data_dir=device, stdin="nope\n"
    )
    assert wrong.returncode == 1 and "wrong user name or password" in wrong.stderr
    dead = f"http://127.0.0.1:{free_port()}"
    unreachable = terrain(
        "sync", "--server", dead, "--user", "alice", "--password-stdin", data_dir=device, stdin="demo\n"
    )
    assert unreachable.returncode == 1 and f"cannot reach the server at {dead}" in unreachable.stderr
    assert json.loads(terrain("status", "--json", data_dir=device).stdout)["records"]["account"] == 0


def test_terrain_server_migrates_adds_users_and_serves(tmp_path: Path) -> None:
    env = {"TERRAIN_SERVER_DATA_DIR": str(tmp_path / "srv"), "TERRAIN_SECRET_KEY": settings_for(tmp_path).secret_key}
    migrated = terrain_server("migrate", env=env)
    assert migrated.returncode == 0 and f"revision {head_revision()}" in migrated.stdout
    added = terrain_server(
        "user", "add", "ines", "--role", "admin", "--password-stdin", env=env, stdin="correct horse battery\n"
    )
    assert added.returncode == 0, added.stderr
    again = terrain_server("user", "add", "ines", "--password-stdin", env=env, stdin="correct horse battery\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    short = terrain_server("user", "add", "jo", "--password-stdin", env=env, stdin="short\n")
    assert short.returncode == 2 and "12 characters" in short.stderr
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **env},
    )
    try:
        import time

        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json() == {"status": "ok"}
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "terrain-server serve did not answer"
                time.sleep(0.2)
        token = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            data={
                "grant_type": "password",
                "username": "ines",
                "password": "correct horse battery",
                "device_id": "cli-test-device",
            },
        )
        assert token.status_code == 200 and token.json()["user"]["role"] == "admin"
    finally:
        server.terminate()
        server.wait(10)


def test_the_devices_figures_equal_the_servers_for_the_same_book(live_server: LiveServer, tmp_path: Path) -> None:
    from datetime import date

    import httpx

    from app.figures import period_target
    from tests.conftest import sign_in

    device = tmp_path / "device"
    synced = terrain(
        "sync", "--server", live_server.url, "--user", "alice", "--password-stdin", data_dir=device, stdin="demo\n"
    )
    assert synced.returncode == 0, synced.stderr
    period = {"from": "2025-11-19", "to": "2026-11-18"}
    on_device = terrain("figures", "--from", period["from"], "--to", period["to"], "--json", data_dir=device)
    assert on_device.returncode == 0, on_device.stderr
    mine = json.loads(on_device.stdout)
    with httpx.Client(base_url=live_server.url) as client:
        alice = client.get("/api/v1/figures", params=period, headers=sign_in(client, "alice"))
        team = client.get("/api/v1/figures", params=period, headers=sign_in(client, "manon"))
        backwards = client.get(
            "/api/v1/figures", params={"from": period["to"], "to": period["from"]}, headers=sign_in(client, "alice")
        )
        anonymous = client.get("/api/v1/figures", params=period)
    assert alice.status_code == 200 and alice.json() == mine
    # The demo book has a year of everything: each figure is a number, not "no data".
    assert all(mine[name] is not None for name in ("churn_rate", "close_rate", "nps", "first_contact_resolution"))
    assert mine["orders"] > 0 and mine["active_at_end"] > 0 and sum(mine["rfm_segments"].values()) > 0
    # Revenue and orders against alice's monthly targets (200 000 EUR, 48 orders): the period
    # is 12 days of November 2025 (of 30), 11 whole months and 18 days of November 2026 (of 30),
    # twelve months' worth.
    assert mine["revenue_target_amount"] == 12 * 200_000_00
    assert mine["order_target"] == 12 * 48
    assert mine["revenue_vs_target"] == mine["revenue_net_amount"] / mine["revenue_target_amount"]
    assert [m["month"] for m in mine["revenue_by_month"]][:2] == ["2025-11", "2025-12"]
    assert len(mine["revenue_by_month"]) == 13
    assert sum(m["net_amount"] for m in mine["revenue_by_month"]) == mine["revenue_net_amount"]
    assert sum(m["orders"] for m in mine["revenue_by_month"]) == mine["orders"]
    # The manager's book is the team's: alice's accounts and more; the target is the three reps'.
    assert team.status_code == 200 and team.json()["orders"] > mine["orders"]
    team_monthly = 200_000_00 + 220_000_00 + 210_000_00
    assert team.json()["revenue_target_amount"] == period_target(team_monthly, date(2025, 11, 19), date(2026, 11, 18))
    assert backwards.status_code == 422 and "ends before it starts" in backwards.text
    assert anonymous.status_code == 401

    # The manager's device holds the team's book: its dashboard gives the server's team figures.
    manager_device = tmp_path / "manager"
    synced = terrain(
        "sync",
        "--server",
        live_server.url,
        "--user",
        "manon",
        "--password-stdin",
        data_dir=manager_device,
        stdin="demo\n",
    )
    assert synced.returncode == 0, synced.stderr
    on_tablet = terrain("figures", "--from", period["from"], "--to", period["to"], "--json", data_dir=manager_device)
    assert json.loads(on_tablet.stdout) == team.json()

    # The card's RFM ranks the account among the rep's book: the same from the server's orders.
    from datetime import UTC, date

    from app.figures import OrderFact, rfm

    account = _first_account(live_server, "alice")
    card = json.loads(terrain("card", account.id, "--json", "--as-of", "2026-11-18", data_dir=device).stdout)
    with Session(live_server.engine) as session:
        alice_id = session.exec(select(User.id).where(User.username == "alice")).one()
        facts = [
            OrderFact(o.account_id, o.ordered_at.astimezone(UTC).date(), o.net_amount)
            for o in session.exec(
                select(Order).join(Account).where(Account.owner_id == alice_id, Order.status != "cancelled")
            )
        ]
    expected = rfm(facts, date(2026, 11, 18))[account.id]
    assert card["rfm"] == {
        "recency_days": expected.recency_days,
        "frequency": expected.frequency,
        "monetary": expected.monetary,
        "r": expected.r,
        "f": expected.f,
        "m": expected.m,
        "segment": expected.segment,
        "as_of": "2026-11-18",
    }


def test_targets_are_set_one_at_a_time_and_a_managers_are_the_teams(tmp_path: Path) -> None:
    from server.db import ServerSession, make_engine
    from server.scope import scope_targets

    env = {"TERRAIN_SERVER_DATA_DIR": str(tmp_path / "srv"), "TERRAIN_SECRET_KEY": settings_for(tmp_path).secret_key}
    for name, role, extra in (
        ("maud", "manager", []),
        ("rene", "rep", ["--manager", "maud", "--revenue-target", "1500000", "--order-target", "40"]),
        ("rita", "rep", ["--manager", "maud", "--revenue-target", "2500000"]),
        ("remi", "rep", ["--manager", "maud", "--revenue-target", "900000", "--currency", "chf"]),
    ):
        added = terrain_server(
            "user", "add", name, "--role", role, *extra, "--password-stdin", env=env, stdin="correct horse battery\n"
        )
        assert added.returncode == 0, added.stderr
    changed = terrain_server("user", "target", "rene", "--order-target", "45", env=env)
    assert changed.returncode == 0, changed.stderr
    assert "revenue 1500000 (EUR, minor units), orders 45" in changed.stdout  # the revenue target stays
    refused = terrain_server("user", "target", "rene", "--currency", "EUX", env=env)
    assert refused.returncode == 2 and "not an ISO 4217 currency code" in refused.stderr
    unknown = terrain_server("user", "target", "nobody", "--order-target", "1", env=env)
    assert unknown.returncode == 1 and "no user named 'nobody'" in unknown.stderr

    engine = make_engine(f"sqlite:///{tmp_path / 'srv' / 'terrain-server.db'}")
    try:
        with ServerSession(engine) as session:
            users = {u.username: u for u in session.exec(select(User))}
            # The team's: two reps in EUR summed, the CHF one left out of the revenue sum.
            team = scope_targets(session, users["maud"])
            assert (team.revenue_amount, team.orders, team.currency) == (4_000_000, 45, "EUR")
            assert scope_targets(session, users["remi"]).currency == "CHF"
    finally:
        engine.dispose()
    # A manager's own target is the team's quota: it replaces the sum.
    assert terrain_server("user", "target", "maud", "--revenue-target", "5000000", env=env).returncode == 0
    cleared = terrain_server("user", "target", "rene", "--clear", env=env)
    assert "revenue none (EUR, minor units), orders none" in cleared.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'srv' / 'terrain-server.db'}")
    try:
        with ServerSession(engine) as session:
            maud = session.exec(select(User).where(User.username == "maud")).one()
            assert (scope_targets(session, maud).revenue_amount, scope_targets(session, maud).orders) == (
                5_000_000,
                None,
            )
    finally:
        engine.dispose()
