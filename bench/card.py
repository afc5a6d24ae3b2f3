"""The customer card, search as you type and the dashboard on a large territory, from the replica.

    .venv/bin/python bench/card.py [--accounts 5000] [--lines 1000000]

1. Builds the territory of bench/sync.py (5,000 accounts, 1,000,000 order lines; its biggest
   account has 2,000 orders and 20,000 lines), and adds what a card shows beyond orders:
   invoices and payments, activities, visits with reports, tickets, survey and campaign
   answers, opportunities, reminders and stage changes (deterministic).
2. Syncs it over HTTP into an empty replica, as the app does (`terrain-server serve` on
   127.0.0.1 in its own process).
3. Times, through the services the screens call (`app.services.Device`):
   - card: every section and the brief of 200 accounts (the biggest one among them), built
     but not drawn, after 20 cards of warm-up (the book's RFM is computed once, then cached);
   - search: 200 prefixes as a rep types them (1 to 5 letters of names, towns, contacts,
     postcodes and products);
   - figures: the rep's dashboard for this year to date (median of 5).
The raw baseline printed beside them is the plain DB-API read of the biggest account's orders
and order lines (the floor under its card), and the same figures' orders read alone.

The last line reads:
`card_p50_ms=N card_p95_ms=N search_p50_ms=N search_p95_ms=N figures_ms=N`
Goals: card_p95_ms <= 10, search_p95_ms <= 10, figures_ms <= 300.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.ids import new_id  # noqa: E402
from app.replica import REPLICA_FILE, open_replica  # noqa: E402
from app.services import open_device  # noqa: E402
from bench.sync import _bulk, percentile, start_server  # noqa: E402
from sync.engine import SyncEngine, TokenStore  # noqa: E402

SEED = 11
TODAY = date(2026, 11, 18)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.000000")


def add_card_records(server_db: Path) -> None:
    """Everything a card shows beyond orders, for every account of the territory."""
    rng = random.Random(SEED)
    db = sqlite3.connect(server_db)
    accounts = [row[0] for row in db.execute("SELECT id FROM account ORDER BY id")]
    contacts: dict[str, str] = dict(db.execute("SELECT account_id, min(id) FROM contact GROUP BY account_id"))
    orders = db.execute('SELECT id, account_id, ordered_at, gross_amount, net_amount FROM "order"').fetchall()
    campaign = new_id()
    now = datetime(2026, 11, 18, 9, tzinfo=UTC)
    invoices, payments = [], []
    for order_id, account_id, ordered_at, gross, net in orders:
        issued = date.fromisoformat(ordered_at[:10])
        due = issued + timedelta(days=30)
        paid = (TODAY - due).days > 10 or rng.random() < 0.3
        invoice_id = new_id()
        invoices.append(
            {
                "id": invoice_id,
                "account_id": account_id,
                "order_id": order_id,
                "number": f"FA-{invoice_id[:8]}",
                "issued_on": issued.isoformat(),
                "due_on": due.isoformat(),
                "currency": "EUR",
                "net_amount": net,
                "tax_amount": gross - net,
                "gross_amount": gross,
                "paid_amount": gross if paid else 0,
                "status": "paid" if paid else "open",
            }
        )
        if paid:
            payments.append(
                {
                    "id": new_id(),
                    "account_id": account_id,
                    "invoice_id": invoice_id,
                    "paid_on": min(TODAY, due + timedelta(days=rng.randrange(-10, 20))).isoformat(),
                    "amount": gross,
                    "currency": "EUR",
                    "method": rng.choice(("transfer", "card", "cheque", "direct_debit")),
                }
            )
    per_account: dict[str, list[dict[str, Any]]] = {
        "activity": [],
        "visit": [],
        "ticket": [],
        "survey_response": [],
        "campaign_response": [],
        "opportunity": [],
        "reminder": [],
        "lifecycle_stage_change": [],
    }
    for n, account_id in enumerate(accounts):
        contact = contacts[account_id]
        big = n == 0
        for _ in range(200 if big else 6):
            when = now - timedelta(days=rng.randrange(1, 700), hours=rng.randrange(0, 9))
            per_account["activity"].append(
                {
                    "id": new_id(),
                    "account_id": account_id,
                    "contact_id": contact,
                    "kind": rng.choice(("call", "email", "meeting", "note", "sms")),
                    "direction": "out",
                    "occurred_at": _stamp(when),
                    "subject": "Suivi",
                    "summary": "Point sur les commandes.",
                }
            )
        for k in range(2):
            starts = (
                now - timedelta(days=rng.randrange(5, 200)) if k == 0 else now + timedelta(days=rng.randrange(1, 30))
            )
            per_account["visit"].append(
                {
                    "id": new_id(),
                    "account_id": account_id,
                    "contact_id": contact,
                    "starts_at": _stamp(starts),
                    "ends_at": _stamp(starts + timedelta(hours=1)),
                    "purpose": "Visite de suivi",
                    "status": "done" if k == 0 else "planned",
                    "report_notes": "Présentation des nouveautés." if k == 0 else None,
                    "next_steps": "Envoyer un devis." if k == 0 else None,
                }
            )
        for k, stage in enumerate(("lead", "client")):
            per_account["lifecycle_stage_change"].append(
                {
                    "id": new_id(),
                    "account_id": account_id,
                    "from_stage": None if k == 0 else "lead",
                    "to_stage": stage,
                    "changed_at": _stamp(now - timedelta(days=900 - 30 * k)),
                }
            )
        if big or rng.random() < 0.1:
            per_account["ticket"].append(
                {
                    "id": new_id(),
                    "account_id": account_id,
                    "contact_id": contact,
                    "kind": "complaint",
                    "subject": "Livraison incomplète",
                    "status": "open",
                    "priority": rng.choice(("normal", "high")),
                    "opened_at": _stamp(now - timedelta(days=rng.randrange(1, 30))),
                    "resolved_on_first_contact": 0,
                }
            )
        if big or rng.random() < 0.3:
            answered = _stamp(now - timedelta(days=rng.randrange(30, 200)))
            per_account["survey_response"].append(
                {
                    "id": new_id(),
                    "account_id": account_id,
                    "kind": "nps",
                    "score": rng.randrange(0, 11),
                    "answered_at": answered,
                }
            )
            per_account["campaign_response"].append(
                {
                    "id": new_id(),
                    "campaign_id": campaign,
                    "account_id": account_id,
                    "responded_at": answered,
                    "response": "opened",
                }
            )
        if big or rng.random() < 0.2:
            created = now - timedelta(days=rng.randrange(10, 300))
            won = rng.random() < 0.4
            per_account["opportunity"].append(
                {
                    "id": new_id(),
                    "account_id": account_id,
                    "name": "Contrat annuel",
                    "stage": "won" if won else "proposal",
                    "amount": rng.randrange(1, 100) * 100_000,
                    "currency": "EUR",
                    "probability_pct": 100 if won else 40,
                    "created_at": _stamp(created),
                    "closed_at": _stamp(created + timedelta(days=rng.randrange(5, 60))) if won else None,
                }
            )
        if big or rng.random() < 0.1:
            per_account["reminder"].append(
                {
                    "id": new_id(),
                    "account_id": account_id,
                    "due_at": _stamp(now + timedelta(days=rng.randrange(1, 60))),
                    "reason": "Rappeler pour le contrat",
                    "done": 0,
                }
            )
    with db:
        _bulk(db, "campaign", iter([{"id": campaign, "name": "Salon 2026", "channel": "email"}]))
        _bulk(db, "invoice", iter(invoices))
        _bulk(db, "payment", iter(payments))
        for table, rows in per_account.items():
            _bulk(db, table, iter(rows))
    db.close()


def typed_prefixes(replica: Path, count: int = 200) -> list[str]:
    """What a rep types, letter by letter: 1 to 5 letters of names, towns, contacts, products."""
    rng = random.Random(SEED + 1)
    db = sqlite3.connect(replica)
    words = [
        *(r[0] for r in db.execute("SELECT name FROM account ORDER BY random() LIMIT 10")),
        *(r[0] for r in db.execute("SELECT DISTINCT billing_city FROM account LIMIT 5")),
        *(r[0] for r in db.execute("SELECT billing_postcode FROM account ORDER BY random() LIMIT 10")),
        *(r[0] for r in db.execute("SELECT last_name FROM contact ORDER BY random() LIMIT 10")),
        *(r[0] for r in db.execute("SELECT name FROM product ORDER BY random() LIMIT 5")),
    ]
    db.close()
    prefixes = []
    while len(prefixes) < count:
        word = rng.choice(words).split()[-1] if rng.random() < 0.5 else rng.choice(words)
        prefixes += [word[:n] for n in range(1, 6)]
    return prefixes[:count]


def timed(calls: list[Callable[[], object]]) -> list[float]:
    timings = []
    for call in calls:
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def raw_baseline(replica: Path, account_id: str) -> tuple[float, float]:
    """The DB-API alone: the biggest account's orders and lines; the year's orders of the book."""
    db = sqlite3.connect(replica)
    started = time.perf_counter()
    db.execute('SELECT * FROM "order" WHERE account_id = ?', (account_id,)).fetchall()
    db.execute("SELECT * FROM order_line WHERE account_id = ?", (account_id,)).fetchall()
    card_floor = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    db.execute('SELECT account_id, ordered_at, net_amount FROM "order"').fetchall()
    figures_floor = (time.perf_counter() - started) * 1000
    db.close()
    return card_floor, figures_floor


def build_and_sync(root: Path, accounts: int, lines: int) -> SyncEngine:
    """The territory on a server of its own, synced into an empty replica as the app does."""
    root.mkdir(parents=True, exist_ok=True)
    server_db = root / "server.db"
    started = time.perf_counter()
    build = [sys.executable, str(ROOT / "bench" / "sync.py"), "--accounts", str(accounts)]
    build += ["--lines", str(lines), "--build-only", str(server_db)]
    subprocess.run(build, check=True, capture_output=True, text=True)
    add_card_records(server_db)
    print(f"territory built in {time.perf_counter() - started:.1f} s", flush=True)
    process, url = start_server(root, server_db)
    try:
        engine = SyncEngine(replica=open_replica(root / "device"), http=httpx.Client(base_url=url, timeout=300))
        engine.sign_in(username="rene", password="bench")
        started = time.perf_counter()
        pulled = engine.sync().pulled
        print(f"first sync: {pulled.upserts} records in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        process.terminate()
        process.wait(10)
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="build and sync into this folder once, then reuse it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        if args.keep and (root / "device" / REPLICA_FILE).exists():
            engine = SyncEngine(replica=open_replica(root / "device"), http=httpx.Client())
        else:
            engine = build_and_sync(root, args.accounts, args.lines)
        engine.replica.dispose()
        device = open_device(root / "device", token_store=TokenStore())  # as the app opens it
        replica = root / "device" / REPLICA_FILE
        db = sqlite3.connect(replica)
        biggest = db.execute('SELECT account_id FROM "order" GROUP BY account_id ORDER BY count(*) DESC').fetchone()[0]
        biggest_orders = db.execute('SELECT count(*) FROM "order" WHERE account_id = ?', (biggest,)).fetchone()[0]
        accounts = [row[0] for row in db.execute("SELECT id FROM account ORDER BY id")]
        db.close()
        rng = random.Random(SEED + 2)
        sample = [biggest, *rng.sample([a for a in accounts if a != biggest], 199)]
        rng.shuffle(sample)

        timed([lambda a=a: device.card(a, TODAY) for a in sample[:20]])  # warm-up: caches, RFM of the book
        cards = timed([lambda a=a: device.card(a, TODAY) for a in sample])
        big = timed([lambda: device.card(biggest, TODAY)] * 20)
        card = device.card(biggest, TODAY)
        assert card is not None and card.order_count == biggest_orders and card.brief
        print(
            f"card of the biggest account ({biggest_orders} orders, {len(card.brief)} brief points):"
            f" p50 {statistics.median(big):.1f} ms, max {max(big):.1f} ms; slowest of the 200: {max(cards):.1f} ms",
            flush=True,
        )
        prefixes = typed_prefixes(replica)
        searches = timed([lambda q=q: device.search(q) for q in prefixes])
        slow = sorted(zip(searches, prefixes, strict=True), reverse=True)[:3]
        print("slowest prefixes: " + ", ".join(f"{q!r} {ms:.1f} ms" for ms, q in slow), flush=True)
        start = date(TODAY.year, 1, 1)
        figures = timed([lambda: device.figures(start, TODAY)] * 5)
        result = device.figures(start, TODAY)
        print(f"figures: {result['orders']} orders, {result['active_at_end']} active accounts", flush=True)
        card_floor, figures_floor = raw_baseline(replica, biggest)
        print(
            f"raw baseline (DB-API): biggest account's orders and lines {card_floor:.1f} ms;"
            f" every order's account, day and amount {figures_floor:.1f} ms",
            flush=True,
        )
        device.close()
    print(
        f"card_p50_ms={statistics.median(cards):.1f} card_p95_ms={percentile(cards, 0.95):.1f}"
        f" search_p50_ms={statistics.median(searches):.1f} search_p95_ms={percentile(searches, 0.95):.1f}"
        f" figures_ms={statistics.median(figures):.0f}"
    )


if __name__ == "__main__":
    main()
