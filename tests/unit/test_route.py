"""Today's route: a short driving order that keeps the appointments in their time order."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from geopy.distance import geodesic

from app.route import BRUTE_FORCE_MAX_STOPS, Route, Stop, brute_force_route, plan_route

LYON = (45.764, 4.836)
GRENOBLE = (45.188, 5.724)
MORNING = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
PARIS_WINTER = timezone(timedelta(hours=1))

Day = tuple[tuple[float, float], list[Stop], tuple[float, float] | None]


def random_point(rng: random.Random) -> tuple[float, float]:
    lat, lon = rng.choice((LYON, GRENOBLE))
    return lat + rng.gauss(0, 0.15), lon + rng.gauss(0, 0.2)


def random_day(rng: random.Random, *, stops: int, appointments: int) -> Day:
    """(start, stops, end): `appointments` of the stops have a time, in no particular id order; one
    day in four ends somewhere else than home."""
    fixed = set(rng.sample(range(stops), appointments))
    visits = [
        Stop(
            id=f"account-{index}",
            lat=lat,
            lon=lon,
            fixed_at=MORNING + timedelta(minutes=rng.randrange(0, 600, 15)) if index in fixed else None,
        )
        for index, (lat, lon) in enumerate(random_point(rng) for _ in range(stops))
    ]
    end = random_point(rng) if rng.random() < 0.25 else None
    return random_point(rng), visits, end


def appointments_in_route_order(route: Route, stops: list[Stop]) -> list[str]:
    fixed = {stop.id for stop in stops if stop.fixed_at is not None}
    return [stop_id for stop_id in route.order if stop_id in fixed]


def appointments_in_time_order(stops: list[Stop]) -> list[str]:
    fixed = [stop for stop in stops if stop.fixed_at is not None]
    return [stop.id for stop in sorted(fixed, key=lambda stop: (stop.fixed_at, stop.id))]


@pytest.fixture(scope="module")
def planned_days() -> list[tuple[Day, Route, Route]]:
    """300 seeded days of 3 to 8 stops with 0 to 3 appointments: (day, planned, brute force)."""
    rng = random.Random(2026)
    days = []
    for _ in range(300):
        size = rng.randint(3, 8)
        day = random_day(rng, stops=size, appointments=rng.randint(0, 3))
        start, stops, end = day
        days.append(
            (day, plan_route(start=start, stops=stops, end=end), brute_force_route(start=start, stops=stops, end=end))
        )
    return days


def test_the_planned_route_is_at_most_10_percent_longer_than_the_best_order(
    planned_days: list[tuple[Day, Route, Route]],
) -> None:
    ratios = [planned.total_km / best.total_km for _, planned, best in planned_days]
    assert max(ratios) <= 1.10
    assert min(ratios) >= 1 - 1e-9  # never shorter than the best: it broke no rule


def test_fixed_time_visits_keep_their_order(planned_days: list[tuple[Day, Route, Route]]) -> None:
    for (_, stops, _), planned, best in planned_days:
        assert appointments_in_route_order(planned, stops) == appointments_in_time_order(stops)
        assert appointments_in_route_order(best, stops) == appointments_in_time_order(stops)


def test_every_visit_is_driven_once(planned_days: list[tuple[Day, Route, Route]]) -> None:
    for (_, stops, _), planned, best in planned_days:
        assert sorted(planned.order) == sorted(stop.id for stop in stops)
        assert sorted(best.order) == sorted(stop.id for stop in stops)


def test_the_legs_go_from_the_start_through_the_visits_to_the_end() -> None:
    start, stops, end = random_day(random.Random(3), stops=6, appointments=2)
    route = plan_route(start=start, stops=stops, end=end)
    where = {stop.id: (stop.lat, stop.lon) for stop in stops}
    points = [start, *(where[stop_id] for stop_id in route.order), end if end is not None else start]
    assert route.legs_km == pytest.approx([geodesic(a, b).km for a, b in zip(points, points[1:], strict=False)])
    assert route.total_km == pytest.approx(sum(route.legs_km))


def test_a_long_day_keeps_its_appointments_in_order_and_every_visit_once() -> None:
    rng = random.Random(60)
    for _ in range(2):
        start, stops, end = random_day(rng, stops=60, appointments=8)
        route = plan_route(start=start, stops=stops, end=end)
        assert sorted(route.order) == sorted(stop.id for stop in stops)
        assert appointments_in_route_order(route, stops) == appointments_in_time_order(stops)


def test_a_day_with_no_visit_has_no_route() -> None:
    for route in (plan_route(start=LYON, stops=[]), brute_force_route(start=LYON, stops=[], end=GRENOBLE)):
        assert route == Route(order=[], legs_km=[], total_km=0.0)


def test_a_single_visit_is_there_and_back() -> None:
    route = plan_route(start=LYON, stops=[Stop("grenoble", *GRENOBLE)])
    there = geodesic(LYON, GRENOBLE).km
    assert route.order == ["grenoble"]
    assert route.legs_km == pytest.approx([there, there])
    assert route.total_km == pytest.approx(2 * there)


def test_a_single_appointment_can_end_the_day_elsewhere() -> None:
    route = plan_route(start=LYON, stops=[Stop("grenoble", *GRENOBLE, fixed_at=MORNING)], end=GRENOBLE)
    assert route.order == ["grenoble"]
    assert route.legs_km == pytest.approx([geodesic(LYON, GRENOBLE).km, 0.0])


def test_visits_at_the_same_place_are_driven_one_after_the_other() -> None:
    stops = [
        Stop("shop-a", 45.40, 5.30),
        Stop("far", *GRENOBLE),
        Stop("shop-b", 45.40, 5.30),
        Stop("shop-c", 45.40, 5.30, fixed_at=MORNING),
    ]
    route = plan_route(start=LYON, stops=stops)
    assert route.total_km == pytest.approx(brute_force_route(start=LYON, stops=stops).total_km)
    at_same_place = [route.order.index(stop_id) for stop_id in ("shop-a", "shop-b", "shop-c")]
    assert max(at_same_place) - min(at_same_place) == 2


def test_when_every_visit_has_a_time_the_route_is_the_time_order() -> None:
    # The ids run against the times, and the times are in two time zones: 08:30 UTC is after
    # 09:15 in Paris (08:15 UTC).
    stops = [
        Stop("a-last", *GRENOBLE, fixed_at=datetime(2026, 11, 18, 15, 0, tzinfo=PARIS_WINTER)),
        Stop("b-second", 45.52, 4.87, fixed_at=datetime(2026, 11, 18, 8, 30, tzinfo=UTC)),
        Stop("c-first", 45.43, 4.39, fixed_at=datetime(2026, 11, 18, 9, 15, tzinfo=PARIS_WINTER)),
    ]
    assert plan_route(start=LYON, stops=stops).order == ["c-first", "b-second", "a-last"]
    assert brute_force_route(start=LYON, stops=stops).order == ["c-first", "b-second", "a-last"]


def on_the_meridian(km_north: float) -> tuple[float, float]:
    return (45.0 + km_north / 111.13, 5.0)  # about 111.13 km per degree of latitude here


def test_visits_on_a_line_are_driven_out_and_back_or_straight_to_the_end() -> None:
    home = on_the_meridian(0)
    stops = [Stop(f"km-{km}", *on_the_meridian(km)) for km in (30, 10, 40, 20)]
    farthest = geodesic(home, on_the_meridian(40)).km
    round_trip = plan_route(start=home, stops=stops)
    # Out and back along a line: going out in order, or coming back in order, is as short.
    assert round_trip.order in (["km-10", "km-20", "km-30", "km-40"], ["km-40", "km-30", "km-20", "km-10"])
    assert round_trip.total_km == pytest.approx(2 * farthest)
    one_way = plan_route(start=home, stops=stops, end=on_the_meridian(50))
    assert one_way.order == ["km-10", "km-20", "km-30", "km-40"]
    assert one_way.total_km == pytest.approx(geodesic(home, on_the_meridian(50)).km)


def test_a_fixed_visit_forces_a_detour_that_the_free_route_would_not_take() -> None:
    home, office = on_the_meridian(0), on_the_meridian(30)
    stops = [
        Stop("near", *on_the_meridian(10)),
        Stop("far", *on_the_meridian(20)),
        Stop("free", *on_the_meridian(25)),
    ]
    free = plan_route(start=home, stops=stops, end=office)
    assert free.order == ["near", "far", "free"]
    assert free.total_km == pytest.approx(geodesic(home, office).km)
    # The far customer wants us at 9:00 and the near one at 11:00: far first, then back to near.
    booked = [
        replace(stops[0], fixed_at=MORNING + timedelta(hours=3)),
        replace(stops[1], fixed_at=MORNING + timedelta(hours=1)),
        stops[2],
    ]
    detour = plan_route(start=home, stops=booked, end=office)
    assert detour.order.index("far") < detour.order.index("near")
    assert detour.total_km == pytest.approx(brute_force_route(start=home, stops=booked, end=office).total_km)
    assert detour.total_km == pytest.approx(free.total_km + 2 * 10, rel=1e-3)  # 20 km back to near, and on


def test_the_same_day_gives_the_same_route_whatever_order_the_visits_come_in() -> None:
    start, stops, end = random_day(random.Random(11), stops=25, appointments=3)
    first = plan_route(start=start, stops=stops, end=end)
    shuffled = list(stops)
    random.Random(1).shuffle(shuffled)
    assert plan_route(start=start, stops=shuffled, end=end) == first
    assert plan_route(start=start, stops=stops, end=end) == first


def test_brute_force_refuses_a_day_too_long_to_try_every_order() -> None:
    start, stops, _ = random_day(random.Random(1), stops=BRUTE_FORCE_MAX_STOPS + 1, appointments=0)
    with pytest.raises(ValueError, match="at most 9 stops"):
        brute_force_route(start=start, stops=stops)


@pytest.mark.parametrize(
    "stops",
    [
        [Stop("same", *LYON), Stop("same", *GRENOBLE)],
        [Stop("no-time-zone", *GRENOBLE, fixed_at=datetime(2026, 11, 18, 9, 0))],
    ],
    ids=["two visits with one id", "an appointment without a time zone"],
)
def test_a_day_that_cannot_be_ordered_is_refused(stops: list[Stop]) -> None:
    with pytest.raises(ValueError):
        plan_route(start=LYON, stops=stops)
