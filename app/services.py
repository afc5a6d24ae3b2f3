"""The device as the app and the CLI see it: its replica, its sync engine, its status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.card import AccountSummary, CustomerCard, customer_card, search_accounts
from app.credentials import best_token_store
from app.edits import dismiss_rejected, edit_account, pending_changes, resend_rejected, resolve_conflict
from app.replica import open_replica
from sync.engine import SyncEngine, TokenStore

__all__ = ["Device", "InvalidServerUrl", "check_server_url", "device_status", "open_device"]

TIMEOUT = httpx.Timeout(20.0, connect=5.0)


class InvalidServerUrl(ValueError):
    pass


def check_server_url(text: str) -> str:
    """A server URL as typed by a person, checked and without its trailing slash."""
    url = text.strip().rstrip("/")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidServerUrl(f"{text!r} is not a server address") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidServerUrl(f"{text!r} is not a server address: write it like https://crm.example.com")
    return url


@dataclass
class Device:
    data_dir: Path
    replica: Engine
    engine: SyncEngine

    def connect(self, server_url: str, transport: httpx.BaseTransport | None = None) -> None:
        """Talk to this server from now on (the sign-in screen may name a new one)."""
        url = check_server_url(server_url)
        old = self.engine.http
        self.engine.http = httpx.Client(base_url=url, timeout=TIMEOUT, transport=transport)
        old.close()

    def close(self) -> None:
        self.engine.http.close()
        self.replica.dispose()

    # What the screens ask of the device, each in its own replica session.
    def search(self, query: str, limit: int = 100) -> list[AccountSummary]:
        with Session(self.replica) as session:
            return search_accounts(session=session, query=query, limit=limit)

    def card(self, account_id: str, today: date) -> CustomerCard | None:
        with Session(self.replica) as session:
            return customer_card(session=session, account_id=account_id, today=today)

    def edit_account(self, account_id: str, changes: dict[str, Any]) -> None:
        with Session(self.replica) as session:
            edit_account(session=session, account_id=account_id, changes=changes)

    def pending(self) -> dict[str, Any]:
        with Session(self.replica) as session:
            return pending_changes(session=session)

    def resolve_conflict(self, conflict_id: int, keep: str) -> None:
        with Session(self.replica) as session:
            resolve_conflict(session=session, conflict_id=conflict_id, keep=keep)

    def dismiss_rejected(self, mid: int) -> None:
        with Session(self.replica) as session:
            dismiss_rejected(session=session, mid=mid)

    def resend_rejected(self, mid: int) -> None:
        with Session(self.replica) as session:
            resend_rejected(session=session, mid=mid)


def open_device(
    data_dir: Path,
    *,
    server_url: str | None = None,
    allow_file_token: bool = False,
    token_store: TokenStore | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Device:
    replica = open_replica(data_dir)
    store = token_store or best_token_store(data_dir, allow_file=allow_file_token)
    engine = SyncEngine(replica=replica, http=httpx.Client(timeout=TIMEOUT), token_store=store)
    device = Device(data_dir, replica, engine)
    url = server_url or engine.state().get("server_url")
    if url:
        device.connect(url, transport)
    return device


def device_status(device: Device) -> dict[str, Any]:
    state = device.engine.state()
    changes = device.pending()
    counts = {}
    with device.replica.connect() as conn:
        for table in ("account", "contact", "order", "invoice", "visit"):
            counts[table] = conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()
    return {
        "server_url": state.get("server_url"),
        "user": state.get("username"),
        "device_id": state.get("device_id"),
        "cursor": state.get("cursor"),
        "last_sync_at": state.get("last_sync_at"),
        "last_error": state.get("last_error"),
        "last_error_at": state.get("last_error_at"),
        "pending_mutations": changes["pending"],
        "rejected_mutations": changes["rejected"],
        "conflicts": changes["conflicts"],
        "records": counts,
    }
