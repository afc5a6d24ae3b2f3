"""The pull's hot path writes wire rows straight into the replica: the ORM must read them back
exactly, whatever form the server wrote times in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from app.models import Order
from app.replica import open_replica
from sync.engine import _WRITERS
from sync.errors import SyncError


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2026-03-29T01:30:05.123456Z", datetime(2026, 3, 29, 1, 30, 5, 123456, tzinfo=UTC)),
        ("2026-03-29T01:30:05Z", datetime(2026, 3, 29, 1, 30, 5, tzinfo=UTC)),
        ("2026-03-29T03:30:05.5+02:00", datetime(2026, 3, 29, 1, 30, 5, 500000, tzinfo=UTC)),
    ],
)
def test_a_wire_time_in_any_iso_form_is_stored_in_utc(tmp_path: Path, wire: str, expected: datetime) -> None:
    replica = open_replica(tmp_path)
    writer = _WRITERS["order"]
    row = dict.fromkeys(writer.columns) | {
        "id": "0192f000-0000-7000-8000-000000000001",
        "version": 3,
        "updated_at": wire,
        "account_id": "0192f000-0000-7000-8000-0000000000aa",
        "ordered_at": wire,
        "status": "confirmed",
        "currency": "EUR",
        "net_amount": 100,
        "tax_amount": 20,
        "gross_amount": 120,
        "discount_bp": 0,
    }
    with replica.begin() as conn:
        writer.write_batch(conn, list(row), [list(row.values())])
    with Session(replica) as session:
        order = session.get(Order, row["id"])
        assert order is not None
        assert order.ordered_at == expected and order.updated_at == expected
    # An older version of the same record never replaces this one.
    with replica.begin() as conn:
        writer.write(conn, [row | {"version": 2, "status": "cancelled"}])
    with Session(replica) as session:
        order = session.get(Order, row["id"])
        assert order is not None and order.status == "confirmed"


def test_a_time_without_its_zone_is_refused(tmp_path: Path) -> None:
    replica = open_replica(tmp_path)
    writer = _WRITERS["order"]
    row = dict.fromkeys(writer.columns) | {"id": "x", "version": 1, "updated_at": "2026-03-29T01:30:05"}
    with pytest.raises(SyncError, match="cannot store"), replica.begin() as conn:
        writer.write(conn, [row])


def test_a_column_an_older_server_does_not_send_gets_its_default(tmp_path: Path) -> None:
    """An older server knows nothing of an order's discount (a NOT NULL column added since)."""
    replica = open_replica(tmp_path)
    writer = _WRITERS["order"]
    old = [c for c in writer.columns if c != "discount_bp"]
    row = dict.fromkeys(old) | {
        "id": "0192f000-0000-7000-8000-000000000002",
        "version": 1,
        "updated_at": "2026-03-29T01:30:05Z",
        "account_id": "0192f000-0000-7000-8000-0000000000aa",
        "ordered_at": "2026-03-29T01:30:05Z",
        "status": "confirmed",
        "currency": "EUR",
        "net_amount": 100,
        "tax_amount": 20,
        "gross_amount": 120,
    }
    with replica.begin() as conn:
        writer.write_batch(conn, old, [[row[c] for c in old]])  # a pulled page
        writer.write(conn, [row | {"id": "0192f000-0000-7000-8000-000000000003"}])  # a change
    with Session(replica) as session:
        orders = [session.get(Order, i) for i in (row["id"], "0192f000-0000-7000-8000-000000000003")]
    assert [o.discount_bp if o else None for o in orders] == [0, 0]
