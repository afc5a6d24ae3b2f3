"""The central API over HTTP (in-process transport), on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

import server.security
from app.ids import utcnow
from app.models import Account, Contact, Order, OrderLine
from server.models import ChangeLog, Device, User
from tests.conftest import sign_in


def _account_of(api: TestClient, username: str) -> Account:
    engine = api.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        owner = session.exec(select(User).where(User.username == username)).one()
        return session.exec(select(Account).where(Account.owner_id == owner.id).order_by(Account.name)).first()  # type: ignore[return-value]


def test_health_and_openapi_are_served(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    paths = api.get("/openapi.json").json()["paths"]
    assert "/api/v1/sync/pull" in paths and "/api/v1/auth/token" in paths


def test_a_wrong_password_is_refused_and_registers_no_device(api: TestClient) -> None:
    device_id = str(uuid.uuid4())
    response = api.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "alice", "password": "nope", "device_id": device_id},
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong user name or password"
    with Session(api.app.state.engine) as session:  # type: ignore[attr-defined]
        assert session.get(Device, device_id) is None


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(api: TestClient) -> None:
    response = api.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "mallory", "password": "demo", "device_id": str(uuid.uuid4())},
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong user name or password"


def _expiring(api: TestClient, delta: timedelta) -> dict[str, str]:
    """alice's access token, signed again with the server's key to expire `delta` from now."""
    headers = sign_in(api, "alice")
    claims = jwt.decode(headers["Authorization"].split()[1], options={"verify_signature": False})
    claims["exp"] = int((utcnow() + delta).timestamp())
    return {"Authorization": "Bearer " + jwt.encode(claims, api.app.state.secret_key, algorithm="HS256")}  # type: ignore[attr-defined]


def test_an_expired_access_token_is_refused_with_a_reason(api: TestClient) -> None:
    response = api.get("/api/v1/sync/pull", headers=_expiring(api, timedelta(minutes=-1)))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_token_accepted_before_is_refused_once_it_expires(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server keeps a checked token's claims (server/security.py): not past its expiry."""
    token = _expiring(api, timedelta(minutes=1))
    assert api.get("/api/v1/accounts", headers=token).status_code == 200
    later = utcnow() + timedelta(minutes=2)
    monkeypatch.setattr(server.security, "utcnow", lambda: later)  # the server's clock, past the expiry
    response = api.get("/api/v1/accounts", headers=token)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_forged_token_is_refused(api: TestClient) -> None:
    headers = sign_in(api, "alice")
    claims = jwt.decode(headers["Authorization"].split()[1], options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-server-key" * 3, algorithm="HS256")
    assert api.get("/api/v1/accounts", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert api.get("/api/v1/accounts").status_code == 401


def test_a_refresh_token_renews_once_and_then_is_spent(api: TestClient) -> None:
    device_id = str(uuid.uuid4())
    first = api.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "alice", "password": "demo", "device_id": device_id},
    ).json()
    renewed = api.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert renewed.status_code == 200
    assert renewed.json()["refresh_token"] != first["refresh_token"]
    again = api.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert again.status_code == 401


def test_a_rep_reads_own_accounts_but_never_another_reps(api: TestClient) -> None:
    alice = sign_in(api, "alice")
    own, theirs = _account_of(api, "alice"), _account_of(api, "bruno")
    assert api.get(f"/api/v1/accounts/{own.id}", headers=alice).json()["name"] == own.name
    response = api.get(f"/api/v1/accounts/{theirs.id}", headers=alice)
    assert response.status_code == 404
    assert theirs.name not in response.text
    assert api.get(f"/api/v1/accounts/{theirs.id}/contacts", headers=alice).status_code == 404
    listed = api.get("/api/v1/accounts", params={"limit": 500}, headers=alice).json()
    assert len(listed) == 110
    assert theirs.id not in {a["id"] for a in listed}
    with Session(api.app.state.engine) as session:  # type: ignore[attr-defined]
        bruno_order = session.exec(select(Order).where(Order.account_id == theirs.id)).first()
        bruno_contact = session.exec(select(Contact).where(Contact.account_id == theirs.id)).first()
    assert bruno_contact is not None
    assert api.get(f"/api/v1/contacts/{bruno_contact.id}", headers=alice).status_code == 404
    if bruno_order is not None:
        assert api.get(f"/api/v1/orders/{bruno_order.id}", headers=alice).status_code == 404


def test_a_rep_cannot_use_the_manager_endpoints(api: TestClient) -> None:
    alice = sign_in(api, "alice")
    own = _account_of(api, "alice")
    assert api.post("/api/v1/accounts", json={"name": "Nouveau"}, headers=alice).status_code == 403
    assert api.patch(f"/api/v1/accounts/{own.id}", json={"name": "X"}, headers=alice).status_code == 403
    with Session(api.app.state.engine) as session:  # type: ignore[attr-defined]
        assert session.get(Account, own.id).name == own.name  # type: ignore[union-attr]


def test_a_manager_creates_updates_and_reassigns_accounts_of_the_team(api: TestClient) -> None:
    manon = sign_in(api, "manon")
    with Session(api.app.state.engine) as session:  # type: ignore[attr-defined]
        alice_id = session.exec(select(User.id).where(User.username == "alice")).one()
        bruno_id = session.exec(select(User.id).where(User.username == "bruno")).one()
    created = api.post(
        "/api/v1/accounts",
        json={"name": "Hôtel des Alpes", "billing_city": "Annecy", "owner_id": alice_id, "lifecycle_stage": "prospect"},
        headers=manon,
    )
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["version"] == 1
    changed = api.patch(f"/api/v1/accounts/{account['id']}", json={"phone": "+33 4 50 00 00 00"}, headers=manon).json()
    assert changed["phone"] == "+33 4 50 00 00 00" and changed["version"] == 2 and changed["name"] == "Hôtel des Alpes"
    contact = api.post(
        "/api/v1/contacts",
        json={"account_id": account["id"], "last_name": "Favre", "first_name": "Jeanne"},
        headers=manon,
    )
    assert contact.status_code == 201, contact.text
    moved = api.post(f"/api/v1/accounts/{account['id']}/reassign", json={"owner_id": bruno_id}, headers=manon)
    assert moved.status_code == 200 and moved.json()["owner_id"] == bruno_id
    alice = sign_in(api, "alice")
    assert api.get(f"/api/v1/accounts/{account['id']}", headers=alice).status_code == 404
    bruno = sign_in(api, "bruno")
    assert api.get(f"/api/v1/accounts/{account['id']}/contacts", headers=bruno).json()[0]["last_name"] == "Favre"


def test_a_manager_enters_an_order_and_the_server_computes_its_totals(api: TestClient) -> None:
    manon = sign_in(api, "manon")
    account = _account_of(api, "chloe")
    response = api.post(
        "/api/v1/orders",
        json={
            "account_id": account.id,
            "ordered_at": "2026-11-02T09:30:00Z",
            "currency": "EUR",
            "lines": [
                {"description": "Gants nitrile", "quantity": 3, "unit_price_amount": 890, "tax_rate_bp": 2000},
                {
                    "description": "Café en grains",
                    "quantity": 2,
                    "unit_price_amount": 1890,
                    "discount_bp": 1000,
                    "tax_rate_bp": 550,
                },
            ],
        },
        headers=manon,
    )
    assert response.status_code == 201, response.text
    order = response.json()
    # 3 x 8.90 = 26.70 (+ 5.34 VAT); 2 x 18.90 - 10 % = 34.02 (+ 1.87 VAT, 1.8711 rounded)
    assert order["net_amount"] == 2670 + 3402
    assert order["tax_amount"] == 534 + 187
    assert order["gross_amount"] == 2670 + 3402 + 534 + 187
    with Session(api.app.state.engine) as session:  # type: ignore[attr-defined]
        lines = session.exec(select(OrderLine).where(OrderLine.order_id == order["id"])).all()
        assert {line.account_id for line in lines} == {account.id}
    chloe = sign_in(api, "chloe")
    assert api.get(f"/api/v1/orders/{order['id']}", headers=chloe).json()["gross_amount"] == order["gross_amount"]


def test_malformed_and_unknown_input_is_refused_and_changes_nothing(api: TestClient) -> None:
    manon = sign_in(api, "manon")
    engine = api.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        accounts_before = conn.execute(sa.select(sa.func.count()).select_from(Account)).scalar_one()
        log_before = conn.execute(sa.select(sa.func.count()).select_from(ChangeLog)).scalar_one()
    bad_json = api.post(
        "/api/v1/accounts", content=b'{"name": "Broken', headers={**manon, "Content-Type": "application/json"}
    )
    assert bad_json.status_code == 422
    assert "JSON" in bad_json.text
    unknown = api.post("/api/v1/accounts", json={"name": "Ok", "colour": "blue"}, headers=manon)
    assert unknown.status_code == 422
    assert "colour" in unknown.text
    wrong_type = api.post("/api/v1/accounts", json={"name": "Ok", "payment_terms_days": "soon"}, headers=manon)
    assert wrong_type.status_code == 422
    bad_stage = api.post("/api/v1/accounts", json={"name": "Ok", "lifecycle_stage": "friend"}, headers=manon)
    assert bad_stage.status_code == 422
    bad_order = api.post(
        "/api/v1/orders",
        json={"account_id": _account_of(api, "alice").id, "ordered_at": "2026-11-02T09:30:00Z", "lines": []},
        headers=manon,
    )
    assert bad_order.status_code == 422
    assert api.get("/api/v1/sync/pull", params={"cursor": "s.x.y"}, headers=manon).status_code == 400
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Account)).scalar_one() == accounts_before
        assert conn.execute(sa.select(sa.func.count()).select_from(ChangeLog)).scalar_one() == log_before


def test_ids_chosen_by_the_caller_must_be_uuids(api: TestClient) -> None:
    manon = sign_in(api, "manon")
    for bad in ("", "zz.zz", "not-a-uuid", "0192f3e4-0000-7000-8000-00000000000G"):
        response = api.post("/api/v1/accounts", json={"id": bad, "name": "Hôtel"}, headers=manon)
        assert response.status_code == 422, bad
    good = str(uuid.uuid4())
    assert api.post("/api/v1/accounts", json={"id": good, "name": "Hôtel"}, headers=manon).status_code == 201
    again = api.post("/api/v1/accounts", json={"id": good, "name": "Hôtel"}, headers=manon)
    assert again.status_code == 409


def test_blanking_a_required_field_is_refused_with_its_name(api: TestClient) -> None:
    manon = sign_in(api, "manon")
    account = _account_of(api, "alice")
    for field in ("tags", "lifecycle_stage", "payment_terms_days", "name"):
        response = api.patch(f"/api/v1/accounts/{account.id}", json={field: None}, headers=manon)
        assert response.status_code == 422, field
        assert field in response.text
    assert api.patch(f"/api/v1/accounts/{account.id}", json={"name": ""}, headers=manon).status_code == 422
    with Session(api.app.state.engine) as session:  # type: ignore[attr-defined]
        contact = session.exec(select(Contact).where(Contact.account_id == account.id)).first()
    assert contact is not None
    response = api.patch(f"/api/v1/contacts/{contact.id}", json={"consent_email": None}, headers=manon)
    assert response.status_code == 422 and "consent_email" in response.text
    with Session(api.app.state.engine) as session:  # type: ignore[attr-defined]
        assert session.get(Account, account.id).version == account.version  # type: ignore[union-attr]


def test_orders_with_a_local_time_or_an_absurd_price_are_refused(api: TestClient) -> None:
    manon = sign_in(api, "manon")
    account = _account_of(api, "alice")
    line = {"description": "Four", "quantity": 1, "unit_price_amount": 459_000}
    naive = api.post(
        "/api/v1/orders",
        json={"account_id": account.id, "ordered_at": "2026-11-02T09:30:00", "lines": [line]},
        headers=manon,
    )
    assert naive.status_code == 422 and "timezone" in naive.text
    huge = {**line, "unit_price_amount": 10**19}
    absurd = api.post(
        "/api/v1/orders",
        json={"account_id": account.id, "ordered_at": "2026-11-02T09:30:00Z", "lines": [huge]},
        headers=manon,
    )
    assert absurd.status_code == 422


def test_cursors_out_of_range_are_refused_not_crashed_on(api: TestClient) -> None:
    alice = sign_in(api, "alice")
    for cursor in ("d.99999999999999999999999.0", "s.99999999999999999999.0.", "d.5.-9999", "s.5.99.x", "9" * 20):
        response = api.get("/api/v1/sync/pull", params={"cursor": cursor}, headers=alice)
        assert response.status_code == 400, cursor
        assert "pull again without a cursor" in response.json()["detail"]
    # A position this server's log never reached, yet could have: a server restored from a backup.
    response = api.get("/api/v1/sync/pull", params={"cursor": "999999999"}, headers=alice)
    assert response.status_code == 410 and "restored from a backup" in response.json()["detail"]


def test_a_refresh_token_used_twice_ends_every_session_of_the_device(api: TestClient) -> None:
    device_id = str(uuid.uuid4())
    first = api.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "alice", "password": "demo", "device_id": device_id},
    ).json()
    renewed = api.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    ).json()
    replayed = api.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert replayed.status_code == 401 and "used twice" in replayed.json()["detail"]
    # The thief's replay also ends the legitimate holder's newer session.
    after = api.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": renewed["refresh_token"]}
    )
    assert after.status_code == 401
