"""The agenda on a real replica of the demo company: days and weeks in the rep's time zone,
visits planned, moved and cancelled offline, a check-in with its distance, a report whose
follow-up becomes a reminder; all of it on the server after a sync."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.agenda import (
    cancel_visit,
    check_in,
    contact_choices,
    day_agenda,
    due_reminders,
    move_visit,
    plan_visit,
    week_agenda,
    write_report,
)
from app.edits import InvalidEdit, update_record
from app.models import Account, Contact, Product, Reminder, Visit
from app.replica import REPLICA_FILE, open_replica
from sync.engine import SyncEngine
from tests.conftest import DEMO_DAY
from tests.integration.conftest import push_updates

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
PARIS = ZoneInfo("Europe/Paris")


def test_the_day_and_the_week_are_the_reps_in_their_time_zone(alice: SyncEngine) -> None:
    with Session(alice.replica) as session:
        week = week_agenda(session=session, day=DEMO_DAY, zone=PARIS)
        day = day_agenda(session=session, day=DEMO_DAY, zone=PARIS)
        rows = session.exec(select(Visit)).all()
    monday = DEMO_DAY - timedelta(days=DEMO_DAY.weekday())
    expected_week = {v.id for v in rows if monday <= v.starts_at.astimezone(PARIS).date() < monday + timedelta(days=7)}
    assert {v.id for v in week} == expected_week and len(week) >= 10  # three visits a working day
    assert {v.id for v in day} == {v.id for v in rows if v.starts_at.astimezone(PARIS).date() == DEMO_DAY}
    assert [v.starts_at for v in day] == sorted(v.starts_at for v in day)
    assert all(v.account_name for v in day)


def test_visits_planned_moved_cancelled_checked_in_and_reported_offline_reach_the_server(
    api: TestClient, alice: SyncEngine
) -> None:
    owner = alice.state()["user_id"]
    tomorrow = DEMO_DAY + timedelta(days=1)
    with Session(alice.replica) as session:
        account = session.exec(select(Account).where(Account.billing_lat.is_not(None))).first()  # type: ignore[union-attr]
        assert account is not None and account.billing_lat is not None and account.billing_lon is not None
        # 08:00 in Paris on the 19th: 07:00 UTC.
        visit = plan_visit(
            session=session,
            account_id=account.id,
            starts_at=datetime(2026, 11, 19, 8, tzinfo=PARIS),
            minutes=45,
            purpose="Démonstration du four",
            fixed_time=True,
            rep_id=owner,
        )
        assert visit.id in {v.id for v in day_agenda(session=session, day=tomorrow, zone=PARIS)}
        moved = move_visit(session=session, visit_id=visit.id, starts_at=datetime(2026, 11, 19, 10, tzinfo=PARIS))
        assert moved.ends_at - moved.starts_at == timedelta(minutes=45)
        other = plan_visit(
            session=session, account_id=account.id, starts_at=datetime(2026, 11, 20, 14, tzinfo=PARIS), rep_id=owner
        )
        cancel_visit(session=session, visit_id=other.id)
        with pytest.raises(InvalidEdit, match="already cancelled"):
            cancel_visit(session=session, visit_id=other.id)
        # At the door (a few metres off), then from the car park 2 km away on another visit.
        arrived = datetime(2026, 11, 19, 9, 58, tzinfo=PARIS)
        near = check_in(
            session=session, visit_id=visit.id, at=arrived, lat=account.billing_lat + 0.0001, lon=account.billing_lon
        )
        assert near.distance_m is not None and near.distance_m < 20 and not near.too_far
        far_visit = plan_visit(
            session=session, account_id=account.id, starts_at=datetime(2026, 11, 21, 9, tzinfo=PARIS), rep_id=owner
        )
        far = check_in(
            session=session, visit_id=far_visit.id, at=arrived, lat=account.billing_lat + 0.018, lon=account.billing_lon
        )
        assert far.distance_m is not None and 1_900 < far.distance_m < 2_100 and far.too_far
        follow_up = write_report(
            session=session,
            visit_id=visit.id,
            notes="Four présenté, le chef hésite entre 6 et 10 niveaux.",
            outcome="follow_up",
            next_steps="Envoyer le devis 10 niveaux.",
            follow_up_on=tomorrow + timedelta(days=14),
            zone=PARIS,
            owner_id=owner,
            follow_up_reason="Relancer pour le four",
        )
        assert follow_up is not None
        with pytest.raises(InvalidEdit, match="already written"):
            write_report(
                session=session,
                visit_id=visit.id,
                notes="again",
                outcome=None,
                next_steps=None,
                follow_up_on=None,
                zone=PARIS,
                owner_id=owner,
                follow_up_reason="",
            )
        # The follow-up is due on its day (09:00 in Paris), not the day before.
        due_day = tomorrow + timedelta(days=14)
        eve = datetime.combine(due_day - timedelta(days=1), datetime.min.time(), tzinfo=PARIS) + timedelta(hours=20)
        assert follow_up.id not in {r.id for r in due_reminders(session=session, now=eve, zone=PARIS)}
        morning = eve + timedelta(hours=12)
        assert follow_up.id in {r.id for r in due_reminders(session=session, now=morning, zone=PARIS)}
        visit_id, other_id = visit.id, other.id
    alice.sync()
    with Session(api.app.state.engine) as session:  # type: ignore[attr-defined]
        stored = session.get(Visit, visit_id)
        cancelled = session.get(Visit, other_id)
        reminder = session.get(Reminder, follow_up.id)
    assert stored is not None and stored.status == "done" and stored.fixed_time
    assert stored.starts_at == datetime(2026, 11, 19, 9, tzinfo=UTC)
    assert stored.checked_in_at == arrived and stored.next_steps == "Envoyer le devis 10 niveaux."
    assert cancelled is not None and cancelled.status == "cancelled"
    assert reminder is not None and reminder.rule == "visit_follow_up"
    assert reminder.due_at == datetime(2026, 12, 3, 8, tzinfo=UTC)


def test_a_report_names_who_was_met_and_the_products_shown_once_and_the_server_keeps_them(
    api: TestClient, alice: SyncEngine
) -> None:
    owner = alice.state()["user_id"]
    with Session(alice.replica) as session:
        account = session.exec(select(Account)).first()
        assert account is not None
        met, *_ = contact_choices(session=session, account_id=account.id)
        elsewhere = session.exec(select(Contact).where(Contact.account_id != account.id)).first()
        products = session.exec(select(Product).limit(2)).all()
        assert elsewhere is not None and len(products) == 2
        visit = plan_visit(
            session=session, account_id=account.id, starts_at=datetime(2026, 11, 19, 9, tzinfo=PARIS), rep_id=owner
        )
        report = {
            "session": session,
            "visit_id": visit.id,
            "notes": "Gamme présentée à l'acheteuse.",
            "outcome": "positive",
            "next_steps": None,
            "follow_up_on": None,
            "zone": PARIS,
            "owner_id": owner,
            "follow_up_reason": "",
        }
        with pytest.raises(InvalidEdit, match="not a contact of this customer"):
            write_report(**report, met_contact_id=elsewhere.id)
        with pytest.raises(InvalidEdit, match="no product"):
            write_report(**report, products_presented=["0192f3e4-0000-7000-8000-00000000dead"])
        shown = [products[1].id, products[0].id, products[1].id]  # picked twice: named once
        write_report(**report, met_contact_id=met[0], products_presented=shown)
        with pytest.raises(InvalidEdit, match="already written"):
            update_record(session=session, entity="visit", record_id=visit.id, changes={"met_contact_id": elsewhere.id})
        local = session.get(Visit, visit.id)
        assert local is not None and local.products_presented == [products[1].id, products[0].id]
        visit_id, version = visit.id, local.version
    alice.sync()
    with Session(api.app.state.engine) as session:  # type: ignore[attr-defined]
        stored = session.get(Visit, visit_id)
        assert stored is not None and stored.status == "done"
        assert stored.met_contact_id == met[0] and stored.products_presented == [products[1].id, products[0].id]
        version = stored.version
    # A device that names someone of another customer, or rewrites the report, is refused.
    results = push_updates(
        api,
        alice,
        "visit",
        visit_id,
        version,
        9_001,
        {"met_contact_id": elsewhere.id},
        {"products_presented": [products[0].id]},
    )
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    assert "already written" in results[0]["reason"] and "already written" in results[1]["reason"]
    headers = {"Authorization": f"Bearer {alice._access_token}"}
    answer = api.get(f"/api/v1/visits/{visit_id}", headers=headers).json()
    assert answer["met_contact_id"] == met[0] and answer["products_presented"] == [products[1].id, products[0].id]


def test_the_server_refuses_a_visit_naming_a_contact_of_another_customer(api: TestClient, alice: SyncEngine) -> None:
    with Session(alice.replica) as session:
        visit = session.exec(select(Visit).where(Visit.status == "planned")).first()
        assert visit is not None
        elsewhere = session.exec(select(Contact).where(Contact.account_id != visit.account_id)).first()
        assert elsewhere is not None
        visit_id, version, contact_before = visit.id, visit.version, visit.contact_id
    results = push_updates(
        api,
        alice,
        "visit",
        visit_id,
        version,
        9_101,
        {"contact_id": elsewhere.id},
        {"products_presented": ["not an id"]},
    )
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    assert "not (or no longer) a contact of this customer" in results[0]["reason"]
    assert "products_presented" in results[1]["reason"]
    with Session(api.app.state.engine) as session:  # type: ignore[attr-defined]
        stored = session.get(Visit, visit_id)
        assert stored is not None and stored.contact_id == contact_before and stored.products_presented is None


def test_a_replica_made_by_an_older_app_gains_the_new_columns(alice: SyncEngine, tmp_path: Path) -> None:
    alice.replica.dispose()
    db = sqlite3.connect(tmp_path / "alice" / REPLICA_FILE)
    db.execute("ALTER TABLE visit DROP COLUMN fixed_time")
    db.commit()
    db.close()
    replica = open_replica(tmp_path / "alice")
    with Session(replica) as session:
        visits = session.exec(select(Visit)).all()
    assert visits and all(v.fixed_time is False for v in visits)
    replica.dispose()


def test_todays_route_orders_the_visits_left_and_keeps_appointments_in_their_slots(alice: SyncEngine) -> None:
    from app.agenda import todays_route
    from app.route import brute_force_route

    day = DEMO_DAY + timedelta(days=1)  # tomorrow: three planned visits in the demo
    home = (45.19, 5.72)  # Grenoble
    with Session(alice.replica) as session:
        planned = [v for v in day_agenda(session=session, day=day, zone=PARIS) if v.status == "planned"]
        assert len(planned) >= 3
        owner = alice.state()["user_id"]
        # Two more stops of the rep's choosing.
        accounts = session.exec(select(Account).where(Account.billing_lat.is_not(None)).limit(2)).all()  # type: ignore[union-attr]
        for n, account in enumerate(accounts):
            plan_visit(
                session=session,
                account_id=account.id,
                starts_at=datetime(2026, 11, 19, 16 + n, tzinfo=PARIS),
                rep_id=owner,
            )
        for appointment in planned[:2]:  # two appointments, kept in their time order
            session.get(Visit, appointment.id).fixed_time = True  # type: ignore[union-attr]
        session.commit()
        route = todays_route(session=session, day=day, zone=PARIS, start=home)
        visits = day_agenda(session=session, day=day, zone=PARIS)
    assert {v.id for v in route.stops} == {v.id for v in visits if v.status == "planned"} and not route.unplaced
    assert len(route.legs_km) == len(route.stops) + 1 and abs(sum(route.legs_km) - route.total_km) < 1e-9
    from app.route import Stop

    best = brute_force_route(
        start=home,
        stops=[Stop(v.id, v.lat, v.lon, v.starts_at if v.fixed_time else None) for v in route.stops],  # type: ignore[arg-type]
    )
    assert route.total_km <= best.total_km * 1.10
    order = [v.id for v in route.stops]
    first, second = sorted(planned[:2], key=lambda v: v.starts_at)
    assert order.index(first.id) < order.index(second.id)


def test_with_no_start_known_the_day_is_in_time_order_with_the_legs_between_visits(alice: SyncEngine) -> None:
    from geopy.distance import geodesic

    from app.agenda import todays_route
    from app.preferences import Preferences

    day = DEMO_DAY + timedelta(days=1)
    with Session(alice.replica) as session:
        route = todays_route(session=session, day=day, zone=PARIS, start=None)
    assert [v.starts_at for v in route.stops] == sorted(v.starts_at for v in route.stops) and len(route.stops) >= 3
    pairs = zip(route.stops, route.stops[1:], strict=False)
    assert route.legs_km == [geodesic((a.lat, a.lon), (b.lat, b.lon)).km for a, b in pairs]
    assert Preferences(home="45.19, 5.72").home_position() == (45.19, 5.72)
    assert Preferences(home="").home_position() is None and Preferences(home="91,0").home_position() is None
