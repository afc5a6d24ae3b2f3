"""The visits API over the demo company, on SQLite and on PostgreSQL: each caller sees the
visits of their scope, a visit out of reach answers 404, and a report written offline on a
rep's device is in the manager's list once the rep has synced."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.agenda import check_in, write_report
from app.models import Account, Visit
from app.replica import open_replica
from server.models import User
from sync.engine import SyncEngine
from tests.conftest import DEMO_DAY, sign_in

PARIS = ZoneInfo("Europe/Paris")
FIRST, LAST = DEMO_DAY - timedelta(days=30), DEMO_DAY + timedelta(days=14)


def _expected(api: TestClient, first: date, last: date, *owners: str) -> list[tuple[datetime, str]]:
    """(start, id) of the visits on the accounts of `owners` starting within [first, last] UTC."""
    with Session(api.app.state.engine) as session:  # type: ignore[attr-defined]
        owner_ids = session.exec(select(User.id).where(col(User.username).in_(owners))).all()
        visits = session.exec(
            select(Visit)
            .join(Account, col(Account.id) == col(Visit.account_id))
            .where(
                col(Account.owner_id).in_(owner_ids),
                col(Visit.starts_at) >= datetime(first.year, first.month, first.day, tzinfo=UTC),
                col(Visit.starts_at) < datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1),
            )
        ).all()
    return sorted((v.starts_at, v.id) for v in visits)


def _listed(api: TestClient, username: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get(
        "/api/v1/visits",
        params={"from": FIRST.isoformat(), "to": LAST.isoformat(), **params},
        headers=sign_in(api, username),
    )
    assert response.status_code == 200, response.text
    visits: list[dict[str, Any]] = response.json()
    return visits


def _start(visit: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(visit["starts_at"])


def test_a_rep_sees_the_visits_of_their_own_accounts_only(api: TestClient) -> None:
    visits = _listed(api, "alice")
    assert [(_start(v), v["id"]) for v in visits] == _expected(api, FIRST, LAST, "alice")
    assert len(visits) >= 30  # the past visits and two weeks of rounds
    assert {v["rep_username"] for v in visits} == {"alice"}
    assert all(v["account_name"] for v in visits)
    done = next(v for v in visits if v["status"] == "done" and v["report_notes"])
    assert done["outcome"] and done["next_steps"] and done["checked_in_at"] and done["check_in_lat"] is not None


def test_a_manager_sees_the_teams_visits_and_can_pick_one_rep(api: TestClient) -> None:
    visits = _listed(api, "manon")
    assert [(_start(v), v["id"]) for v in visits] == _expected(api, FIRST, LAST, "alice", "bruno", "chloe", "manon")
    assert {v["rep_username"] for v in visits} == {"alice", "bruno", "chloe"}
    brunos = _listed(api, "manon", rep="bruno")
    assert [v["id"] for v in brunos] == [v["id"] for v in visits if v["rep_username"] == "bruno"]
    assert brunos


def test_a_visit_out_of_reach_answers_404_and_one_in_reach_the_visit(api: TestClient) -> None:
    bruno_visit = _listed(api, "bruno")[0]
    alice = sign_in(api, "alice")
    for visit_id in (bruno_visit["id"], "0192f0c4-0000-7000-8000-000000000000"):
        response = api.get(f"/api/v1/visits/{visit_id}", headers=alice)
        assert response.status_code == 404
        assert response.json()["detail"] == "no such visit in your scope"
    for username in ("bruno", "manon"):
        response = api.get(f"/api/v1/visits/{bruno_visit['id']}", headers=sign_in(api, username))
        assert response.status_code == 200
        assert response.json() == bruno_visit
    assert api.get(f"/api/v1/visits/{bruno_visit['id']}").status_code == 401
    paths = api.get("/openapi.json").json()["paths"]
    assert "/api/v1/visits" in paths and "/api/v1/visits/{visit_id}" in paths


def test_a_bad_period_or_rep_answers_422_with_a_reason(api: TestClient) -> None:
    manon = sign_in(api, "manon")

    def detail(**params: str) -> Any:
        response = api.get("/api/v1/visits", params=params, headers=manon)
        assert response.status_code == 422, response.text
        return response.json()["detail"]

    assert detail(**{"from": "2026-11-18", "to": "2026-11-17"}) == "to: the period ends before it starts"
    # 2028 is a leap year: 1 January to 31 December is 366 days, one day more is too many.
    assert detail(**{"from": "2028-01-01", "to": "2029-01-01"}) == "to: a period covers at most 366 days"
    ok = api.get("/api/v1/visits", params={"from": "2028-01-01", "to": "2028-12-31"}, headers=manon)
    assert ok.status_code == 200 and ok.json() == []
    missing = detail(**{"from": "2026-11-18"})
    assert missing[0]["loc"] == ["query", "to"] and missing[0]["msg"] == "Field required"
    assert detail(**{"from": "2026-11-18", "to": "18/11/2026"})[0]["loc"] == ["query", "to"]
    assert (
        detail(**{"from": "2026-11-18", "to": "2026-11-18", "rep": "mallory"}) == "rep: no user 'mallory' in your team"
    )
    response = api.get(
        "/api/v1/visits",
        params={"from": "2026-11-18", "to": "2026-11-18", "rep": "bruno"},
        headers=sign_in(api, "alice"),
    )
    assert response.status_code == 422 and response.json()["detail"] == "rep: no user 'bruno' in your team"


def test_a_report_written_offline_on_the_reps_device_shows_in_the_managers_list_after_sync(
    api: TestClient, tmp_path: Path
) -> None:
    alice = SyncEngine(replica=open_replica(tmp_path / "alice"), http=api)
    alice.sign_in(username="alice", password="demo")
    alice.sync()
    with Session(alice.replica) as session:
        visit = session.exec(
            select(Visit)
            .where(Visit.status == "planned", col(Visit.starts_at) >= datetime(2026, 11, 18, tzinfo=UTC))
            .order_by(col(Visit.starts_at))
        ).first()
        assert visit is not None
        visit_id, starts_at = visit.id, visit.starts_at
        account = session.get(Account, visit.account_id)
        assert account is not None and account.billing_lat is not None and account.billing_lon is not None
        account_name, position = account.name, (account.billing_lat + 0.0002, account.billing_lon)
        arrived = starts_at - timedelta(minutes=3)
        check_in(session=session, visit_id=visit_id, at=arrived, lat=position[0], lon=position[1])
        write_report(
            session=session,
            visit_id=visit_id,
            notes="Four mixte présenté ; le chef veut un essai.",
            outcome="follow_up",
            next_steps="Organiser l'essai du four.",
            follow_up_on=starts_at.astimezone(PARIS).date() + timedelta(days=14),
            zone=PARIS,
            owner_id=alice.state()["user_id"],
            follow_up_reason="Relancer après l'essai",
        )
    day = starts_at.date().isoformat()
    manon = sign_in(api, "manon")

    def managers_view() -> dict[str, Any]:
        response = api.get("/api/v1/visits", params={"from": day, "to": day, "rep": "alice"}, headers=manon)
        assert response.status_code == 200, response.text
        shown: dict[str, Any] = next(v for v in response.json() if v["id"] == visit_id)
        return shown

    before = managers_view()
    assert before["status"] == "planned" and before["report_notes"] is None and before["checked_in_at"] is None
    alice.sync()
    after = managers_view()
    assert after["status"] == "done"
    assert after["report_notes"] == "Four mixte présenté ; le chef veut un essai."
    assert after["outcome"] == "follow_up" and after["next_steps"] == "Organiser l'essai du four."
    assert datetime.fromisoformat(after["checked_in_at"]) == arrived
    assert (after["check_in_lat"], after["check_in_lon"]) == position
    assert after["account_name"] == account_name and after["rep_username"] == "alice"
    assert api.get(f"/api/v1/visits/{visit_id}", headers=manon).json() == after
