"""Segments on a large book: the members of a filter, from the replica, against a plain count.

    .venv/bin/python bench/segments.py [--accounts 5000] [--lines 100000] [--repeat 21]

1. Writes a book straight into an empty replica (deterministic): 5,000 accounts over 40 towns
   (accented names, written in several ways), every stage and origin, 10 % of them with no
   order; 2,000 products; 20,000 orders over two years (1 % cancelled) with 100,000 lines.
2. Times `app.segments.members` (median of 21, after one warm-up) for each kind of filter
   alone and for a combined one; the RFM scores are the book's, computed once beforehand as
   `Device.book_rfm` caches them (their time is printed apart).
3. The raw baseline, timed the same way in the same run: `SELECT count(*) FROM order_line`
   (SQLite counts the pages of its smallest index), and, for scale, a read of every line's
   account (`SELECT count(DISTINCT account_id) FROM order_line`).

The last line reads:
`members_p50_ms=N members_max_ms=N count_order_lines_ms=N ratio=R scan_order_lines_ms=N rfm_ms=N`
(members_p50_ms: the median over the filters of each filter's median; members_max_ms: the
slowest filter's median; ratio: members_max_ms / count_order_lines_ms).
Goal: members_max_ms <= 100 (the form counts again at each keystroke).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.dashboard import book_rfm  # noqa: E402
from app.ids import new_id  # noqa: E402
from app.models import LifecycleStage, Origin  # noqa: E402
from app.replica import REPLICA_FILE, open_replica  # noqa: E402
from app.segments import SegmentFilter, members  # noqa: E402
from bench.sync import _bulk, catalogue_rows, random_order_lines  # noqa: E402

SEED = 13
TODAY = date(2026, 11, 18)
TOWNS = [
    "Saint-Étienne",
    "Chambéry",
    "Montélimar",
    "Valence",
    "Lyon",
    "Grenoble",
    "Annecy",
    "Bourg-en-Bresse",
    "Vienne",
    "Romans-sur-Isère",
] + [f"Commune {n}" for n in range(30)]
#: How a town may be written in a customer's address: as it is, upper case, no accents.
SPELLINGS: list[Callable[[str], str]] = [
    lambda t: t,
    str.upper,
    lambda t: t.replace("é", "e").replace("É", "E").replace("è", "e"),
]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.000000")


def build_book(data_dir: Path, *, accounts: int, lines: int) -> tuple[list[str], str]:
    """The book, written into a new replica; the product ids and the id of the event."""
    open_replica(data_dir).dispose()
    rng = random.Random(SEED)
    db = sqlite3.connect(data_dir / REPLICA_FILE)
    products = [new_id() for _ in range(2000)]
    prices = [rng.randrange(100, 100_000) for _ in products]
    event = new_id()
    account_ids = [new_id() for _ in range(accounts)]
    stages, origins = list(LifecycleStage), list(Origin)
    buyers = [a for a in account_ids if rng.random() >= 0.10]
    orders_per_buyer = 4
    lines_per_order = max(1, round(lines / (len(buyers) * orders_per_buyer)))
    first_day = datetime(2024, 11, 18, 8, tzinfo=UTC)
    with db:
        _bulk(db, "product", catalogue_rows(products, prices))
        _bulk(
            db,
            "campaign",
            iter([{"id": event, "name": "Salon de Lyon", "channel": "trade_fair", "place": "Eurexpo"}]),
        )
        _bulk(
            db,
            "account",
            (
                {
                    "id": aid,
                    "name": f"Établissement {n:05d}",
                    "billing_postcode": f"{38000 + n % 900:05d}",
                    "billing_city": rng.choice(SPELLINGS)(rng.choice(TOWNS)),
                    "billing_country": "FR",
                    "social_profiles": "{}",
                    "origin": rng.choice(origins).value,
                    "origin_campaign_id": event if n % 50 == 0 else None,
                    "lifecycle_stage": rng.choice(stages).value,
                    "tags": "[]",
                    "payment_terms_days": 30,
                    "currency": "EUR",
                }
                for n, aid in enumerate(account_ids)
            ),
        )
        orders: list[dict[str, Any]] = []
        order_lines: list[dict[str, Any]] = []
        for n, aid in enumerate(buyers):
            for k in range(orders_per_buyer):
                oid = new_id()
                when = first_day + timedelta(days=rng.randrange(730), minutes=rng.randrange(600))
                lines, net = random_order_lines(rng, oid, aid, products, prices, lines_per_order)
                order_lines += lines
                orders.append(
                    {
                        "id": oid,
                        "account_id": aid,
                        "number": f"C{n:05d}-{k}",
                        "ordered_at": _stamp(when),
                        "status": "cancelled" if rng.random() < 0.01 else "delivered",
                        "discount_bp": 0,
                        "currency": "EUR",
                        "net_amount": net,
                        "tax_amount": net // 5,
                        "gross_amount": net + net // 5,
                    }
                )
        _bulk(db, "order", iter(orders))
        _bulk(db, "order_line", iter(order_lines))
    db.close()
    return products, event


def median_ms(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up: the page cache, the statement cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        products, event = build_book(data_dir, accounts=args.accounts, lines=args.lines)
        print(f"book: {args.accounts} accounts, {args.lines} order lines in {time.perf_counter() - started:.1f} s")  # noqa: T201
        replica = open_replica(data_dir)
        with Session(replica) as session:
            started = time.perf_counter()
            rfm = book_rfm(session=session, day=TODAY)
            rfm_ms = (time.perf_counter() - started) * 1000
            filters = {
                "stage": SegmentFilter(stages=(LifecycleStage.client, LifecycleStage.buyer)),
                "origin": SegmentFilter(origins=(Origin.trade_fair,)),
                "event": SegmentFilter(origin_campaign_id=event),
                "towns": SegmentFilter(towns=("saint etienne", "CHAMBERY", "Montélimar")),
                "products": SegmentFilter(product_ids=tuple(products[:20])),
                "rfm": SegmentFilter(rfm_segments=("at_risk", "hibernating")),
                "no_order_since": SegmentFilter(last_order_before=TODAY - timedelta(days=180)),
                "ordered_since": SegmentFilter(last_order_after=TODAY - timedelta(days=90)),
                "combined": SegmentFilter(
                    stages=(LifecycleStage.client, LifecycleStage.ambassador, LifecycleStage.buyer),
                    towns=("Saint-Etienne", "lyon", "grenoble", "valence"),
                    product_ids=tuple(products[:200]),
                    rfm_segments=("loyal", "at_risk", "champions", "potential"),
                    last_order_after=TODAY - timedelta(days=365),
                    last_order_before=TODAY - timedelta(days=60),
                ),
            }
            conn = session.connection()
            baseline = median_ms(lambda: conn.exec_driver_sql("SELECT count(*) FROM order_line").scalar(), args.repeat)
            # count(*) reads only the pages of the smallest index; this reads every line's account.
            scan = median_ms(
                lambda: conn.exec_driver_sql("SELECT count(DISTINCT account_id) FROM order_line").scalar(), args.repeat
            )
            timed = {}
            for name, f in filters.items():
                found = members(session=session, filter=f, rfm=rfm, today=TODAY)
                timed[name] = median_ms(
                    lambda f=f: members(session=session, filter=f, rfm=rfm, today=TODAY), args.repeat
                )
                print(f"{name:>15}: {len(found):5d} accounts in {timed[name]:6.2f} ms")  # noqa: T201
        replica.dispose()
    print(  # noqa: T201
        f"raw baseline: SELECT count(*) FROM order_line in {baseline:.2f} ms; "
        f"SELECT count(DISTINCT account_id) FROM order_line in {scan:.2f} ms; book_rfm in {rfm_ms:.0f} ms"
    )
    p50, worst = statistics.median(timed.values()), max(timed.values())
    print(  # noqa: T201
        f"members_p50_ms={p50:.2f} members_max_ms={worst:.2f} count_order_lines_ms={baseline:.2f} "
        f"ratio={worst / baseline:.2f} scan_order_lines_ms={scan:.2f} rfm_ms={rfm_ms:.0f}"
    )


if __name__ == "__main__":
    main()
