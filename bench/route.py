"""Today's route: the planned order against the best order found by trying them all, and the time
to plan a long day.

    .venv/bin/python bench/route.py [--days-8 200] [--days-60 20]

1. Makes random days (seeded) around Lyon and Grenoble: 200 days of 8 stops with 0 to 3
   appointments each, and 20 days of 60 stops with 0 to 6 appointments each; the rep starts
   from home and drives back there, or (one day in four) ends the day somewhere else.
2. Orders each 8-stop day with `plan_route` and with `brute_force_route` (every order that keeps
   the appointments in time order): the ratio is planned km / brute-force km.
3. Times `plan_route` on each 60-stop day (distances included), after one warm-up day.
Every planned route is checked (each visit once, appointments in time order) or the bench stops.
The raw baseline printed before the last line is brute force's time per 8-stop day.

The last line reads:
`route_60_ms=N worst_ratio_8=R mean_ratio_8=R`
Goals: route_60_ms <= 1000, worst_ratio_8 <= 1.10.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.route import Stop, brute_force_route, plan_route  # noqa: E402

SEED = 5
# A territory from Lyon to Grenoble (lat, lon): towns are drawn around these centres.
TOWNS = [(45.764, 4.836), (45.188, 5.724), (45.525, 4.874), (45.433, 4.390), (45.585, 5.273), (45.899, 4.720)]
DAY_START = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)


def random_point(rng: random.Random) -> tuple[float, float]:
    lat, lon = rng.choice(TOWNS)
    return lat + rng.gauss(0, 0.12), lon + rng.gauss(0, 0.16)


def random_day(
    rng: random.Random, *, stops: int, appointments: int
) -> tuple[tuple[float, float], list[Stop], tuple[float, float] | None]:
    """(start, stops, end) of a rep's day; `appointments` of the stops have a time, in random order."""
    fixed = set(rng.sample(range(stops), appointments))
    day = [
        Stop(
            id=f"v{index:02d}",
            lat=lat,
            lon=lon,
            fixed_at=DAY_START + timedelta(minutes=rng.randrange(0, 600, 15)) if index in fixed else None,
        )
        for index, (lat, lon) in enumerate(random_point(rng) for _ in range(stops))
    ]
    end = random_point(rng) if rng.random() < 0.25 else None
    return random_point(rng), day, end


def check(order: list[str], stops: list[Stop]) -> None:
    """A planned route drives every visit once and the appointments in time order, or the bench stops."""
    appointments = sorted(
        (stop for stop in stops if stop.fixed_at is not None), key=lambda stop: (stop.fixed_at, stop.id)
    )
    booked = {stop.id for stop in appointments}
    every_visit_once = sorted(order) == sorted(stop.id for stop in stops)
    in_time_order = [stop_id for stop_id in order if stop_id in booked] == [stop.id for stop in appointments]
    if not (every_visit_once and in_time_order):
        raise SystemExit(f"plan_route broke a rule: {order}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days-8", type=int, default=200)
    parser.add_argument("--days-60", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(SEED)

    ratios: list[float] = []
    brute_seconds = 0.0
    for _ in range(args.days_8):
        start, stops, end = random_day(rng, stops=8, appointments=rng.randint(0, 3))
        planned = plan_route(start=start, stops=stops, end=end)
        check(planned.order, stops)
        began = time.perf_counter()
        best = brute_force_route(start=start, stops=stops, end=end)
        brute_seconds += time.perf_counter() - began
        ratios.append(planned.total_km / best.total_km)
    worst = max(ratios)
    print(
        f"8 stops, {args.days_8} days: {sum(r > 1 + 1e-9 for r in ratios)} longer than the best, worst {worst:.4f}",
        flush=True,
    )
    print(f"raw baseline: brute force {brute_seconds / args.days_8 * 1000:.1f} ms per 8-stop day", flush=True)

    days_60 = [random_day(rng, stops=60, appointments=rng.randint(0, 6)) for _ in range(args.days_60 + 1)]
    timings: list[float] = []
    for start, stops, end in days_60:
        began = time.perf_counter()
        planned = plan_route(start=start, stops=stops, end=end)
        timings.append(time.perf_counter() - began)
        check(planned.order, stops)
    timings = timings[1:]  # the first day warms up the imports and caches
    print("60 stops (ms): " + " ".join(f"{t * 1000:.0f}" for t in timings), flush=True)
    print(
        f"route_60_ms={statistics.median(timings) * 1000:.0f} worst_ratio_8={worst:.4f} mean_ratio_8={statistics.fmean(ratios):.4f}"
    )


if __name__ == "__main__":
    main()
