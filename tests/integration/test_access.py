"""Sessions and devices: sign-in throttling, sign-out, the password policy, revoking a device
and deactivating a user (the device wipes itself at its next contact), users and devices as
an admin manages them, the audit log, and the request size limit. On SQLite and PostgreSQL,
over the real API (in-process, or uvicorn for a device that syncs over HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.models import Account, Activity, Contact
from app.services import Device, open_device
from server.audit import USER
from server.db import ServerSession, savepoint
from server.main import create_app
from server.models import AuditEvent, ChangeLog, Role, User
from server.models import Device as ServerDevice
from server.security import hash_password
from sync.errors import AuthError, DeviceRevoked
from tests.conftest import LiveServer, settings_for, sign_in

ADMIN_PASSWORD = "sept chevaux blancs au galop"


def _token(api: TestClient | httpx.Client, username: str, password: str = "demo", **extra: str) -> httpx.Response:
    return api.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "password",
            "username": username,
            "password": password,
            "device_id": str(uuid.uuid4()),
            **extra,
        },
    )


def _add_admin(engine: Engine) -> None:
    with ServerSession(engine) as session:
        session.add(
            User(username="ines", full_name="Inès Admin", role=Role.admin, password_hash=hash_password(ADMIN_PASSWORD))
        )
        session.commit()


@pytest.fixture
def admin(api: TestClient, demo_engine: Engine) -> dict[str, str]:
    _add_admin(demo_engine)
    return sign_in(api, "ines", ADMIN_PASSWORD)


def test_twenty_wrong_passwords_in_a_minute_are_throttled_and_the_right_one_waits_too(api: TestClient) -> None:
    answers = [_token(api, "alice", f"wrong-{n}") for n in range(20)]
    codes = [a.status_code for a in answers]
    # The default limit: 10 wrong passwords for one user name within 15 minutes.
    assert codes == [401] * 10 + [429] * 10, codes
    throttled = answers[-1]
    assert throttled.json()["code"] == "throttled" and "try again in" in throttled.json()["detail"]
    assert 0 < int(throttled.headers["Retry-After"]) <= 15 * 60
    # While throttled, even the right password is refused (and not checked).
    assert _token(api, "alice").status_code == 429
    # Another user name, from the same address, is not held up by alice's.
    assert _token(api, "bruno").status_code == 200


def test_wrong_passwords_over_many_names_from_one_address_are_throttled(demo_engine: Engine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path).model_copy(update={"login_failures_per_address": 15})
    with TestClient(create_app(engine=demo_engine, settings=settings)) as api:
        codes = [_token(api, f"nobody{n}", "guess").status_code for n in range(15)]
        assert codes == [401] * 15
        # The 16th try from that address is refused whatever the name, a real one included.
        refused = _token(api, "alice")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_a_good_sign_in_clears_the_user_names_failures(demo_engine: Engine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path).model_copy(update={"login_failures_per_user": 3})
    with TestClient(create_app(engine=demo_engine, settings=settings)) as api:
        assert [_token(api, "alice", "no").status_code for _ in range(2)] == [401, 401]
        assert _token(api, "alice").status_code == 200
        assert [_token(api, "alice", "no").status_code for _ in range(3)] == [401, 401, 401]
        assert _token(api, "alice").status_code == 429


def test_sign_out_ends_the_devices_session(api: TestClient) -> None:
    tokens = _token(api, "alice").json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert api.post("/api/v1/auth/logout", headers=headers).status_code == 204
    refused = api.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refused.status_code == 401 and refused.json()["code"] == "session_ended"
    assert api.post("/api/v1/auth/logout").status_code == 401  # anonymous


def test_users_are_managed_by_an_admin_with_the_password_policy(api: TestClient, admin: dict[str, str]) -> None:
    for name in ("alice", "manon"):
        headers = sign_in(api, name)
        assert api.get("/api/v1/users", headers=headers).status_code == 403
        assert (
            api.post(
                "/api/v1/users", headers=headers, json={"username": "x1", "full_name": "X", "password": ADMIN_PASSWORD}
            ).status_code
            == 403
        )
    for weak, why in (("short", "12 characters"), ("jeanne-dupont-2026", "user name"), ("azertyuiop", "12")):
        answer = api.post(
            "/api/v1/users",
            headers=admin,
            json={"username": "jeanne-dupont", "full_name": "Jeanne Dupont", "password": weak},
        )
        assert answer.status_code == 422 and why in str(answer.json()["detail"]), answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "password"]
    manon = api.get("/api/v1/users/me", headers=sign_in(api, "manon")).json()
    made = api.post(
        "/api/v1/users",
        headers=admin,
        json={
            "username": "jeanne-dupont",
            "full_name": "Jeanne Dupont",
            "password": "trois petits chats gris",
            "manager_id": manon["id"],
            "email": "jeanne@example.com",
        },
    )
    assert made.status_code == 201, made.text
    assert _token(api, "jeanne-dupont", "trois petits chats gris").status_code == 200
    again = api.post(
        "/api/v1/users",
        headers=admin,
        json={"username": "jeanne-dupont", "full_name": "J", "password": "trois petits chats gris"},
    )
    assert again.status_code == 409
    bad_role = api.patch(f"/api/v1/users/{made.json()['id']}", headers=admin, json={"role": "king"})
    assert bad_role.status_code == 422 and bad_role.json()["detail"][0]["loc"] == ["body", "role"]


def test_a_user_changes_their_password_with_the_current_one(api: TestClient) -> None:
    alice = sign_in(api, "alice")
    me = api.get("/api/v1/users/me", headers=alice).json()
    wrong = api.post(
        f"/api/v1/users/{me['id']}/password",
        headers=alice,
        json={"current_password": "nope", "new_password": "un long mot de passe sûr"},
    )
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["body", "current_password"]
    done = api.post(
        f"/api/v1/users/{me['id']}/password",
        headers=alice,
        json={"current_password": "demo", "new_password": "un long mot de passe sûr"},
    )
    assert done.status_code == 204
    assert _token(api, "alice").status_code == 401
    assert _token(api, "alice", "un long mot de passe sûr").status_code == 200
    bruno = api.get("/api/v1/users/me", headers=sign_in(api, "bruno")).json()
    # Someone else's password: as if that user did not exist.
    assert (
        api.post(
            f"/api/v1/users/{bruno['id']}/password",
            headers=sign_in(api, "alice", "un long mot de passe sûr"),
            json={"new_password": "encore un autre mot de passe"},
        ).status_code
        == 404
    )


def test_devices_are_seen_within_ones_reach_and_revoked_by_their_user_or_an_admin(
    api: TestClient, admin: dict[str, str]
) -> None:
    alice_device, bruno_device = str(uuid.uuid4()), str(uuid.uuid4())
    alice = sign_in(api, "alice", device_id=alice_device)
    bruno = sign_in(api, "bruno", device_id=bruno_device)
    manon = sign_in(api, "manon")
    seen_by_alice = {d["id"] for d in api.get("/api/v1/devices", headers=alice).json()}
    assert alice_device in seen_by_alice and bruno_device not in seen_by_alice
    listed = api.get("/api/v1/devices", headers=alice).json()
    assert next(d for d in listed if d["id"] == alice_device)["current"] is True
    seen_by_manon = {d["id"] for d in api.get("/api/v1/devices", headers=manon).json()}
    assert {alice_device, bruno_device} <= seen_by_manon  # her team's
    # Another rep's device: not found; a team member's, for a manager: not hers to revoke.
    assert api.post(f"/api/v1/devices/{bruno_device}/revoke", headers=alice).status_code == 404
    assert api.post(f"/api/v1/devices/{bruno_device}/revoke", headers=manon).status_code == 403
    assert api.post("/api/v1/devices/no-such-device/revoke", headers=admin).status_code == 404
    revoked = api.post(f"/api/v1/devices/{bruno_device}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    cut = api.get("/api/v1/accounts", headers=bruno)
    assert cut.status_code == 401 and cut.json()["code"] == "device_revoked"
    assert api.post(f"/api/v1/devices/{alice_device}/revoke", headers=alice).status_code == 200  # her own


def _customer_strings(engine: Engine, owner: str) -> list[bytes]:
    """Names, e-mails and phones of the owner's customers, as they would sit in a file."""
    with Session(engine) as session:
        owner_id = session.exec(select(User.id).where(User.username == owner)).one()
        accounts = session.exec(select(Account).where(Account.owner_id == owner_id)).all()
        contacts = session.exec(select(Contact).where(Contact.account_id.in_([a.id for a in accounts]))).all()  # type: ignore[union-attr]
    values = [a.name for a in accounts[:20]] + [c.email for c in contacts[:20] if c.email]
    return [v.encode() for v in values if v and len(v) >= 6]


def _replica_bytes(device: Device) -> bytes:
    return b"".join(
        path.read_bytes() for path in device.data_dir.iterdir() if path.name.startswith("replica") and path.is_file()
    )


@pytest.fixture
def phone(live_server: LiveServer, tmp_path: Path) -> Iterator[Device]:
    """alice's phone, signed in to the live server (session kept in a private file: this machine has
    no keyring) and synced, with one change of hers not sent yet."""
    device = open_device(tmp_path / "phone", server_url=live_server.url, allow_file_token=True)
    device.engine.sign_in(username="alice", password="demo")
    device.engine.sync()
    with Session(device.replica) as session:
        account = session.exec(select(Account).order_by(Account.name)).first()
        assert account is not None
    device.edit_account(account.id, {"notes": "à rappeler"})
    assert device.pending()["pending"] == 1
    yield device
    device.close()


def _assert_wiped(device: Device, old_id: str, secrets: list[bytes]) -> None:
    with device.replica.connect() as conn:
        tables = (
            conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            .scalars()
            .all()
        )
        counts = {t: conn.exec_driver_sql(f'SELECT count(*) FROM "{t}"').scalar_one() for t in tables}
    assert counts.pop("sync_state") > 0  # the new device id, and why the device was wiped
    # FTS5's own tables keep the empty index's structure; the index itself is empty.
    counts = {t: n for t, n in counts.items() if not t.startswith("search_index_")}
    assert {t: n for t, n in counts.items() if n} == {}, "rows left after the wipe"
    assert device.pending()["pending"] == 0
    state = device.engine.state()
    assert state["device_id"] != old_id and state.get("username") is None
    assert not device.engine.has_session()
    token_file = device.data_dir / "session-token.json"
    assert not token_file.exists() or "|alice" not in token_file.read_text()
    stored = _replica_bytes(device)
    assert secrets and not [s for s in secrets if s in stored], "customer data left in the replica's files"


def test_a_revoked_device_wipes_its_replica_outbox_and_session_at_its_next_sync(
    phone: Device, live_server: LiveServer
) -> None:
    secrets = _customer_strings(live_server.engine, "alice")
    assert [s for s in secrets if s in _replica_bytes(phone)], "the search must find them before the wipe"
    old_id = phone.engine.state()["device_id"]
    assert old_id is not None
    with httpx.Client(base_url=live_server.url) as laptop:
        headers = sign_in(laptop, "alice")  # from her laptop: "I lost my phone"
        assert laptop.post(f"/api/v1/devices/{old_id}/revoke", headers=headers).status_code == 200
    with pytest.raises(DeviceRevoked, match="revoked"):
        phone.engine.sync()
    _assert_wiped(phone, old_id, secrets)
    assert phone.engine.state()["last_error_kind"] == "DeviceRevoked"
    # The server kept nothing of the refused last push, and the old id stays revoked.
    with Session(live_server.engine) as session:
        assert session.get(ServerDevice, old_id).revoked_at is not None  # type: ignore[union-attr]
        assert "à rappeler" not in [a.notes for a in session.exec(select(Account))]
    # Found again, the phone signs in as a new device and syncs afresh.
    phone.engine.sign_in(username="alice", password="demo")
    phone.engine.sync()
    assert phone.card is not None and phone.search("a")


def test_deactivating_a_user_wipes_each_of_their_devices(phone: Device, live_server: LiveServer) -> None:
    secrets = _customer_strings(live_server.engine, "alice")
    old_id = phone.engine.state()["device_id"]
    assert old_id is not None
    _add_admin(live_server.engine)
    with httpx.Client(base_url=live_server.url) as console:
        admin = sign_in(console, "ines", ADMIN_PASSWORD)
        alice_id = next(u["id"] for u in console.get("/api/v1/users", headers=admin).json() if u["username"] == "alice")
        assert console.patch(f"/api/v1/users/{alice_id}", headers=admin, json={"active": False}).status_code == 200
    with pytest.raises(DeviceRevoked, match="deactivated"):
        phone.engine.sync()
    _assert_wiped(phone, old_id, secrets)
    with pytest.raises(AuthError):  # and she cannot sign in again
        phone.engine.sign_in(username="alice", password="demo")


def test_changes_exports_and_bulk_reads_are_in_the_audit_log_for_managers(api: TestClient, demo_engine: Engine) -> None:
    device_id = str(uuid.uuid4())
    alice = sign_in(api, "alice", device_id=device_id)
    pulled = api.get("/api/v1/sync/pull", headers=alice, params={"limit": 200})
    assert pulled.status_code == 200
    manon = sign_in(api, "manon")
    account = api.get("/api/v1/accounts", headers=alice, params={"limit": 1}).json()[0]
    changed = api.patch(f"/api/v1/accounts/{account['id']}", headers=manon, json={"notes": "client exigeant"})
    assert changed.status_code == 200
    history = api.get("/api/v1/audit", headers=manon, params={"account_id": account["id"]})
    assert history.status_code == 200
    events = history.json()
    assert [(e["action"], e["entity"], e["row_id"], e["username"]) for e in events][0] == (
        "change",
        "account",
        account["id"],
        "manon",
    )
    alice_id = api.get("/api/v1/users/me", headers=alice).json()["id"]
    did = api.get("/api/v1/audit", headers=manon, params={"user_id": alice_id}).json()
    bulk = [e for e in did if e["action"] == "read" and e["entity"] == "sync"]
    assert bulk and bulk[0]["count"] == 200 and bulk[0]["device_id"] == device_id
    # Reps do not read the log; another team's manager does not see this account's.
    assert api.get("/api/v1/audit", headers=alice, params={"account_id": account["id"]}).status_code == 403
    with ServerSession(demo_engine) as session:
        session.add(
            User(
                username="other-manager", full_name="O", role=Role.manager, password_hash=hash_password(ADMIN_PASSWORD)
            )
        )
        session.commit()
    other = sign_in(api, "other-manager", ADMIN_PASSWORD)
    assert api.get("/api/v1/audit", headers=other, params={"account_id": account["id"]}).status_code == 404
    assert api.get("/api/v1/audit", headers=other, params={"user_id": alice_id}).status_code == 404
    with Session(demo_engine) as session:
        assert session.exec(select(sa.func.count()).select_from(AuditEvent)).one() >= 2


def test_a_long_push_is_audited_record_by_record(api: TestClient) -> None:
    """Each mutation of a push is its own savepoint: its events are written there, one per record,
    not grouped with the whole push's (more than 20 of a kind become one event with a count)."""
    device_id = str(uuid.uuid4())
    alice = sign_in(api, "alice", device_id=device_id)
    account = api.get("/api/v1/accounts", headers=alice, params={"limit": 1}).json()[0]
    ids = [str(uuid.uuid4()) for _ in range(30)]
    mutations = [
        {
            "mid": n + 1,
            "entity": "activity",
            "id": activity_id,
            "op": "create",
            "fields": {"account_id": account["id"], "occurred_at": "2026-11-20T09:00:00Z", "summary": f"appel {n}"},
        }
        for n, activity_id in enumerate(ids)
    ]
    pushed = api.post(
        "/api/v1/sync/push",
        headers=alice,
        json={"client_id": device_id, "schema_version": 1, "mutations": mutations},
    )
    assert [r["status"] for r in pushed.json()["results"]] == ["applied"] * 30
    events = api.get("/api/v1/audit", headers=sign_in(api, "manon"), params={"account_id": account["id"]}).json()
    created = {e["row_id"]: e["count"] for e in events if e["entity"] == "activity"}
    assert {activity_id: created.get(activity_id) for activity_id in ids} == dict.fromkeys(ids, 1)


def test_a_body_over_the_limit_is_refused_before_it_is_read(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        headers = sign_in(client, "alice")
        huge = b'{"client_id": "x", "schema_version": 1, "mutations": [' + b" " * (9 * 1024 * 1024) + b"]}"
        declared = client.post(
            "/api/v1/sync/push", content=huge, headers={**headers, "content-type": "application/json"}
        )
        assert declared.status_code == 413 and "smaller parts" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            for _ in range(10):
                yield b" " * (1024 * 1024)

        streamed = client.post(
            "/api/v1/sync/push", content=chunks(), headers={**headers, "content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert client.get("/healthz").status_code == 200


def test_a_managers_app_reads_a_customers_log_from_the_server(api: TestClient, tmp_path: Path) -> None:
    from app.i18n import Translator
    from app.replica import open_replica
    from sync.engine import SyncEngine
    from views.card import _audit_line

    tablet = SyncEngine(replica=open_replica(tmp_path / "manon"), http=api)
    tablet.sign_in(username="manon", password="demo")
    account = api.get("/api/v1/accounts", headers=sign_in(api, "alice"), params={"limit": 1}).json()[0]
    assert api.patch(
        f"/api/v1/accounts/{account['id']}", headers=sign_in(api, "manon"), json={"notes": "vu"}
    ).is_success
    events = tablet.call("GET", "/api/v1/audit", params={"account_id": account["id"]})
    line = _audit_line(Translator("fr"), events[0])
    assert "manon · modification · Client" in line.value  # type: ignore[attr-defined]
    tablet.replica.dispose()


def test_ready_only_with_the_database_answering_at_the_current_schema(database_url: str, tmp_path: Path) -> None:
    from server.db import make_engine
    from server.migrate import head_revision, upgrade

    engine = make_engine(database_url)
    try:
        with TestClient(create_app(engine=engine, settings=settings_for(tmp_path))) as api:
            behind = api.get("/readyz")  # an empty database: not migrated yet
            assert behind.status_code == 503 and behind.json()["code"] == "schema_behind"
            assert "terrain-server migrate" in behind.json()["detail"]
            upgrade(engine, "0011")
            assert api.get("/readyz").json()["code"] == "schema_behind"
            upgrade(engine)
            ready = api.get("/readyz")
            assert ready.status_code == 200 and ready.json() == {"status": "ready", "schema_version": head_revision()}
            assert api.get("/healthz").status_code == 200
    finally:
        engine.dispose()
    dead = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=1")
    with TestClient(create_app(engine=dead, settings=settings_for(tmp_path))) as api:
        down = api.get("/readyz")
        assert down.status_code == 503 and down.json()["code"] == "database_unreachable"
        assert api.get("/healthz").status_code == 200  # alive, not ready


def test_a_change_the_database_refuses_keeps_the_log_of_those_around_it(demo_engine: Engine) -> None:
    """A push applied mutation by mutation: one the database refuses (a constraint) rolls back its
    own savepoint only; the changes before and after it keep their change-log rows and audit
    events."""
    with ServerSession(demo_engine) as session:
        account = session.exec(select(Account)).first()
        assert account is not None
        session.info[USER] = account.owner_id

        def note(account_id: str, summary: str) -> str:
            activity = Activity(account_id=account_id, occurred_at=datetime.now(UTC), summary=summary)
            session.add(activity)
            return activity.id

        with savepoint(session):
            before = note(account.id, "before")
        with pytest.raises(IntegrityError), savepoint(session):
            note("no-such-account", "refused")  # a foreign key the database checks
        with savepoint(session):
            after = note(account.id, "after")
        session.commit()
    with Session(demo_engine) as session:
        logged = session.exec(select(ChangeLog.row_id).where(col(ChangeLog.row_id).in_([before, after]))).all()
        audited = session.exec(select(AuditEvent.row_id).where(col(AuditEvent.row_id).in_([before, after]))).all()
    assert sorted(logged) == sorted([before, after])
    assert sorted(audited) == sorted([before, after])
