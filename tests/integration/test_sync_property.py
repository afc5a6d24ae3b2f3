"""Property: whatever three devices and a manager do, cut off, restarted and killed at random,
once everyone has synced every replica equals the server's data for its scope, no mutation was
applied twice (nor lost), and every one the server refused is shown, with its reason, on the
device that made it.

Each hypothesis example builds a small company of its own on one live server (uvicorn behind a
real TCP proxy that cuts connections): a manager, three reps, a few accounts with contacts and
an activity each. Alice has a phone and a laptop, Bruno a phone, the manager a tablet (three
devices and a manager's); the manager also edits and reassigns accounts on the server itself.
A random list of operations runs: edits on the devices (the same fields from several of them:
conflicts; edits of, and activities naming, contacts deleted elsewhere: refusals), the rep's
decisions on conflicts and refusals, syncs whose n-th connection is cut at some byte (or gets a
500), restarts, and kills: the device's process, forked, is SIGKILLed as SQLite starts a chosen
statement of its sync. Then everyone syncs, in a random order, until nothing is left to send,
and `_check` compares what the devices did with the server's own tables and every replica.

Refused creates follow the app's design: the record stays on the device, with the refusal,
until the rep dismisses it (or sends it again); so the replicas are compared with the server
before (allowing exactly those records) and after the reps dismiss every refusal.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from hypothesis import HealthCheck, event, example, given, note, settings, target
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.edits import (
    InvalidEdit,
    add_contact,
    delete_contact,
    dismiss_rejected,
    edit_account,
    edit_contact,
    log_activity,
    pending_changes,
    resend_rejected,
    resolve_conflict,
)
from app.models import ENTITIES, Account, Activity, Contact, LifecycleStage, entity_table
from app.replica import REPLICA_FILE, open_replica
from server.db import ServerSession
from server.models import ProcessedMutation, Role, User
from sync.engine import SyncEngine, TokenStore
from sync.errors import AuthError, ServerError, TransportError
from sync.state import OutboxEntry, SyncConflict, create_sync_tables
from tests.conftest import LiveServer, sign_in, start_live_server
from tests.faults import SERVER_ERROR, Cut, FaultyProxy

PASSWORD = "demo"
#: Device name -> the rep (or manager) signed in on it.
DEVICES = {"alice-phone": "alice", "alice-laptop": "alice", "bruno-phone": "bruno", "manon-tablet": "manon"}
REPS = ("alice", "bruno", "chloe")
#: Accounts each user owns when the example starts (chloe has no device: accounts given to her
#: leave every rep's device, and stay on the manager's).
ACCOUNTS_OF = {"alice": 2, "bruno": 1, "chloe": 1, "manon": 0}
CONTACTS_PER_ACCOUNT = 2
#: Few fields, so that devices and the manager often change the same one (a conflict).
ACCOUNT_FIELDS = ("notes", "lifecycle_stage")
CONTACT_FIELDS = ("role", "phone")


# -- operations -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Edit:
    """A device changes one field of one of its accounts or contacts (by position, by name)."""

    device: str
    entity: str
    index: int
    field: str


@dataclass(frozen=True)
class AddContact:
    device: str
    account: int


@dataclass(frozen=True)
class DeleteContact:
    device: str
    contact: int


@dataclass(frozen=True)
class LogActivity:
    """An activity on one of the device's accounts, naming one of its contacts if `contact` is set."""

    device: str
    account: int
    contact: int | None


@dataclass(frozen=True)
class Resolve:
    device: str
    keep: str


@dataclass(frozen=True)
class Dismiss:
    """The rep drops one of the changes the server refused (by position)."""

    device: str
    index: int


@dataclass(frozen=True)
class Resend:
    """The rep sends one of the refused changes again, as it was."""

    device: str
    index: int


@dataclass(frozen=True)
class ManagerEdit:
    """The manager changes a field on the server (the web app), between the devices' syncs."""

    entity: str
    index: int
    field: str


@dataclass(frozen=True)
class Reassign:
    account: int
    to: str


@dataclass(frozen=True)
class Sync:
    """A sync whose `at`-th connection (sign-in, refresh, push, pull pages) meets `cut`."""

    device: str
    cut: Cut | None
    at: int


@dataclass(frozen=True)
class Restart:
    device: str


@dataclass(frozen=True)
class Kill:
    """The device's process is killed (SIGKILL) during a sync, as the `count`-th replica
    statement holding `pattern` starts (inside its transaction); then the app starts again."""

    device: str
    pattern: str
    count: int


Op = (
    Edit
    | AddContact
    | DeleteContact
    | LogActivity
    | Resolve
    | Dismiss
    | Resend
    | ManagerEdit
    | Reassign
    | Sync
    | Restart
    | Kill
)

_devices = st.sampled_from(sorted(DEVICES))
_index = st.integers(0, 7)
#: Records are picked by position in name order, the same on every device that has them: a
#: small range makes devices and the manager touch the same ones (Alice's first contacts).
_which = st.integers(0, 2)
_cuts = st.one_of(
    st.none(),
    st.none(),
    st.builds(Cut, request_bytes=st.sampled_from([0, 60, 250])),
    st.builds(Cut, response_bytes=st.sampled_from([0, 20, 150, 500])),
    st.just(Cut(reply=SERVER_ERROR)),
)
#: What two devices (or a device and the manager) touching the same person leads to: conflicts,
#: and edits of a contact deleted meanwhile (refused).
_contact_edits = st.one_of(
    st.builds(Edit, _devices, st.just("contact"), _which, st.sampled_from(CONTACT_FIELDS)),
    st.builds(DeleteContact, _devices, _which),
    st.builds(LogActivity, _devices, _index, _which),
)
_other_edits = st.one_of(
    st.builds(Edit, _devices, st.just("account"), _which, st.sampled_from(ACCOUNT_FIELDS)),
    st.builds(AddContact, _devices, _index),
    st.builds(LogActivity, _devices, _index, st.none()),
)
#: The rep settles a conflict, dismisses a refusal or sends it again.
_decisions = st.one_of(
    st.builds(Resolve, _devices, st.sampled_from(["server", "device"])),
    st.builds(Dismiss, _devices, _index),
    st.builds(Resend, _devices, _index),
)
#: A sync opens one to three connections: a refresh after a restart, a push if anything is
#: queued, a pull; a cut past the last one is no cut.
_syncs = st.builds(Sync, _devices, _cuts, st.sampled_from([0, 0, 1, 2]))
_server_side = st.one_of(
    st.builds(ManagerEdit, st.just("account"), _which, st.sampled_from(ACCOUNT_FIELDS)),
    st.builds(ManagerEdit, st.just("contact"), _which, st.sampled_from(CONTACT_FIELDS)),
    st.builds(Reassign, _index, st.sampled_from([*REPS, "manon"])),
)
_restarts = st.one_of(
    st.builds(Restart, _devices),
    st.builds(
        Kill,
        _devices,
        # Recording the server's answers (applied, refused); a pulled page's upserts, deletes
        # and purges; its new cursor; any commit, just before it is written.
        st.sampled_from(
            ["DELETE FROM outbox", "UPDATE outbox", "ON CONFLICT", "DELETE FROM", "UPDATE sync_state", "COMMIT"]
        ),
        st.integers(1, 2),
    ),
)
#: A kind of operation, then one of that kind: about five edits on devices (and a decision) for
#: three syncs (half of them cut), one manager action and one restart or kill. (`one_of` would
#: weigh every single operation the same, and syncs would be rare.)
_KINDS = [_contact_edits] * 3 + [_other_edits] * 2 + [_decisions] + [_syncs] * 3 + [_server_side, _restarts]
OPERATIONS = st.lists(st.sampled_from(_KINDS).flatmap(lambda kind: kind), min_size=10, max_size=40)


# -- the world of one example ---------------------------------------------------------------
@dataclass
class Device:
    name: str
    username: str
    data_dir: Path
    engine: SyncEngine | None = None
    needs_sign_in: bool = False

    @property
    def sync(self) -> SyncEngine:
        assert self.engine is not None
        return self.engine


@dataclass(frozen=True)
class Write:
    """A mutation a device queued: its outbox number and what it was about."""

    device: str
    mid: int
    entity: str
    op: str
    record_id: str
    fields: dict[str, Any]
    #: The record's version on the device when it was changed there (updates).
    base_version: int | None = None


@dataclass
class World:
    number: int
    users: dict[str, str]  # short name -> user id
    usernames: dict[str, str]  # short name -> username on the server
    devices: dict[str, Device]
    manager_api: dict[str, str] = field(default_factory=dict)
    writes: list[Write] = field(default_factory=list)
    #: Changes the manager made on the server: (entity, id, field, value, version it made, when).
    api_writes: list[tuple[str, str, str, Any, int, datetime]] = field(default_factory=list)
    #: The edited fields' first values: (entity, id, field) -> value.
    initial: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    #: Conflicts a rep settled: (device, entity, record_id, field, device_value).
    resolved: list[tuple[str, str, str, str, Any]] = field(default_factory=list)
    #: Refused changes a rep dismissed or sent again (as a new change): (device, mid).
    settled: set[tuple[str, int]] = field(default_factory=set)


class FileTokenStore(TokenStore):
    """The device's keyring: the refresh token outlives restarts and kills."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _all(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def _write(self, tokens: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.with_suffix(".tmp").write_text(json.dumps(tokens))
        self.path.with_suffix(".tmp").replace(self.path)

    def load(self, key: str) -> str | None:
        return self._all().get(key)

    def save(self, key: str, token: str) -> None:
        self._write({**self._all(), key: token})

    def delete(self, key: str) -> None:
        self._write({k: v for k, v in self._all().items() if k != key})


def _create_world(server: Engine, number: int, password_hash: str) -> tuple[dict[str, str], dict[str, str]]:
    """A manager, three reps, accounts with contacts and an activity each, written as the server would."""
    when = datetime(2026, 11, 1, 9, tzinfo=UTC)
    with ServerSession(server) as session:
        manager = User(username=f"w{number}-manon", full_name="Manon", role=Role.manager, password_hash=password_hash)
        session.add(manager)
        session.flush()
        people = {"manon": manager}
        for rep in REPS:
            people[rep] = User(
                username=f"w{number}-{rep}",
                full_name=rep.title(),
                role=Role.rep,
                manager_id=manager.id,
                password_hash=password_hash,
            )
            session.add(people[rep])
        session.flush()
        for name, count in ACCOUNTS_OF.items():
            for a in range(count):
                account = Account(name=f"{name} account {a}", owner_id=people[name].id)
                session.add(account)
                session.flush()
                contacts = [
                    Contact(account_id=account.id, last_name=f"{name}-{a}-{c}", role="buyer")
                    for c in range(CONTACTS_PER_ACCOUNT)
                ]
                session.add_all(contacts)
                session.flush()
                session.add(
                    Activity(
                        account_id=account.id,
                        contact_id=contacts[0].id,
                        occurred_at=when + timedelta(days=a),
                        summary=f"first visit to {account.name}",
                        author_id=people[name].id,
                    )
                )
        session.commit()
        return {n: u.id for n, u in people.items()}, {n: u.username for n, u in people.items()}


def _open(device: Device, proxy: FaultyProxy, template: Path) -> None:
    if not device.data_dir.exists():  # a new install: its empty replica, made once and copied
        device.data_dir.mkdir(parents=True)
        shutil.copyfile(template, device.data_dir / REPLICA_FILE)
    # No keep-alive: each request opens its own connection, so each one meets its own fault.
    http = httpx.Client(base_url=proxy.url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0))
    tokens = FileTokenStore(device.data_dir / "keyring.json")
    device.engine = SyncEngine(replica=open_replica(device.data_dir), http=http, token_store=tokens)


def _close(device: Device) -> None:
    if device.engine is not None:
        device.engine.http.close()
        device.engine.replica.dispose()
        device.engine = None


def _local(device: Device, model: type[Account] | type[Contact]) -> list[Any]:
    """The device's accounts or contacts, in a stable order (by name)."""
    order = col(Account.name) if model is Account else col(Contact.last_name)
    with Session(device.sync.replica) as session:
        return list(session.exec(select(model).order_by(order)).all())


def _last_mid(device: Device) -> int:
    with device.sync.replica.connect() as conn:
        return int(conn.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")).scalar() or 0)


def _value(world: World, step: int, entity: str, field_name: str) -> Any:
    if field_name == "lifecycle_stage":
        # Not "lost": losing a customer needs the reason with it (a rule of its own, tested in
        # test_pipeline.py), which a one-field edit does not carry.
        stages = [stage for stage in LifecycleStage if stage != LifecycleStage.lost]
        return stages[step % len(stages)].value
    return f"{field_name[:2]}-{world.number}-{step}"


# -- running the operations -----------------------------------------------------------------
class Run:
    def __init__(self, world: World, live: LiveServer, proxy: FaultyProxy, api: httpx.Client, template: Path) -> None:
        self.world, self.live, self.proxy, self.api, self.template = world, live, proxy, api, template

    def apply(self, step: int, op: Op) -> None:
        handler = getattr(self, f"_{type(op).__name__.lower()}")
        outcome = handler(step, op)
        note(f"{step:>2} {op!r} -> {outcome}")
        if outcome.startswith(("cut", "killed", "signed out")):
            event(f"{type(op).__name__}: {outcome.split(':')[0].split(' at ')[0]}")

    def _queued(self, device: Device, entity: str, op: str, record_id: str, fields: dict[str, Any]) -> str:
        mid = _last_mid(device)
        with Session(device.sync.replica) as session:
            entry = session.get(OutboxEntry, mid)
            assert entry is not None and entry.status == "pending", mid
        self.world.writes.append(Write(device.name, mid, entity, op, record_id, fields, entry.base_version))
        return f"queued mid {mid}"

    def _edit(self, step: int, op: Edit) -> str:
        device = self.world.devices[op.device]
        records = _local(device, Account if op.entity == "account" else Contact)
        if not records:
            return "nothing to edit"
        record = records[op.index % len(records)]
        changes = {op.field: _value(self.world, step, op.entity, op.field)}
        with Session(device.sync.replica) as session:
            if op.entity == "account":
                edit_account(session=session, account_id=record.id, changes=changes)
            else:
                edit_contact(session=session, contact_id=record.id, changes=changes)
        return self._queued(device, op.entity, "update", record.id, changes)

    def _addcontact(self, step: int, op: AddContact) -> str:
        device = self.world.devices[op.device]
        accounts = _local(device, Account)
        if not accounts:
            return "no account"
        account = accounts[op.account % len(accounts)]
        fields = {"account_id": account.id, "last_name": f"new-{self.world.number}-{step}", "role": "added"}
        with Session(device.sync.replica) as session:
            contact = add_contact(session=session, fields=fields)
        self.world.initial.update({("contact", contact.id, name): fields.get(name) for name in CONTACT_FIELDS})
        return self._queued(device, "contact", "create", contact.id, fields)

    def _deletecontact(self, _step: int, op: DeleteContact) -> str:
        device = self.world.devices[op.device]
        contacts = _local(device, Contact)
        if not contacts:
            return "no contact"
        contact = contacts[op.contact % len(contacts)]
        with Session(device.sync.replica) as session:
            delete_contact(session=session, contact_id=contact.id)
        return self._queued(device, "contact", "delete", contact.id, {})

    def _logactivity(self, step: int, op: LogActivity) -> str:
        device = self.world.devices[op.device]
        accounts, contacts = _local(device, Account), _local(device, Contact)
        if not accounts:
            return "no account"
        fields: dict[str, Any] = {
            "account_id": accounts[op.account % len(accounts)].id,
            "occurred_at": f"2026-11-{1 + step % 28:02d}T10:00:00Z",
            "summary": f"activity-{self.world.number}-{step}",
        }
        if op.contact is not None and contacts:
            named = contacts[op.contact % len(contacts)]
            fields.update(account_id=named.account_id, contact_id=named.id)
        with Session(device.sync.replica) as session:
            activity = log_activity(session=session, fields=fields)
        return self._queued(device, "activity", "create", activity.id, fields)

    def _resolve(self, _step: int, op: Resolve) -> str:
        device = self.world.devices[op.device]
        with Session(device.sync.replica) as session:
            conflict = session.exec(select(SyncConflict).order_by(col(SyncConflict.id))).first()
            if conflict is None:
                return "no conflict"
            seen = (device.name, conflict.entity, conflict.record_id, conflict.field, conflict.device_value)
            before = _last_mid(device)
            try:
                resolve_conflict(session=session, conflict_id=conflict.id or 0, keep=op.keep)
            except InvalidEdit as exc:  # the record left the device since: the conflict stays open
                return f"cannot resolve: {exc}"
        self.world.resolved.append(seen)
        if _last_mid(device) != before:
            _, entity, record_id, field_name, value = seen
            return self._queued(device, entity, "update", record_id, {field_name: value})
        return "kept the server's value"

    def _refused(self, device: Device, index: int) -> dict[str, Any] | None:
        with Session(device.sync.replica) as session:
            refused = pending_changes(session=session)["rejected"]
        return refused[index % len(refused)] if refused else None

    def _dismiss(self, _step: int, op: Dismiss) -> str:
        device = self.world.devices[op.device]
        if (refused := self._refused(device, op.index)) is None:
            return "nothing refused"
        with Session(device.sync.replica) as session:
            dismiss_rejected(session=session, mid=refused["mid"])
        self.world.settled.add((device.name, refused["mid"]))
        return f"dismissed mid {refused['mid']}"

    def _resend(self, _step: int, op: Resend) -> str:
        device = self.world.devices[op.device]
        if (refused := self._refused(device, op.index)) is None:
            return "nothing refused"
        try:
            with Session(device.sync.replica) as session:
                resend_rejected(session=session, mid=refused["mid"])
        except InvalidEdit as exc:  # the record left the device since: only dismissing is left
            return f"cannot resend: {exc}"
        self.world.settled.add((device.name, refused["mid"]))
        return self._queued(device, refused["entity"], refused["op"], refused["id"], refused["fields"])

    def _manageredit(self, step: int, op: ManagerEdit) -> str:
        table = entity_table(op.entity)
        with self.live.engine.connect() as conn:
            query = sa.select(table.c.id)
            if op.entity == "account":
                query = query.where(table.c.owner_id.in_(self.world.users.values())).order_by(table.c.name)
            else:
                accounts = entity_table("account")
                query = (
                    query.join(accounts, accounts.c.id == table.c.account_id)
                    .where(accounts.c.owner_id.in_(self.world.users.values()))
                    .order_by(table.c.last_name)
                )
            ids = list(conn.execute(query).scalars())
        if not ids:
            return "nothing to edit"
        record_id = ids[op.index % len(ids)]
        value = _value(self.world, step, op.entity, op.field)
        path = f"/api/v1/accounts/{record_id}" if op.entity == "account" else f"/api/v1/contacts/{record_id}"
        response = self.api.patch(path, json={op.field: value}, headers=self.world.manager_api)
        assert response.status_code == 200, response.text
        version = response.json()["version"]
        self.world.api_writes.append((op.entity, record_id, op.field, value, version, datetime.now(UTC)))
        return f"set {record_id[-6:]}.{op.field}"

    def _reassign(self, _step: int, op: Reassign) -> str:
        with self.live.engine.connect() as conn:
            accounts = entity_table("account")
            ids = list(
                conn.execute(
                    sa.select(accounts.c.id)
                    .where(accounts.c.owner_id.in_(self.world.users.values()))
                    .order_by(accounts.c.name)
                ).scalars()
            )
        account_id = ids[op.account % len(ids)]
        response = self.api.post(
            f"/api/v1/accounts/{account_id}/reassign",
            json={"owner_id": self.world.users[op.to]},
            headers=self.world.manager_api,
        )
        assert response.status_code == 200, response.text
        return f"{account_id[-6:]} -> {op.to}"

    def _sync(self, _step: int, op: Sync) -> str:
        device = self.world.devices[op.device]
        if op.cut is not None:
            self.proxy.cut_next(*[Cut()] * op.at, op.cut)
        try:
            return self._sync_device(device)
        except (TransportError, ServerError) as exc:
            assert op.cut is not None, f"a sync without a fault failed: {exc!r}"
            return f"cut: {type(exc).__name__}"
        finally:
            self.proxy.plans.clear()

    def _sync_device(self, device: Device) -> str:
        if device.needs_sign_in:
            device.sync.sign_in(username=self.world.usernames[device.username], password=PASSWORD)
            device.needs_sign_in = False
        try:
            device.sync.sync()
        except AuthError as exc:
            # A refresh whose answer was lost spent the device's token: the rep signs in again.
            device.needs_sign_in = True
            return f"signed out: {exc}"
        return "synced"

    def _restart(self, _step: int, op: Restart) -> str:
        device = self.world.devices[op.device]
        _close(device)
        _open(device, self.proxy, self.template)  # the refresh token survives in the (keyring) token store
        return "restarted"

    def _kill(self, _step: int, op: Kill) -> str:
        """The sync runs in a forked copy of this process, which kills itself at the chosen
        statement as SQLite starts it: a dead phone, for real, in a fraction of a second."""
        device = self.world.devices[op.device]
        _close(device)  # no SQLite connection may cross a fork
        with warnings.catch_warnings():
            # Python 3.12+ warns that a forked copy of a threaded process may deadlock; the child
            # only opens its own replica and HTTP client (and a hang fails below, it does not block).
            warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            code = 70
            try:
                code = self._sync_until_killed(device, op)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        deadline = time.monotonic() + 60
        while (waited := os.waitpid(pid, os.WNOHANG)) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"{op!r}: the device's process hung")
            time.sleep(0.005)
        _open(device, self.proxy, self.template)
        status = waited[1]
        if os.WIFSIGNALED(status):
            assert os.WTERMSIG(status) == signal.SIGKILL, status
            return "killed"
        code = os.WEXITSTATUS(status)
        assert code in (0, 1), f"{op!r}: the device's process failed ({code}), see its stderr"
        device.needs_sign_in |= code == 1
        return "synced" if code == 0 else "signed out"

    def _sync_until_killed(self, device: Device, op: Kill) -> int:
        """In the forked device: 0 when the sync ended before the kill point, 1 when signed out."""
        seen = 0

        def trace(statement: str) -> None:
            nonlocal seen
            if op.pattern in statement:
                seen += 1
                if seen == op.count:
                    os.kill(os.getpid(), signal.SIGKILL)

        _open(device, self.proxy, self.template)
        sa.event.listen(device.sync.replica, "connect", lambda dbapi, _record: dbapi.set_trace_callback(trace))
        device.sync.replica.dispose()  # the connections opened from now on are traced
        return 0 if self._sync_device(device) == "synced" else 1

    def settle(self, order: list[str]) -> None:
        """Everyone syncs in this order, without faults, until a whole round had nothing left to send."""
        for _ in range(4):
            sent = False
            for device in (self.world.devices[name] for name in order):
                with Session(device.sync.replica) as session:
                    sent |= pending_changes(session=session)["pending"] > 0
                outcome = self._sync_device(device)
                if outcome != "synced":  # signed out by a spent token: the rep signs in again
                    assert self._sync_device(device) == "synced"
            if not sent:
                return
        raise AssertionError("the outboxes never drained")


# -- what must hold at the end --------------------------------------------------------------
def _normalized(row: sa.Row[Any]) -> dict[str, Any]:
    out = {}
    for key, value in row._mapping.items():
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        elif isinstance(value, date):
            value = value.isoformat()
        out[key] = value
    return out


def _scope_rows(server: Engine, owner_ids: set[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Every record (all of its columns) in the scope of the owners' accounts, read on the server."""
    with server.connect() as conn:
        accounts = entity_table("account")
        account_ids = sa.select(accounts.c.id).where(accounts.c.owner_id.in_(owner_ids)).scalar_subquery()
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for name in ENTITIES:
            table = entity_table(name)
            query = sa.select(table)
            if name == "account":
                query = query.where(table.c.owner_id.in_(owner_ids))
            elif "account_id" in table.c:
                query = query.where(sa.or_(table.c.account_id.is_(None), table.c.account_id.in_(account_ids)))
            # else the catalogue: every device has all of it (this world has none)
            out[name] = {row.id: _normalized(row) for row in conn.execute(query)}
    return out


def _replica_rows(replica: Engine) -> dict[str, dict[str, dict[str, Any]]]:
    with replica.connect() as conn:
        return {
            name: {row.id: _normalized(row) for row in conn.execute(sa.select(entity_table(name)))} for name in ENTITIES
        }


def _differences(expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]) -> list[str]:
    out = [f"missing {i}" for i in expected.keys() - actual.keys()]
    out += [f"extra {i}: {actual[i]}" for i in actual.keys() - expected.keys()]
    for i in expected.keys() & actual.keys():
        if expected[i] != actual[i]:
            diff = {
                k: (expected[i].get(k), actual[i].get(k)) for k in expected[i] if expected[i][k] != actual[i].get(k)
            }
            out.append(f"differs {i} (server, device): {diff}")
    return out


def _replica_problems(
    world: World, scopes: dict[str, dict[str, dict[str, dict[str, Any]]]], allowed_extra: dict[str, set[str]]
) -> dict[str, Any]:
    """How each replica differs from the server's records of its user's scope (`scopes`), every
    column compared; `allowed_extra` are records a device may show that the server does not have."""
    problems: dict[str, Any] = {}
    for name, device in world.devices.items():
        expected, actual = scopes[device.username], _replica_rows(device.sync.replica)
        for entity in ENTITIES:
            for record_id in allowed_extra.get(name, set()) & (actual[entity].keys() - expected[entity].keys()):
                del actual[entity][record_id]
            if differences := _differences(expected[entity], actual[entity]):
                problems[f"{name} {entity}"] = differences
    return problems


def _check(world: World, server: Engine) -> None:
    by_mid = {(w.device, w.mid): w for w in world.writes}
    states = {name: device.sync.state() for name, device in world.devices.items()}
    with Session(server) as session:
        processed = {
            name: {
                p.mid: p
                for p in session.exec(
                    select(ProcessedMutation).where(ProcessedMutation.device_id == states[name]["device_id"])
                )
            }
            for name in world.devices
        }
        contacts_now = set(session.exec(select(Contact.id)).all())
        summaries = Counter(
            session.exec(select(Activity.summary).where(col(Activity.summary).like(f"activity-{world.number}-%"))).all()
        )

    refused_creates: dict[str, set[str]] = {}
    refusals = conflicts = 0
    for name, device in world.devices.items():
        with Session(device.sync.replica) as session:
            changes = pending_changes(session=session)
        # Nothing is left unsent, and every mutation the device made was answered exactly once.
        assert changes["pending"] == 0, name
        made = {w.mid for w in world.writes if w.device == name}
        assert set(processed[name]) == made, (name, sorted(made ^ set(processed[name])))
        # Every refusal the server recorded is on the device with its reason, until the rep
        # dismissed it or sent it again; no other is.
        server_rejected = {
            (p.mid, p.reason)
            for p in processed[name].values()
            if p.status == "rejected" and (name, p.mid) not in world.settled
        }
        device_rejected = {(r["mid"], r["reason"]) for r in changes["rejected"]}
        assert device_rejected == server_rejected, name
        refused_creates[name] = {r["id"] for r in changes["rejected"] if r["op"] == "create"}
        # Every conflict the server answered is open on the device, or was settled by the rep.
        answered = Counter(
            (name, by_mid[(name, p.mid)].entity, by_mid[(name, p.mid)].record_id, c["field"], c["device_value"])
            for p in processed[name].values()
            for c in p.conflicts
        )
        shown = Counter(
            (name, c["entity"], c["record_id"], c["field"], c["device_value"]) for c in changes["conflicts"]
        )
        settled = Counter(r for r in world.resolved if r[0] == name)
        assert answered == shown + settled, name
        refusals += sum(p.status == "rejected" for p in processed[name].values())
        conflicts += sum(answered.values())

    # A mutation is refused exactly when it came after the contact it is about was deleted (an
    # edit of that contact, an activity naming it): no other cause exists in this world, and a
    # mutation applied twice would show as a refusal ("already recorded").
    deleted_at: dict[str, datetime] = {}
    for write in world.writes:
        if write.op == "delete":
            at = processed[write.device][write.mid].processed_at
            deleted_at[write.record_id] = min(at, deleted_at.get(write.record_id, at))
    for write in world.writes:
        answer = processed[write.device][write.mid]
        about = write.record_id if (write.entity, write.op) == ("contact", "update") else None
        if (write.entity, write.op) == ("activity", "create"):
            about = write.fields.get("contact_id")
        gone = deleted_at.get(about or "")
        assert (answer.status == "rejected") == (gone is not None and gone < answer.processed_at), (
            write,
            answer.status,
            answer.reason,
        )
        assert answer.status != "rejected" or answer.reason, write

    # Steer the search towards examples where devices disagree (conflicts, refusals).
    for label, count in (("refusals", refusals), ("conflicts", conflicts)):
        target(float(count), label=label)
        event(f"{label}: {'some' if count else 'none'}")

    # No mutation applied twice, none lost: each activity logged is on the server once (none if
    # every sending was refused); each contact added is there unless refused or deleted since.
    deleted = {w.record_id for w in world.writes if w.op == "delete"}
    taken: dict[str, bool] = {}
    for write in world.writes:
        if write.op == "create":
            applied = processed[write.device][write.mid].status != "rejected"
            taken[write.record_id] = taken.get(write.record_id, False) or applied
    for write in world.writes:
        if write.entity == "activity":
            assert summaries[write.fields["summary"]] == int(taken[write.record_id]), write
        elif write.op == "create":
            assert (write.record_id in contacts_now) == (taken[write.record_id] and write.record_id not in deleted), (
                write
            )
    for record_id in deleted:
        assert record_id not in contacts_now  # a deleted contact never comes back

    # No edit lost, no conflict missed or made up. Replaying every change the server took, in
    # the order it took them: a device's change of a field conflicts exactly when someone else
    # (another device, the manager) changed that field after the version the device saw, and
    # then the server's value stays; otherwise it is applied. At the end, each field holds the
    # value this replay leaves. (Refused changes are checked above.)
    replay: list[tuple[datetime, int, str, str, str, Any, int, Write | None]] = [
        (at, 0, entity, record_id, name, value, version, None)
        for entity, record_id, name, value, version, at in world.api_writes
    ]
    for write in world.writes:
        answer = processed[write.device][write.mid]
        if write.op == "update" and answer.status != "rejected":
            for name, value in write.fields.items():
                replay.append((answer.processed_at, write.mid, write.entity, write.record_id, name, value, 0, write))
    current = dict(world.initial)
    changed: dict[tuple[str, str, str], list[tuple[int, str]]] = {}  # field -> (version, by whom)
    for _at, _mid, entity, record_id, name, value, version, by in sorted(replay, key=lambda r: (r[0], r[1])):
        key = (entity, record_id, name)
        if by is None:  # the manager, on the server: always applied
            if value != current.get(key):
                current[key] = value
                changed.setdefault(key, []).append((version, "manager"))
            continue
        answer = processed[by.device][by.mid]
        in_conflict = name in {c["field"] for c in answer.conflicts}
        assert by.base_version is not None, by
        clash = value != current.get(key) and any(
            v > by.base_version and who != by.device for v, who in changed.get(key, [])
        )
        assert in_conflict == clash, (by, answer.status, answer.conflicts, current.get(key), changed.get(key))
        if not clash and value != current.get(key):
            current[key] = value
            changed.setdefault(key, []).append((answer.version or 0, by.device))
    with server.connect() as conn:
        for (entity, record_id, name), value in current.items():
            table = entity_table(entity)
            now = conn.execute(sa.select(table.c[name]).where(table.c.id == record_id)).first()
            if now is not None:
                assert now[0] == value, (entity, record_id, name, value, now[0])

    # Every replica holds the server's records of its user's scope, every column alike; the
    # only records it may show besides are those it created and the server refused (shown with
    # the refusal until the rep decides)...
    scopes = {
        user: _scope_rows(server, {world.users[user]} | ({world.users[r] for r in REPS} if user == "manon" else set()))
        for user in set(DEVICES.values())
    }
    assert not _replica_problems(world, scopes, refused_creates)
    # ...and once the rep has dismissed every refusal, the replica is exactly the server's scope.
    for device in world.devices.values():
        with Session(device.sync.replica) as session:
            for refused in pending_changes(session=session)["rejected"]:
                dismiss_rejected(session=session, mid=refused["mid"])
    assert not _replica_problems(world, scopes, {})


# -- the test -------------------------------------------------------------------------------
@pytest.fixture
def live_and_proxy(server_engine: Engine, tmp_path: Path) -> Iterator[tuple[LiveServer, FaultyProxy]]:
    live = start_live_server(server_engine, tmp_path)
    proxy = FaultyProxy(upstream_port=int(live.url.rsplit(":", 1)[1])).start()
    yield live, proxy
    proxy.stop()
    live.stop()


def _empty_replica(directory: Path) -> Path:
    replica = open_replica(directory)
    create_sync_tables(replica)
    replica.dispose()
    return directory / REPLICA_FILE


def _run_example(
    live: LiveServer,
    proxy: FaultyProxy,
    base: Path,
    template: Path,
    number: int,
    password_hash: str,
    operations: list[Op],
    order: list[str],
) -> None:
    """A new company on the server, its four devices signed in and synced; the operations; then
    everyone syncs and `_check` holds."""
    users, usernames = _create_world(live.engine, number, password_hash)
    devices = {name: Device(name, user, base / f"example-{number}" / name) for name, user in DEVICES.items()}
    world = World(number, users, usernames, devices)
    with Session(live.engine) as session:
        for account in session.exec(select(Account).where(col(Account.owner_id).in_(users.values()))):
            world.initial.update({("account", account.id, f): getattr(account, f) for f in ACCOUNT_FIELDS})
            for contact in session.exec(select(Contact).where(Contact.account_id == account.id)):
                world.initial.update({("contact", contact.id, f): getattr(contact, f) for f in CONTACT_FIELDS})
    with httpx.Client(base_url=live.url, timeout=10) as api:
        world.manager_api = sign_in(api, usernames["manon"], PASSWORD)
        try:
            for device in devices.values():
                _open(device, proxy, template)
                device.sync.sign_in(username=usernames[device.username], password=PASSWORD)
                device.sync.sync()
            runner = Run(world, live, proxy, api, template)
            for step, operation in enumerate(operations):
                runner.apply(step, operation)
            runner.settle(order)
            _check(world, live.engine)
        finally:
            proxy.plans.clear()
            for device in devices.values():
                _close(device)


#: Random stories per backend: 10 in the suite (about a minute each); more for a deeper search,
#: e.g. `TERRAIN_PROPERTY_EXAMPLES=200 python3 dev.py test tests/integration/test_sync_property.py`.
EXAMPLES = int(os.environ.get("TERRAIN_PROPERTY_EXAMPLES", "10"))


@pytest.mark.timeout(600 + 20 * EXAMPLES)  # and time for hypothesis to shrink a failure (5 minutes at most)
def test_random_edits_cuts_and_restarts_converge_once_everyone_has_synced(
    live_and_proxy: tuple[LiveServer, FaultyProxy], tmp_path: Path
) -> None:
    live, proxy = live_and_proxy
    # Argon2id as the server stores passwords (it checks them with its own verify_password), at
    # the lowest cost: every example signs five people in, and the default cost is 0.15 s each.
    password_hash = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    template = _empty_replica(tmp_path / "template")
    numbers = itertools.count()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,  # the server and the replicas live in tmp_path: nothing to replay from the repo
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(operations=OPERATIONS, order=st.permutations(sorted(DEVICES)))
    # Three stories run every time, whatever the random search finds. A refused create: Alice's
    # phone deletes a contact; her laptop, not synced since, logs an activity naming that
    # contact: the server refuses it, the laptop shows it with the refusal until it is dismissed.
    @example(
        operations=[DeleteContact("alice-phone", 0), Sync("alice-phone", None, 0), LogActivity("alice-laptop", 0, 0)],
        order=list(DEVICES),
    )
    # A conflict: Alice and her manager change the same field; Alice keeps her value.
    @example(
        operations=[
            Edit("alice-phone", "contact", 0, "role"),
            ManagerEdit("contact", 0, "role"),
            Sync("alice-phone", None, 0),
            Resolve("alice-phone", "device"),
        ],
        order=list(DEVICES),
    )
    # A refused edit whose answer is lost, then whose answer dies with the app as it is being
    # recorded: the third sync hears it (from the server's record, not applied again); Alice
    # cannot send it again (the contact is gone) and dismisses it.
    @example(
        operations=[
            DeleteContact("alice-phone", 0),
            Sync("alice-phone", None, 0),
            Edit("alice-laptop", "contact", 0, "phone"),
            Sync("alice-laptop", Cut(response_bytes=0), 0),
            Kill("alice-laptop", "UPDATE outbox", 1),
            Sync("alice-laptop", None, 0),
            Resend("alice-laptop", 0),
            Dismiss("alice-laptop", 0),
        ],
        order=list(DEVICES),
    )
    def run(operations: list[Op], order: list[str]) -> None:
        _run_example(live, proxy, tmp_path, template, next(numbers), password_hash, operations, order)

    run()
