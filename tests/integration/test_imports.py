"""ERP imports: all or nothing with a report of each bad row, or the good rows with
--skip-bad-rows; matched by external id, so a second run changes nothing; devices get them."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from app.models import Account, Order
from app.replica import open_replica
from server.db import ServerSession
from server.imports import import_accounts, import_orders
from sync.engine import SyncEngine
from tests.conftest import LiveServer

ACCOUNTS = """external_id,name,billing_city,billing_postcode,owner,siren
ERP-001,Épicerie du Marché,Lyon,69002,alice,123456789
ERP-002,"Cave Dupont, père et fils",Grenoble,38000,alice,
"""

ORDERS = """account_external_id,order_external_id,ordered_at,net_amount,currency,tax_amount
ERP-001,CMD-1,2026-10-01,12050,EUR,2410
ERP-001,CMD-2,2026-10-15T09:30:00+02:00,5000,EUR,1000
ERP-002,CMD-3,2026-11-02,990,EUR,198
"""

BAD_ORDERS = """account_external_id,order_external_id,ordered_at,net_amount,currency
ERP-001,CMD-10,2026-10-01,100,EUR
ERP-404,CMD-11,2026-10-01,100,EUR
ERP-001,CMD-12,hier,100,EUR
ERP-002,CMD-13,2026-10-01,-5,EUR
ERP-002,CMD-10,2026-10-02,100,EUR
ERP-002,CMD-14,2026-10-01T10:00:00,100,EUR
ERP-002,CMD-15,2026-10-03,300,EUR
"""


def _count(engine: Engine, model: type, *where: object) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[call-overload]


def test_an_import_is_all_or_nothing_with_a_report_and_runs_twice_the_same(
    live_server: LiveServer, tmp_path: Path
) -> None:
    server = live_server.engine
    accounts, orders, bad = tmp_path / "accounts.csv", tmp_path / "orders.csv", tmp_path / "bad.csv"
    accounts.write_text(ACCOUNTS)
    orders.write_text(ORDERS)
    bad.write_text(BAD_ORDERS)
    with ServerSession(server) as session:
        first = import_accounts(session=session, path=accounts)
    assert (first.imported, first.created, first.bad_rows) == (True, 2, [])
    with ServerSession(server) as session:
        assert import_orders(session=session, path=orders).created == 3
    with ServerSession(server) as session:
        again = import_orders(session=session, path=orders)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    # A file with bad rows: nothing imported, every bad row named by its line in the file.
    with ServerSession(server) as session:
        refused = import_orders(session=session, path=bad)
    assert not refused.imported
    assert [number for number, _ in refused.bad_rows] == [3, 4, 5, 6, 7]
    reasons = dict(refused.bad_rows)
    assert "no account 'ERP-404'" in reasons[3] and "ordered_at" in reasons[4] and "net_amount" in reasons[5]
    assert "already on line 2" in reasons[6] and "time zone" in reasons[7]
    assert _count(server, Order, col(Order.external_id).in_(["CMD-10", "CMD-15"])) == 0
    # With --skip-bad-rows, the good ones go in and the report is the same.
    with ServerSession(server) as session:
        partial = import_orders(session=session, path=bad, skip_bad_rows=True)
    assert partial.imported and partial.created == 2 and len(partial.bad_rows) == 5
    assert _count(server, Order, col(Order.external_id).in_(["CMD-10", "CMD-15"])) == 2
    # Alice's device receives the imported accounts and orders at its next sync.
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        device = SyncEngine(replica=open_replica(tmp_path / "alice"), http=http)
        device.sign_in(username="alice", password="demo")
        device.sync()
    with Session(device.replica) as session:
        epicerie = session.exec(select(Account).where(Account.external_id == "ERP-001")).one()
        assert epicerie.name == "Épicerie du Marché" and epicerie.siren == "123456789"
        amounts = sorted(o.gross_amount for o in session.exec(select(Order).where(Order.account_id == epicerie.id)))
    assert amounts == [100, 6000, 14460]  # CMD-10 (no tax column), CMD-2, CMD-1


def test_the_command_reports_bad_rows_and_refuses_a_broken_file(live_server: LiveServer, tmp_path: Path) -> None:
    from tests.integration.test_cli import terrain_server

    url = live_server.engine.url.render_as_string(hide_password=False)
    env = {"TERRAIN_DATABASE_URL": url, "TERRAIN_SERVER_DATA_DIR": str(tmp_path / "data")}
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"external_id;name\n\xff\xfe\x00")
    result = terrain_server("import", "accounts", str(broken), env=env)
    assert result.returncode == 1 and "not UTF-8" in result.stderr and "nothing imported" in result.stderr
    missing = tmp_path / "missing.csv"
    missing.write_text("external_id;name\nERP-9;Nom\n")  # semicolons: one column named "external_id;name"
    result = terrain_server("import", "accounts", str(missing), env=env)
    assert result.returncode == 1 and "line 1: missing columns: external_id, name" in result.stderr
    good = tmp_path / "accounts.csv"
    good.write_text(ACCOUNTS)
    result = terrain_server("import", "accounts", str(good), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "accounts: 2 created, 0 updated, 0 unchanged"
