"""A large territory's first sync over HTTP, against a plain bulk insert; then delta and no-op syncs.

    .venv/bin/python bench/sync.py [--accounts 5000] [--lines 1000000]

1. Builds, on a SQLite server, one rep's territory: 5,000 accounts, 15,000 contacts,
   100,000 orders, 1,000,000 order lines and 2,000 products (deterministic).
2. Serves it with `terrain-server serve` in its own process on 127.0.0.1, and times the rep's
   first sync into an empty replica, over HTTP, as the app does it (`SyncEngine.sync`).
3. In the same run, times a plain bulk insert of the very same rows into an empty replica of
   the same schema: one transaction, the DB-API's executemany with tuples (the raw baseline).
4. Makes 100 edits on the device and 100 changes on the server, in 20 rounds of 5 + 5, and
   times the 20 syncs (push then pull).
5. Syncs once more with nothing to do, through a byte-counting TCP proxy: requests and bytes.

The peak RSS is the device process's (this one), read right after the first sync. The last
line reads:
`initial_rows_per_s=N raw_insert_rows_per_s=N ratio=R peak_rss_mb=N delta_p50_ms=N delta_p95_ms=N noop_requests=N noop_bytes=N`
Goals: ratio >= 0.5, peak_rss_mb <= 400, delta_p95_ms <= 150, noop_requests == 1, noop_bytes <= 2048.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, col, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.edits import edit_account, edit_contact  # noqa: E402
from app.ids import new_id  # noqa: E402
from app.models import ENTITIES, Account, Contact, Order, entity_table  # noqa: E402
from app.replica import REPLICA_FILE, open_replica  # noqa: E402
from server.db import ServerSession, make_engine  # noqa: E402
from server.migrate import upgrade  # noqa: E402
from server.models import Role, User  # noqa: E402
from server.security import hash_password  # noqa: E402
from sync.engine import SyncEngine  # noqa: E402
from tests.faults import FaultyProxy  # noqa: E402

SEED = 7
STAMP = "2026-11-01 08:00:00.000000"  # SQLite's text form of a UTC time, as the ORM writes it


def _sqlite_rows(columns: list[str], rows: Iterator[dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
    defaults = {"version": 1, "updated_at": STAMP, "created_at": STAMP}
    for row in rows:
        yield tuple(row.get(c, defaults.get(c)) for c in columns)


def _bulk(db: sqlite3.Connection, table: str, rows: Iterator[dict[str, Any]]) -> None:
    columns = [c.name for c in entity_table(table).columns]
    marks = ", ".join("?" for _ in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    db.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', _sqlite_rows(columns, rows))


def catalogue_rows(products: list[str], prices: list[int]) -> Iterator[dict[str, Any]]:
    """The benches' catalogue: product n ("Produit n", SKU-0000n) at `prices[n]`, in 40 categories."""
    for n, pid in enumerate(products):
        yield {
            "id": pid,
            "sku": f"SKU-{n:05d}",
            "name": f"Produit {n}",
            "category": f"Catégorie {n % 40}",
            "unit": "unit",
            "list_price_amount": prices[n],
            "currency": "EUR",
            "tax_category": "standard",
            "active": 1,
            "in_stock": 1,
        }


def random_order_lines(
    rng: random.Random, order_id: str, account_id: str, products: list[str], prices: list[int], count: int
) -> tuple[list[dict[str, Any]], int]:
    """`count` lines of one order (products and quantities drawn from `rng`, at list price, VAT
    20 %), and their net total."""
    lines: list[dict[str, Any]] = []
    net = 0
    for _ in range(count):
        p = rng.randrange(len(products))
        quantity = rng.randrange(1, 20)
        amount = quantity * prices[p]
        net += amount
        lines.append(
            {
                "id": new_id(),
                "order_id": order_id,
                "account_id": account_id,
                "product_id": products[p],
                "description": f"Produit {p}",
                "quantity": quantity,
                "unit_price_amount": prices[p],
                "discount_bp": 0,
                "tax_rate_bp": 2000,
                "net_amount": amount,
                "tax_amount": amount // 5,
            }
        )
    return lines, net


def build_territory(server_db: Path, *, accounts: int, lines: int, big_account_orders: int = 2000) -> str:
    """The rep's territory, written straight into the server's tables; returns the rep's id.

    The first account is a big customer with `big_account_orders` orders (the card's worst case)."""
    engine = make_engine(f"sqlite:///{server_db}")
    upgrade(engine)
    with ServerSession(engine) as session:
        manager = User(
            username="maud", full_name="Maud Manager", role=Role.manager, password_hash=hash_password("bench")
        )
        rep = User(username="rene", full_name="René Rep", role=Role.rep, password_hash=hash_password("bench"))
        session.add(manager)
        session.flush()
        rep.manager_id = manager.id
        session.add(rep)
        session.commit()
        rep_id = rep.id
    engine.dispose()
    rng = random.Random(SEED)
    db = sqlite3.connect(server_db)
    db.execute("PRAGMA journal_mode=WAL")
    products = [new_id() for _ in range(2000)]
    prices = [rng.randrange(100, 100_000) for _ in products]
    account_ids = [new_id() for _ in range(accounts)]
    contact_ids = [[new_id() for _ in range(3)] for _ in account_ids]
    orders_per_account = 20
    lines_per_order = max(1, lines // (accounts * orders_per_account))
    with db:
        _bulk(
            db,
            "tax_rate",
            iter(
                [
                    {"id": new_id(), "category": c, "country": "FR", "rate_bp": bp, "label": f"TVA {bp / 100} %"}
                    for c, bp in (("standard", 2000), ("intermediate", 1000), ("reduced", 550), ("super_reduced", 210))
                ]
            ),
        )
        _bulk(db, "product", catalogue_rows(products, prices))
        _bulk(
            db,
            "account",
            (
                {
                    "id": aid,
                    "name": f"Établissement {n:05d}",
                    "billing_postcode": f"{38000 + n % 900:05d}",
                    "billing_city": "Grenoble",
                    "billing_country": "FR",
                    "phone": f"+3347{n:07d}",
                    "social_profiles": "{}",
                    "lifecycle_stage": "client",
                    "tags": "[]",
                    "payment_terms_days": 30,
                    "currency": "EUR",
                    "owner_id": rep_id,
                }
                for n, aid in enumerate(account_ids)
            ),
        )
        _bulk(
            db,
            "contact",
            (
                {
                    "id": cid,
                    "account_id": aid,
                    "first_name": "Camille",
                    "last_name": f"Contact {n}-{k}",
                    "email": f"c{n}.{k}@example.fr",
                    "social_profiles": "{}",
                    "consent_email": 0,
                    "consent_sms": 0,
                    "consent_phone": 0,
                    "consent_post": 0,
                    "is_primary": int(k == 0),
                }
                for n, (aid, cids) in enumerate(zip(account_ids, contact_ids, strict=True))
                for k, cid in enumerate(cids)
            ),
        )
        start = datetime(2024, 11, 1, tzinfo=UTC)
        orders: list[dict[str, Any]] = []
        order_lines: list[dict[str, Any]] = []
        for n, aid in enumerate(account_ids):
            for k in range(big_account_orders if n == 0 else orders_per_account):
                oid = new_id()
                when = start + timedelta(days=rng.randrange(730), minutes=rng.randrange(600))
                lines, net = random_order_lines(rng, oid, aid, products, prices, lines_per_order)
                order_lines += lines
                orders.append(
                    {
                        "id": oid,
                        "account_id": aid,
                        "contact_id": contact_ids[n][0],
                        "number": f"C{n:05d}-{k:04d}",
                        "ordered_at": when.strftime("%Y-%m-%d %H:%M:%S.000000"),
                        "status": "delivered",
                        "discount_bp": 0,
                        "currency": "EUR",
                        "net_amount": net,
                        "tax_amount": net // 5,
                        "gross_amount": net + net // 5,
                    }
                )
        _bulk(db, "order", iter(orders))
        del orders
        _bulk(db, "order_line", iter(order_lines))
        del order_lines
    db.close()
    return rep_id


def start_server(root: Path, server_db: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket_port() as port:
        pass
    env = {
        **os.environ,
        "TERRAIN_DATABASE_URL": f"sqlite:///{server_db}",
        "TERRAIN_SECRET_KEY": "bench-" + "k" * 40,
        "TERRAIN_SERVER_DATA_DIR": str(root / "server-data"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


class socket_port:
    """A free TCP port on 127.0.0.1."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])

    def __exit__(self, *_: object) -> None:
        return None


def raw_insert(device_db: Path, raw_db: Path) -> tuple[int, float]:
    """The same rows, read from the synced replica, bulk-inserted into an empty replica."""
    open_replica(raw_db.parent).dispose()  # the same schema, empty
    source = sqlite3.connect(device_db)
    tables = {}
    for name in ENTITIES:
        columns = [c.name for c in entity_table(name).columns]
        names = ", ".join(f'"{c}"' for c in columns)
        tables[name] = (names, len(columns), source.execute(f'SELECT {names} FROM "{name}"').fetchall())
    source.close()
    target = sqlite3.connect(raw_db)
    target.execute("PRAGMA journal_mode=WAL")
    target.execute("PRAGMA synchronous=NORMAL")
    rows = sum(len(t[2]) for t in tables.values())
    started = time.perf_counter()
    with target:
        for name, (names, width, table_rows) in tables.items():
            marks = ", ".join("?" * width)
            target.executemany(f'INSERT INTO "{name}" ({names}) VALUES ({marks})', table_rows)
    seconds = time.perf_counter() - started
    target.close()
    return rows, seconds


def delta_rounds(device: SyncEngine, server_db: Path, rep_id: str, rounds: int = 20) -> list[float]:
    """Each round: 5 edits on the device, 5 changes on the server, then one timed sync."""
    rng = random.Random(SEED + 1)
    server = make_engine(f"sqlite:///{server_db}")
    with Session(device.replica) as session:
        accounts = session.exec(select(Account.id).order_by(Account.id)).all()
        contacts = session.exec(select(Contact.id).order_by(Contact.id)).all()
    timings = []
    for number in range(rounds):
        with Session(device.replica) as session:
            for k in range(5):
                if k % 2:
                    edit_contact(
                        session=session, contact_id=rng.choice(contacts), changes={"role": f"Acheteur {number}.{k}"}
                    )
                else:
                    edit_account(
                        session=session, account_id=rng.choice(accounts), changes={"notes": f"visite {number}.{k}"}
                    )
        with ServerSession(server) as session:
            picked = rng.sample(accounts, 5)
            for k, account_id in enumerate(picked[:3]):
                account = session.get(Account, account_id)
                assert account is not None and account.owner_id == rep_id
                account.segment = f"segment {number}.{k}"
            for order in session.exec(select(Order).where(col(Order.account_id).in_(picked[3:])).limit(2)):
                order.status = "invoiced"
            session.commit()
        started = time.perf_counter()
        device.sync()
        timings.append(time.perf_counter() - started)
    server.dispose()
    return timings


def noop_sync(device: SyncEngine, url: str) -> tuple[int, int]:
    proxy = FaultyProxy(upstream_port=int(url.rsplit(":", 1)[1])).start()
    original = device.http
    device.http = httpx.Client(base_url=proxy.url, timeout=60, limits=httpx.Limits(max_keepalive_connections=0))
    try:
        device.sync()
        time.sleep(0.2)  # let the proxy's pipes count their last bytes
        return proxy.connections, proxy.bytes_up + proxy.bytes_down
    finally:
        device.http.close()
        device.http = original
        proxy.stop()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        print(build_territory(args.build_only, accounts=args.accounts, lines=args.lines))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server_db = root / "server.db"
        started = time.perf_counter()
        # Built by another process, so that this one's peak memory is the device's alone.
        rep_id = subprocess.run(
            [
                sys.executable,
                __file__,
                "--accounts",
                str(args.accounts),
                "--lines",
                str(args.lines),
                "--build-only",
                str(server_db),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        print(f"territory built in {time.perf_counter() - started:.1f} s", flush=True)
        process, url = start_server(root, server_db)
        try:
            device = SyncEngine(replica=open_replica(root / "device"), http=httpx.Client(base_url=url, timeout=120))
            device.sign_in(username="rene", password="bench")
            started = time.perf_counter()
            report = device.sync().pulled
            sync_seconds = time.perf_counter() - started
            peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rows = report.upserts
            print(f"first sync: {rows} rows in {report.pages} pages, {sync_seconds:.2f} s", flush=True)
            raw_rows, raw_seconds = raw_insert(root / "device" / REPLICA_FILE, root / "raw" / REPLICA_FILE)
            assert raw_rows == rows, (raw_rows, rows)
            print(f"raw bulk insert of the same rows: {raw_seconds:.2f} s", flush=True)
            timings = delta_rounds(device, server_db, rep_id)
            print("delta syncs (ms): " + " ".join(f"{t * 1000:.0f}" for t in timings), flush=True)
            requests, size = noop_sync(device, url)
        finally:
            process.terminate()
            process.wait(10)
    print(
        f"initial_rows_per_s={rows / sync_seconds:.0f} raw_insert_rows_per_s={raw_rows / raw_seconds:.0f}"
        f" ratio={raw_seconds / sync_seconds:.2f} peak_rss_mb={peak_rss_mb:.0f}"
        f" delta_p50_ms={statistics.median(timings) * 1000:.0f} delta_p95_ms={percentile(timings, 0.95) * 1000:.0f}"
        f" noop_requests={requests} noop_bytes={size}"
    )


if __name__ == "__main__":
    main()
