"""Every endpoint keeps alice's records from whoever should not reach them.

For each operation of the served OpenAPI document there is one case below (a test fails when an
endpoint has none). Each case tries alice's records as bruno (another rep of her team), as
"oscar" (a manager of another team) and anonymously: by id, by search or list, by sync (pull
and push), by import, by figures. Ids outside one's reach answer 404; a role that may not do
the thing answers 403; no token answers 401; lists, pulls and figures leave alice's out. Each
case also does the thing once as someone who may, so that it can fail. SQLite, and PostgreSQL
for the cases whose queries differ (ON_POSTGRES).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from app.models import Account, Contact, Order, Quote, Visit
from server.db import ServerSession
from server.models import MergeProposal, Role, User
from server.security import hash_password
from tests.conftest import sign_in

PASSWORD = "quatre saisons en provence"


@dataclass
class World:
    api: TestClient
    engine: Engine
    alice: dict[str, str]
    bruno: dict[str, str]
    oscar: dict[str, str]
    manon: dict[str, str]
    admin: dict[str, str]
    alice_id: str
    alice_device: str
    account: Account
    other_account: Account
    contact: Contact
    order: Order
    quote: Quote
    visit: Visit
    proposal: str

    def each_outsider(self) -> list[tuple[str, dict[str, str]]]:
        return [("bruno", self.bruno), ("oscar", self.oscar), ("anonymous", {})]


ANON: dict[int | None, int] = {}


@pytest.fixture
def world(api: TestClient, demo_engine: Engine) -> World:
    with ServerSession(demo_engine) as session:
        for name, role in (("oscar", Role.manager), ("ines", Role.admin)):
            session.add(User(username=name, full_name=name.title(), role=role, password_hash=hash_password(PASSWORD)))
        session.commit()
    with Session(demo_engine) as session:
        alice_id = session.exec(select(User.id).where(User.username == "alice")).one()
        # An account of alice's with contacts and orders; a quote and a visit of hers.
        account = session.exec(
            select(Account)
            .where(Account.owner_id == alice_id)
            .where(col(Account.id).in_(select(Contact.account_id)), col(Account.id).in_(select(Order.account_id)))
            .order_by(col(Account.name))
        ).first()
        assert account is not None
        other = session.exec(
            select(Account).where(Account.owner_id == alice_id, Account.id != account.id).order_by(col(Account.name))
        ).first()
        assert other is not None
        contact = session.exec(select(Contact).where(Contact.account_id == account.id)).first()
        order = session.exec(select(Order).where(Order.account_id == account.id)).first()
        mine = select(Account.id).where(Account.owner_id == alice_id)
        visit = session.exec(select(Visit).where(col(Visit.account_id).in_(mine)).order_by(col(Visit.id))).first()
        assert contact and order and visit
    with ServerSession(demo_engine, expire_on_commit=False) as session:
        # A quote of alice's waiting for her manager's approval (the demo company has none).
        quote = Quote(
            account_id=account.id,
            provisional_number="A-1",
            created_by=alice_id,
            approval="needed",
            net_amount=10_000,
            gross_amount=12_000,
            tax_amount=2_000,
        )
        session.add(quote)
        proposal = MergeProposal(account_id=account.id, duplicate_id=other.id, reasons=["test"])
        session.add(proposal)
        session.commit()
        proposal_id = proposal.id
    alice_device = str(uuid.uuid4())
    return World(
        api=api,
        engine=demo_engine,
        alice=sign_in(api, "alice", device_id=alice_device),
        bruno=sign_in(api, "bruno"),
        oscar=sign_in(api, "oscar", PASSWORD),
        manon=sign_in(api, "manon"),
        admin=sign_in(api, "ines", PASSWORD),
        alice_id=alice_id,
        alice_device=alice_device,
        account=account,
        other_account=other,
        contact=contact,
        order=order,
        quote=quote,
        visit=visit,
        proposal=proposal_id,
    )


def _expect(response: httpx.Response, status: int, who: str) -> None:
    assert response.status_code == status, f"{who}: {response.status_code} {response.text[:300]}"


def _by_id(w: World, method: str, url: str, *, rep: int = 404, json: Any = None, allowed: dict[str, str]) -> None:
    """alice's record by id: 404 for bruno (or `rep` when his role may not do it at all), 404
    for oscar, 401 anonymously; and one who may gets 2xx."""
    for who, headers in w.each_outsider():
        expected = {"bruno": rep, "oscar": 404, "anonymous": 401}[who]
        _expect(w.api.request(method, url, headers=headers, json=json), expected, who)
    answer = w.api.request(method, url, headers=allowed, json=json)
    assert answer.status_code < 300, answer.text


def _role_only(w: World, method: str, url: str, *, json: Any = None, files: Any = None) -> None:
    """An endpoint of a role bruno and oscar do not have: 403 for both, 401 anonymously."""
    for who, headers in w.each_outsider():
        expected = 401 if who == "anonymous" else 403
        _expect(w.api.request(method, url, headers=headers, json=json, files=files), expected, who)


def _ids(rows: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in rows}


def _listed(w: World, url: str, params: dict[str, Any], alice_ids: set[str], key: str = "id") -> None:
    """A list or search: alice's rows are in hers and in nobody else's but her manager's."""
    mine = {r[key] for r in w.api.get(url, params=params, headers=w.alice).json()}
    assert alice_ids & mine, "alice must see her own, or the case proves nothing"
    for who, headers in w.each_outsider():
        answer = w.api.get(url, params=params, headers=headers)
        if who == "anonymous":
            _expect(answer, 401, who)
            continue
        _expect(answer, 200, who)
        assert not alice_ids & {r[key] for r in answer.json()}, f"{who} sees alice's records"


# -- cases, one per operation ---------------------------------------------------------------


def token(w: World) -> None:
    # The only anonymous door: alice's name with another's password, or her spent refresh token.
    assert (
        w.api.post(
            "/api/v1/auth/token",
            data={
                "grant_type": "password",
                "username": "alice",
                "password": "demo-bruno",
                "device_id": str(uuid.uuid4()),
            },
        ).status_code
        == 401
    )
    refused = w.api.post("/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": "x" * 43})
    _expect(refused, 401, "anonymous")


def logout(w: World) -> None:
    _expect(w.api.post("/api/v1/auth/logout"), 401, "anonymous")
    _expect(w.api.post("/api/v1/auth/logout", headers=w.bruno), 204, "bruno")
    # bruno's sign-out ended his device's session, not alice's.
    assert w.api.get(f"/api/v1/accounts/{w.account.id}", headers=w.alice).status_code == 200


def users_me(w: World) -> None:
    _expect(w.api.get("/api/v1/users/me"), 401, "anonymous")
    assert w.api.get("/api/v1/users/me", headers=w.bruno).json()["username"] == "bruno"


def users_list(w: World) -> None:
    _role_only(w, "GET", "/api/v1/users")
    assert w.alice_id in _ids(w.api.get("/api/v1/users", headers=w.admin).json())


def users_create(w: World) -> None:
    body = {"username": "mallory", "full_name": "M", "password": PASSWORD, "role": "admin"}
    _role_only(w, "POST", "/api/v1/users", json=body)
    _expect(w.api.post("/api/v1/users", json=body, headers=w.admin), 201, "admin")


def users_read(w: World) -> None:
    _role_only(w, "GET", f"/api/v1/users/{w.alice_id}")
    _expect(w.api.get(f"/api/v1/users/{w.alice_id}", headers=w.admin), 200, "admin")


def users_update(w: World) -> None:
    _role_only(w, "PATCH", f"/api/v1/users/{w.alice_id}", json={"role": "admin"})
    _expect(w.api.patch(f"/api/v1/users/{w.alice_id}", json={"full_name": "Alice M."}, headers=w.admin), 200, "admin")


def users_password(w: World) -> None:
    body = {"new_password": "un mot de passe de voleur"}
    _by_id(w, "POST", f"/api/v1/users/{w.alice_id}/password", json=body, allowed=w.admin)


def devices_list(w: World) -> None:
    _listed(w, "/api/v1/devices", {}, {w.alice_device})


def devices_revoke(w: World) -> None:
    _by_id(w, "POST", f"/api/v1/devices/{w.alice_device}/revoke", rep=404, allowed=w.admin)


def audit_read(w: World) -> None:
    for who, headers in w.each_outsider():
        expected = {"bruno": 403, "oscar": 404, "anonymous": 401}[who]
        _expect(w.api.get("/api/v1/audit", params={"account_id": w.account.id}, headers=headers), expected, who)
        _expect(w.api.get("/api/v1/audit", params={"user_id": w.alice_id}, headers=headers), expected, who)
    _expect(w.api.get("/api/v1/audit", params={"account_id": w.account.id}, headers=w.manon), 200, "manon")


def _pulled_ids(w: World, headers: dict[str, str]) -> set[str]:
    ids: set[str] = set()
    cursor = None
    while True:
        params = {"limit": 5000, **({"cursor": cursor} if cursor else {})}
        page = w.api.get("/api/v1/sync/pull", params=params, headers=headers).json()
        for change in page["changes"]:
            if "rows" in change:
                at = change["columns"].index("id")
                ids.update(row[at] for row in change["rows"])
            else:
                ids.add(change["id"])
        cursor = page["cursor"]
        if not page["has_more"]:
            return ids


def sync_pull(w: World) -> None:
    alices = {w.account.id, w.contact.id, w.order.id, w.quote.id, w.visit.id}
    assert alices <= _pulled_ids(w, w.alice)
    for who, headers in (("bruno", w.bruno), ("oscar", w.oscar)):
        assert not alices & _pulled_ids(w, headers), f"{who} pulled alice's records"
    _expect(w.api.get("/api/v1/sync/pull"), 401, "anonymous")


def sync_push(w: World) -> None:
    def push(headers: dict[str, str], device: str) -> httpx.Response:
        body = {
            "client_id": device,
            "schema_version": 1,
            "mutations": [
                {
                    "mid": 1,
                    "entity": "account",
                    "id": w.account.id,
                    "op": "update",
                    "base_version": w.account.version,
                    "fields": {"notes": "pris par un autre"},
                },
                {
                    "mid": 2,
                    "entity": "contact",
                    "id": str(uuid.uuid4()),
                    "op": "create",
                    "fields": {"account_id": w.account.id, "last_name": "Intrus"},
                },
            ],
        }
        return w.api.post("/api/v1/sync/push", json=body, headers=headers)

    for who, headers in w.each_outsider():
        if who == "anonymous":
            _expect(push(headers, str(uuid.uuid4())), 401, who)
            continue
        device = w.api.get("/api/v1/devices", headers=headers).json()
        current = next(d["id"] for d in device if d["current"])
        answer = push(headers, current)
        _expect(answer, 200, who)
        assert [r["status"] for r in answer.json()["results"]] == ["rejected", "rejected"], answer.text
    with Session(w.engine) as session:
        assert session.get(Account, w.account.id).notes != "pris par un autre"  # type: ignore[union-attr]
        assert session.exec(select(func.count()).where(Contact.last_name == "Intrus")).one() == 0
    mine = push(w.alice, w.alice_device)
    assert [r["status"] for r in mine.json()["results"]] == ["applied", "applied"], mine.text


def accounts_list(w: World) -> None:
    _listed(w, "/api/v1/accounts", {"q": w.account.name[:6], "limit": 500}, {w.account.id})


def accounts_read(w: World) -> None:
    _by_id(w, "GET", f"/api/v1/accounts/{w.account.id}", allowed=w.alice)


def accounts_create(w: World) -> None:
    body = {"name": "Compte d'Alice", "owner_id": w.alice_id}
    for who, headers in w.each_outsider():
        expected = {"bruno": 403, "oscar": 422, "anonymous": 401}[who]  # oscar: alice is not of his team
        _expect(w.api.post("/api/v1/accounts", json=body, headers=headers), expected, who)
    _expect(w.api.post("/api/v1/accounts", json=body, headers=w.manon), 201, "manon")


def accounts_update(w: World) -> None:
    _by_id(w, "PATCH", f"/api/v1/accounts/{w.account.id}", rep=403, json={"notes": "x"}, allowed=w.manon)


def accounts_reassign(w: World) -> None:
    oscar_id = w.api.get("/api/v1/users/me", headers=w.oscar).json()["id"]
    _by_id(
        w, "POST", f"/api/v1/accounts/{w.account.id}/reassign", rep=403, json={"owner_id": oscar_id}, allowed=w.admin
    )


def contacts_list(w: World) -> None:
    _by_id(w, "GET", f"/api/v1/accounts/{w.account.id}/contacts", allowed=w.alice)


def contacts_read(w: World) -> None:
    _by_id(w, "GET", f"/api/v1/contacts/{w.contact.id}", allowed=w.alice)


def contacts_create(w: World) -> None:
    body = {"account_id": w.account.id, "last_name": "Nouveau"}
    _by_id(w, "POST", "/api/v1/contacts", rep=403, json=body, allowed=w.manon)


def contacts_update(w: World) -> None:
    _by_id(w, "PATCH", f"/api/v1/contacts/{w.contact.id}", rep=403, json={"role": "x"}, allowed=w.manon)


def contacts_export(w: World) -> None:
    _by_id(w, "GET", f"/api/v1/contacts/{w.contact.id}/export", allowed=w.alice)


def contacts_erase(w: World) -> None:
    _by_id(w, "DELETE", f"/api/v1/contacts/{w.contact.id}", rep=403, allowed=w.manon)


def _order_body(w: World) -> dict[str, Any]:
    return {
        "account_id": w.account.id,
        "ordered_at": "2026-11-10T09:30:00Z",
        "currency": "EUR",
        "lines": [{"description": "Caisse", "quantity": 1, "unit_price_amount": 10**9, "tax_rate_bp": 2000}],
    }


def orders_create(w: World) -> None:
    _by_id(w, "POST", "/api/v1/orders", rep=403, json=_order_body(w), allowed=w.manon)


def orders_read(w: World) -> None:
    _by_id(w, "GET", f"/api/v1/orders/{w.order.id}", allowed=w.alice)


def quotes_list(w: World) -> None:
    _listed(w, "/api/v1/quotes", {}, {w.quote.id})


def quotes_read(w: World) -> None:
    _by_id(w, "GET", f"/api/v1/quotes/{w.quote.id}", allowed=w.alice)


def quotes_approval(w: World) -> None:
    for who, headers in w.each_outsider():
        expected = {"bruno": 403, "oscar": 404, "anonymous": 401}[who]
        answer = w.api.post(f"/api/v1/quotes/{w.quote.id}/approval", json={"decision": "approve"}, headers=headers)
        _expect(answer, expected, who)
    # manon reaches it: an answer about the quote itself (approved, or "no approval pending").
    assert w.api.post(
        f"/api/v1/quotes/{w.quote.id}/approval", json={"decision": "approve"}, headers=w.manon
    ).status_code in (200, 409)


def figures(w: World) -> None:
    period = {"from": "2026-11-01", "to": "2026-11-30"}

    def revenue(headers: dict[str, str]) -> Any:
        answer = w.api.get("/api/v1/figures", params=period, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    before = {who: revenue(h) for who, h in (("bruno", w.bruno), ("oscar", w.oscar), ("manon", w.manon))}
    _expect(w.api.post("/api/v1/orders", json=_order_body(w), headers=w.manon), 201, "manon")
    assert revenue(w.bruno) == before["bruno"] and revenue(w.oscar) == before["oscar"]
    assert revenue(w.manon) != before["manon"], "alice's big order must count in her manager's figures"
    _expect(w.api.get("/api/v1/figures", params=period), 401, "anonymous")


def merges_list(w: World) -> None:
    for who, headers in w.each_outsider():
        answer = w.api.get("/api/v1/merges", headers=headers)
        if who == "anonymous":
            _expect(answer, 401, who)
        elif answer.status_code == 200:
            assert w.proposal not in _ids(answer.json()), f"{who} sees alice's merge proposal"
        else:
            _expect(answer, 403, who)
    assert w.proposal in _ids(w.api.get("/api/v1/merges", headers=w.manon).json())


def merges_decide(w: World) -> None:
    _by_id(w, "POST", f"/api/v1/merges/{w.proposal}", rep=403, json={"action": "dismiss"}, allowed=w.manon)


def visits_list(w: World) -> None:
    day = w.visit.starts_at.date().isoformat()
    _listed(w, "/api/v1/visits", {"from": day, "to": day}, {w.visit.id})
    for who, headers in (("bruno", w.bruno), ("oscar", w.oscar)):
        answer = w.api.get("/api/v1/visits", params={"from": day, "to": day, "rep": "alice"}, headers=headers)
        _expect(answer, 422, who)  # "no user 'alice' in your team": as for a name that does not exist


def visits_read(w: World) -> None:
    _by_id(w, "GET", f"/api/v1/visits/{w.visit.id}", allowed=w.alice)


def imports(w: World) -> None:
    with Session(w.engine) as session:
        external = session.get(Account, w.account.id).external_id  # type: ignore[union-attr]
    assert external, "the demo accounts come from the ERP, with their external id"
    accounts_csv = f"external_id,name\n{external},Racheté par Oscar\n".encode()
    orders_csv = f"account_external_id,order_external_id,ordered_at,net_amount,currency\n{external},OSC-1,2026-11-10,100,EUR\n".encode()
    for kind, data in (("accounts", accounts_csv), ("orders", orders_csv)):
        url = f"/api/v1/imports/{kind}"
        _expect(w.api.post(url, files={"file": ("x.csv", data)}), 401, "anonymous")
        _expect(w.api.post(url, files={"file": ("x.csv", data)}, headers=w.bruno), 403, "bruno")
        answer = w.api.post(url, files={"file": ("x.csv", data)}, headers=w.oscar, params={"skip_bad_rows": True})
        _expect(answer, 200, "oscar")
        assert answer.json()["created"] == answer.json()["updated"] == 0, answer.text
        assert answer.json()["bad_rows"][0]["line"] == 2
    with Session(w.engine) as session:
        assert session.get(Account, w.account.id).name == w.account.name  # type: ignore[union-attr]
        assert session.exec(select(Order).where(Order.external_id == "OSC-1")).first() is None
    mine = w.api.post("/api/v1/imports/orders", files={"file": ("x.csv", orders_csv)}, headers=w.manon)
    assert mine.json()["created"] == 1, mine.text


def healthz(w: World) -> None:
    assert w.api.get("/healthz").json() == {"status": "ok"}  # public, and says nothing of anyone's data


def readyz(w: World) -> None:
    assert w.api.get("/readyz").json()["status"] == "ready"  # public: the schema version only


CASES: dict[tuple[str, str], Callable[[World], None]] = {
    ("POST", "/api/v1/auth/token"): token,
    ("POST", "/api/v1/auth/logout"): logout,
    ("GET", "/api/v1/users/me"): users_me,
    ("GET", "/api/v1/users"): users_list,
    ("POST", "/api/v1/users"): users_create,
    ("GET", "/api/v1/users/{user_id}"): users_read,
    ("PATCH", "/api/v1/users/{user_id}"): users_update,
    ("POST", "/api/v1/users/{user_id}/password"): users_password,
    ("GET", "/api/v1/devices"): devices_list,
    ("POST", "/api/v1/devices/{device_id}/revoke"): devices_revoke,
    ("GET", "/api/v1/audit"): audit_read,
    ("GET", "/api/v1/sync/pull"): sync_pull,
    ("POST", "/api/v1/sync/push"): sync_push,
    ("GET", "/api/v1/accounts"): accounts_list,
    ("GET", "/api/v1/accounts/{account_id}"): accounts_read,
    ("POST", "/api/v1/accounts"): accounts_create,
    ("PATCH", "/api/v1/accounts/{account_id}"): accounts_update,
    ("POST", "/api/v1/accounts/{account_id}/reassign"): accounts_reassign,
    ("GET", "/api/v1/accounts/{account_id}/contacts"): contacts_list,
    ("GET", "/api/v1/contacts/{contact_id}"): contacts_read,
    ("POST", "/api/v1/contacts"): contacts_create,
    ("PATCH", "/api/v1/contacts/{contact_id}"): contacts_update,
    ("GET", "/api/v1/contacts/{contact_id}/export"): contacts_export,
    ("DELETE", "/api/v1/contacts/{contact_id}"): contacts_erase,
    ("POST", "/api/v1/orders"): orders_create,
    ("GET", "/api/v1/orders/{order_id}"): orders_read,
    ("GET", "/api/v1/quotes"): quotes_list,
    ("GET", "/api/v1/quotes/{quote_id}"): quotes_read,
    ("POST", "/api/v1/quotes/{quote_id}/approval"): quotes_approval,
    ("GET", "/api/v1/figures"): figures,
    ("GET", "/api/v1/merges"): merges_list,
    ("POST", "/api/v1/merges/{proposal_id}"): merges_decide,
    ("GET", "/api/v1/visits"): visits_list,
    ("GET", "/api/v1/visits/{visit_id}"): visits_read,
    ("POST", "/api/v1/imports/{kind}"): imports,
    ("GET", "/healthz"): healthz,
    ("GET", "/readyz"): readyz,
}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_endpoint_has_a_case(api: TestClient) -> None:
    served = {
        (method.upper(), path)
        for path, operations in api.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method in operations
    }
    assert served == set(CASES), f"without a case: {sorted(served - set(CASES))}; gone: {sorted(set(CASES) - served)}"


#: Also on PostgreSQL: the cases whose queries differ between the two databases (the sync's own
#: SQL, searches, imports and figures); the others run the same ORM queries on both.
ON_POSTGRES = {
    ("GET", "/api/v1/sync/pull"),
    ("POST", "/api/v1/sync/push"),
    ("GET", "/api/v1/accounts"),
    ("GET", "/api/v1/visits"),
    ("GET", "/api/v1/audit"),
    ("POST", "/api/v1/imports/{kind}"),
    ("GET", "/api/v1/figures"),
    ("GET", "/api/v1/contacts/{contact_id}/export"),
    ("DELETE", "/api/v1/contacts/{contact_id}"),
}


@pytest.mark.parametrize(
    ("backend", "operation"),
    [pytest.param("sqlite", op, id=f"sqlite-{op[0]} {op[1]}") for op in CASES]
    + [
        pytest.param("postgres", op, id=f"postgres-{op[0]} {op[1]}", marks=pytest.mark.postgres)
        for op in sorted(ON_POSTGRES)
    ],
    indirect=["backend"],
)
def test_alices_records_stay_hers(world: World, operation: tuple[str, str]) -> None:
    CASES[operation](world)
