"""Today's route: the order in which a rep drives the day's visits, from a start point (current
position or home) back home or to a chosen end, with visits at an agreed time kept in their slots.

Plain Python: geopy's geodesic kilometres between the points, no database, no map, no network.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from geopy.distance import geodesic

__all__ = ["BRUTE_FORCE_MAX_STOPS", "Route", "Stop", "brute_force_route", "plan_route"]

BRUTE_FORCE_MAX_STOPS = 9
# A move must shorten the route by more than this (km) to count: float noise never loops.
_EPS = 1e-9
_OR_OPT_SEGMENTS = (1, 2, 3)
_RECREATE_ROUNDS = 50


@dataclass(frozen=True, slots=True)
class Stop:
    """A visit of the day at its account's position; `fixed_at` (an aware time) is an appointment
    agreed with the customer, so the visit keeps its place among the other appointments."""

    id: str
    lat: float
    lon: float
    fixed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """Stop ids in driving order, the kilometres of each leg (start->first, ..., last->end) and
    their total. A day with no visit has no leg."""

    order: list[str]
    legs_km: list[float]
    total_km: float


class _Day:
    """The day as numbered points: 0 is the start, 1..n the stops sorted by id (ties are broken
    by id because every scan goes in this order), n+1 the end; distances computed once."""

    __slots__ = ("appointments", "is_fixed", "km", "n", "rank", "stops")

    def __init__(self, start: tuple[float, float], stops: Sequence[Stop], end: tuple[float, float] | None) -> None:
        self.stops = sorted(stops, key=lambda stop: stop.id)
        ids = [stop.id for stop in self.stops]
        if len(set(ids)) != len(ids):
            raise ValueError("two stops share an id")
        for stop in self.stops:
            if stop.fixed_at is not None and stop.fixed_at.utcoffset() is None:
                raise ValueError(f"stop {stop.id}: fixed_at must be an aware datetime")
        self.n = len(self.stops)
        points = [start, *((stop.lat, stop.lon) for stop in self.stops), end if end is not None else start]
        self.km = _distance_matrix(points)
        by_time = sorted(
            (node for node in range(1, self.n + 1) if self.stops[node - 1].fixed_at is not None),
            key=lambda node: (self.stops[node - 1].fixed_at, self.stops[node - 1].id),
        )
        # The appointments' nodes in time order; rank[node] is the node's place in it, or -1.
        self.appointments = by_time
        self.rank = [-1] * (self.n + 2)
        for place, node in enumerate(by_time):
            self.rank[node] = place
        self.is_fixed = [rank >= 0 for rank in self.rank]

    def route(self, path: Sequence[int]) -> Route:
        if self.n == 0:
            return Route(order=[], legs_km=[], total_km=0.0)
        legs = [self.km[a][b] for a, b in zip(path, path[1:], strict=False)]
        return Route(order=[self.stops[node - 1].id for node in path[1:-1]], legs_km=legs, total_km=math.fsum(legs))


def _distance_matrix(points: Sequence[tuple[float, float]]) -> list[list[float]]:
    size = len(points)
    km = [[0.0] * size for _ in range(size)]
    for i in range(size):
        for j in range(i + 1, size):
            if points[i] != points[j]:
                km[i][j] = km[j][i] = float(geodesic(points[i], points[j]).km)
    return km


def plan_route(*, start: tuple[float, float], stops: Sequence[Stop], end: tuple[float, float] | None = None) -> Route:
    """A short driving order for the day's visits from `start` to `end` (None: back to `start`).

    Appointments (stops with `fixed_at`) are driven in time order; the other visits go wherever
    they cost least: before, between or after them. Deterministic: the same day gives the same
    route."""
    day = _Day(start, stops, end)
    if day.n == 0:
        return day.route([])
    km = day.km
    visits = list(range(1, day.n + 1))
    free = [node for node in visits if not day.is_fixed[node]]
    best = _cheapest_insertion(day, [0, *day.appointments, day.n + 1], free)
    _improve(day, best)
    best_km = _path_km(km, best)
    # Ruin and recreate: take out a few visits (neighbours of one of them, or any), put them back,
    # polish, and keep the result when it is shorter. Taking appointments out too lets the route
    # turn round where an appointment held it. A fixed seed: the same day gives the same route.
    rng = random.Random(day.n)
    for round_ in range(_RECREATE_ROUNDS if free and day.n > 1 else 0):
        size = rng.randint(2, max(2, min(day.n, 3 + day.n // 2)))
        if round_ % 2:
            taken = rng.sample(visits, size)
        else:
            centre = rng.choice(visits)
            taken = sorted(visits, key=lambda node: (km[centre][node], node))[:size]
        candidate = _recreate(day, [node for node in best if node not in taken], taken, rng)
        _improve(day, candidate)
        candidate_km = _path_km(km, candidate)
        if candidate_km < best_km - _EPS:
            best, best_km = candidate, candidate_km
    return day.route(best)


def _path_km(km: list[list[float]], path: Sequence[int]) -> float:
    return math.fsum(km[a][b] for a, b in zip(path, path[1:], strict=False))


def _cheapest_insertion(day: _Day, path: list[int], waiting: list[int]) -> list[int]:
    """`path` with each waiting visit (none an appointment) put in the gap where it adds the fewest
    kilometres, the cheapest visit of all first."""
    km = day.km
    path = list(path)
    waiting = list(waiting)
    # Each waiting visit's cheapest gap, as (added km, node before, node after).
    cheapest = {node: _cheapest_gap(km, path, node) for node in waiting}
    while waiting:
        chosen = min(waiting, key=lambda node: (cheapest[node][0], node))
        _, before, after = cheapest.pop(chosen)
        waiting.remove(chosen)
        path.insert(path.index(after, path.index(before)), chosen)
        for node in waiting:
            added, gap_before, gap_after = cheapest[node]
            if (gap_before, gap_after) == (before, after):
                cheapest[node] = _cheapest_gap(km, path, node)
                continue
            for a, b in ((before, chosen), (chosen, after)):
                cost = km[a][node] + km[node][b] - km[a][b]
                if cost < added - _EPS:
                    added, gap_before, gap_after = cost, a, b
            cheapest[node] = (added, gap_before, gap_after)
    return path


def _recreate(day: _Day, path: list[int], taken: list[int], rng: random.Random) -> list[int]:
    """`path` with the taken visits back in: the appointments first, in time order, each in the
    cheapest gap between the appointments before and after it; then the others in random order,
    each in its cheapest gap."""
    rank = day.rank
    path = list(path)
    others = [node for node in taken if rank[node] < 0]
    rng.shuffle(others)
    for node in sorted((node for node in taken if rank[node] >= 0), key=lambda node: rank[node]):
        lowest, highest = 0, len(path) - 2
        for position, there in enumerate(path):
            if 0 <= rank[there] < rank[node]:
                lowest = position
            elif rank[there] > rank[node]:
                highest = position - 1
                break
        _insert_in_cheapest_gap(day.km, path, node, lowest, highest)
    for node in others:
        _insert_in_cheapest_gap(day.km, path, node, 0, len(path) - 2)
    return path


def _insert_in_cheapest_gap(km: list[list[float]], path: list[int], node: int, lowest: int, highest: int) -> None:
    """Insert `node` in the cheapest gap (path[p], path[p+1]) with lowest <= p <= highest."""
    _, before, _ = _cheapest_gap(km, path[lowest : highest + 2], node)
    path.insert(path.index(before, lowest) + 1, node)


def _cheapest_gap(km: list[list[float]], path: list[int], node: int) -> tuple[float, int, int]:
    best = (math.inf, path[0], path[1])
    row = km[node]
    for a, b in zip(path, path[1:], strict=False):
        cost = row[a] + row[b] - km[a][b]
        if cost < best[0] - _EPS:
            best = (cost, a, b)
    return best


def _fixed_before(day: _Day, path: list[int]) -> list[int]:
    """count[p] = how many appointments sit at positions 0..p-1 of the path."""
    count = [0] * (len(path) + 1)
    for position, node in enumerate(path):
        count[position + 1] = count[position] + day.is_fixed[node]
    return count


def _improve(day: _Day, path: list[int]) -> None:
    """2-opt and or-opt moves that keep the appointments in time order, until none shortens the route."""
    improved = True
    while improved:
        improved = _two_opt(day, path)
        improved = _or_opt(day, path) or improved


def _two_opt(day: _Day, path: list[int]) -> bool:
    """Reverse a stretch of the route where that is shorter; a stretch holding two appointments
    or more cannot be reversed (they would swap)."""
    km = day.km
    last = len(path) - 2  # the last stop's position; path[-1] is the end
    fixed = _fixed_before(day, path)
    improved = False
    for i in range(1, last):
        a = path[i - 1]
        row_a = km[a]
        row_b = km[path[i]]
        ab = row_a[path[i]]
        for j in range(i + 1, last + 1):
            if fixed[j + 1] - fixed[i] > 1:
                break
            c, e = path[j], path[j + 1]
            if row_a[c] + row_b[e] - ab - km[c][e] < -_EPS:
                path[i : j + 1] = path[i : j + 1][::-1]
                fixed = _fixed_before(day, path)
                row_b = km[path[i]]
                ab = row_a[path[i]]
                improved = True
    return improved


def _or_opt(day: _Day, path: list[int]) -> bool:
    """Move a run of 1 to 3 stops (either way round) to the gap where it costs least, if that is
    shorter; a run holding an appointment cannot jump over another one."""
    km = day.km
    improved = False
    for length in _OR_OPT_SEGMENTS:
        i = 1
        while i + length <= len(path) - 1:
            if _move_best_run(km, day, path, i, length):
                improved = True
            else:
                i += 1
    return improved


def _move_best_run(km: list[list[float]], day: _Day, path: list[int], i: int, length: int) -> bool:
    """Move path[i : i + length] to its best gap, if that shortens the route."""
    first, last = path[i], path[i + length - 1]
    before, after = path[i - 1], path[i + length]
    saved = km[before][first] + km[last][after] - km[before][after]
    if saved <= _EPS:
        return False
    is_fixed = day.is_fixed
    run_fixed = sum(is_fixed[node] for node in path[i : i + length])
    # A run holding an appointment stays between the appointments around it.
    lowest, highest = 0, len(path) - 2
    if run_fixed:
        lowest = next((p for p in range(i - 1, 0, -1) if is_fixed[path[p]]), 0)
        highest = next((p - 1 for p in range(i + length, len(path) - 1) if is_fixed[path[p]]), highest)
    may_reverse = length > 1 and run_fixed <= 1
    row_first, row_last = km[first], km[last]
    best_gain, best_gap, best_reversed = _EPS, -1, False
    for p in (*range(lowest, i - 1), *range(i + length, highest + 1)):
        x, y = path[p], path[p + 1]
        xy = km[x][y]
        gain = saved - (row_first[x] + row_last[y] - xy)
        if gain > best_gain:
            best_gain, best_gap, best_reversed = gain, p, False
        if may_reverse:
            gain = saved - (row_last[x] + row_first[y] - xy)
            if gain > best_gain:
                best_gain, best_gap, best_reversed = gain, p, True
    if best_gap < 0:
        return False
    run = path[i : i + length]
    if best_reversed:
        run.reverse()
    del path[i : i + length]
    at = best_gap + 1 if best_gap < i else best_gap - length + 1
    path[at:at] = run
    return True


def brute_force_route(
    *, start: tuple[float, float], stops: Sequence[Stop], end: tuple[float, float] | None = None
) -> Route:
    """The shortest route, found by trying every order that keeps the appointments in time order
    (a partial order is dropped as soon as it is already longer than the best whole one). The
    reference that tests and bench/route.py hold `plan_route` to; at most 9 stops."""
    if len(stops) > BRUTE_FORCE_MAX_STOPS:
        raise ValueError(f"brute force tries every order: at most {BRUTE_FORCE_MAX_STOPS} stops, not {len(stops)}")
    day = _Day(start, stops, end)
    n = day.n
    if n == 0:
        return day.route([])
    km, rank, end_node = day.km, day.rank, n + 1
    best_km = math.inf
    best_path: list[int] = []
    path = [0]
    placed = [False] * (n + 2)

    def extend(km_so_far: float, next_appointment: int) -> None:
        nonlocal best_km, best_path
        here = path[-1]
        if len(path) == n + 1:
            total = km_so_far + km[here][end_node]
            if total < best_km - _EPS:
                best_km, best_path = total, [*path, end_node]
            return
        for node in range(1, n + 1):
            if placed[node] or (rank[node] >= 0 and rank[node] != next_appointment):
                continue
            km_then = km_so_far + km[here][node]
            if km_then >= best_km - _EPS:
                continue
            placed[node] = True
            path.append(node)
            extend(km_then, next_appointment + (rank[node] >= 0))
            path.pop()
            placed[node] = False

    extend(0.0, 0)
    return day.route(best_path)
