"""The device as the app and the CLI see it: its replica, its sync engine, its status."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from app.card import AccountSummary, CustomerCard, customer_card, search_accounts, search_products
from app.credentials import best_token_store
from app.dashboard import Targets, book_figures, book_rfm
from app.edits import dismiss_rejected, edit_account, pending_changes, resend_rejected, resolve_conflict
from app.figures import Rfm
from app.replica import open_replica
from sync.engine import SyncEngine, TokenStore
from sync.state import OutboxEntry, SyncState

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


@dataclass(frozen=True, slots=True)
class ProductLine:
    """A product as a search result shows it: price and availability as last synced."""

    id: str
    name: str
    sku: str
    category: str
    list_price_amount: int
    currency: str
    in_stock: bool


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)


def _orders_version(session: Session) -> tuple[Any, ...]:
    """Changes whenever orders may have changed here: each pull moves the cursor, each order
    taken on the device adds to the outbox. Two indexed lookups, whatever the book's size."""
    conn = session.connection()
    cursor = conn.execute(sa.select(col(SyncState.value)).where(col(SyncState.key) == "cursor")).scalar()
    last_mid = conn.execute(sa.select(sa.func.max(col(OutboxEntry.mid)))).scalar()
    return (cursor, last_mid)


@dataclass
class Device:
    data_dir: Path
    replica: Engine
    engine: SyncEngine
    _rfm_cache: tuple[tuple[date, tuple[Any, ...]], dict[str, Rfm]] | None = field(default=None, repr=False)

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

    def search_products(self, query: str, limit: int = 5) -> list[ProductLine]:
        with Session(self.replica) as session:
            return [
                ProductLine(p.id, p.name, p.sku, p.category, p.list_price_amount, p.currency, p.in_stock)
                for p in search_products(session=session, query=query, limit=limit)
            ]

    def card(self, account_id: str, today: date) -> CustomerCard | None:
        with Session(self.replica) as session:
            return customer_card(
                session=session, account_id=account_id, today=today, book_rfm=self.book_rfm(session, today)
            )

    def book_rfm(self, session: Session, day: date) -> dict[str, Rfm]:
        """The book's RFM scores as of `day`, computed once until the orders here change."""
        key = (day, _orders_version(session))
        if self._rfm_cache is None or self._rfm_cache[0] != key:
            self._rfm_cache = (key, book_rfm(session=session, day=day))
        return self._rfm_cache[1]

    def role(self) -> str | None:
        """The signed-in user's role: rep, manager or admin (a manager's book is the team's)."""
        return self.engine.state().get("role")

    def figures(self, start: date, end: date) -> dict[str, Any]:
        """The figures of the book on this device over [start, end] (a rep's accounts, a
        manager's team's) against the targets the server gave at sign-in, and the revenue by month."""
        state = self.engine.state()
        targets = Targets(
            _int(state.get("monthly_revenue_target_amount")),
            _int(state.get("monthly_order_target")),
            state.get("target_currency") or "EUR",
        )
        with Session(self.replica) as session:
            return book_figures(session=session, start=start, end=end, targets=targets)

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
    # What start-up made (modules, the ORM's mappings, Flet's controls) lives as long as the app:
    # out of the cyclic collector's way, a full collection no longer walks it, which otherwise
    # stalls a keystroke in the search box for 50 ms now and then.
    gc.freeze()
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
