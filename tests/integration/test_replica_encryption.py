"""The replica encrypted at rest (SQLCipher, its key in the secure store), checked on real files
after a real sync of the demo company over HTTP: no customer's name, e-mail or phone can be
read in the replica or its -wal/-shm, the `terrain card` command prints the same card as from a
replica in clear, a replica in clear is converted with its data and outbox intact, and a wrong
key or a missing SQLCipher says so without touching the file.

This machine has no keyring backend: the key is kept in the file store the user allowed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import fail
from sqlmodel import Session, col, select

from app.credentials import TOKEN_FILE, FileTokenStore, replica_key, replica_key_name
from app.models import Account, Contact
from app.preferences import Preferences
from app.replica import (
    ENCRYPT_ENV,
    REPLICA_FILE,
    ReplicaInUse,
    ReplicaKeyNeeded,
    WrongReplicaKey,
    open_device_replica,
    open_replica,
    replica_is_encrypted,
)
from app.services import Device, open_device
from server.models import User
from tests.conftest import DEMO_DAY, LiveServer

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

#: keyring's own switch: the subprocesses use no keyring either (never this machine's real one).
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


@pytest.fixture(autouse=True)
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    monkeypatch.delenv(ENCRYPT_ENV, raising=False)
    yield
    keyring.set_keyring(previous)


def terrain(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != ENCRYPT_ENV}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment, **NO_KEYRING, **(env or {})},
    )


def synced_device(live_server: LiveServer, data_dir: Path) -> Device:
    """alice's device as the app opens it (encrypted if `TERRAIN_ENCRYPT_REPLICA` says so), synced."""
    device = open_device(data_dir, server_url=live_server.url, allow_file_token=True)
    device.engine.sign_in(username="alice", password="demo")
    device.engine.sync()
    return device


def alices_secrets(live_server: LiveServer) -> list[str]:
    """Names, e-mails and phones of alice's customers and their contacts, as the server has them."""
    with Session(live_server.engine) as session:
        alice = session.exec(select(User.id).where(User.username == "alice")).one()
        accounts = session.exec(select(Account).where(Account.owner_id == alice).order_by(Account.name)).all()
        contacts = session.exec(
            select(Contact).where(col(Contact.account_id).in_([a.id for a in accounts])).order_by(Contact.id)
        ).all()

    def some(values: list[str | None], n: int = 6) -> list[str]:
        return sorted({v for v in values if v and len(v) >= 8})[:n]

    found = (
        some([a.name for a in accounts])
        + some([a.email for a in accounts])
        + some([c.email for c in contacts])
        + some([c.phone for c in contacts])
        + some([a.phone for a in accounts])
    )
    assert len(found) >= 20, found
    return found


def replica_bytes(data_dir: Path) -> dict[str, bytes]:
    """The replica file and its -wal and -shm, as they are on disk."""
    names = (REPLICA_FILE, f"{REPLICA_FILE}-wal", f"{REPLICA_FILE}-shm")
    return {name: (data_dir / name).read_bytes() for name in names if (data_dir / name).exists()}


def readable_in(data_dir: Path, needles: list[str]) -> set[str]:
    """The needles that appear, byte for byte (as SQLite stores text: UTF-8), in any replica file."""
    files = replica_bytes(data_dir).values()
    return {
        needle
        for needle in needles
        if any(form.encode() in content for form in (needle, needle.lower()) for content in files)
    }


def table_rows(conn: Any) -> dict[str, int]:
    """Rows per table (SQLite's own too: `sqlite_sequence` keeps the outbox's numbering)."""
    names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}


def test_an_encrypted_replica_shows_no_customer_in_its_files_and_the_card_prints_as_before(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    needles = alices_secrets(live_server)

    clear = synced_device(live_server, tmp_path / "clear")
    # The search can fail: in a replica in clear, every one of them is there to read.
    assert readable_in(tmp_path / "clear", needles) == set(needles)
    clear.close()

    monkeypatch.setenv(ENCRYPT_ENV, "1")
    device = synced_device(live_server, tmp_path / "encrypted")
    files = replica_bytes(tmp_path / "encrypted")
    assert set(files) == {REPLICA_FILE, f"{REPLICA_FILE}-wal", f"{REPLICA_FILE}-shm"}
    assert len(files[f"{REPLICA_FILE}-wal"]) > 100_000, "the sync should have left pages in the -wal"
    assert not files[REPLICA_FILE].startswith(b"SQLite format 3")
    assert readable_in(tmp_path / "encrypted", needles) == set()
    with Session(device.replica) as session:
        assert len(session.exec(select(Account)).all()) == 110  # and the app reads them all
        assert needles[0] in [found.name for found in device.search(needles[0])]
    # The key is in the store the user allowed, under its own name: signing out keeps it.
    token_store = FileTokenStore(tmp_path / "encrypted" / TOKEN_FILE)
    key = token_store.load(replica_key_name(tmp_path / "encrypted"))
    assert key is not None and len(key) == 64
    device.engine.sign_out()
    assert token_store.load(replica_key_name(tmp_path / "encrypted")) == key
    device.close()
    assert readable_in(tmp_path / "encrypted", needles) == set()

    account = needles[0]
    before = terrain("card", account, "--json", "--as-of", DEMO_DAY.isoformat(), data_dir=tmp_path / "clear")
    assert before.returncode == 0, before.stderr
    after = terrain(
        "card",
        account,
        "--json",
        "--as-of",
        DEMO_DAY.isoformat(),
        data_dir=tmp_path / "encrypted",
        env={ENCRYPT_ENV: "1"},
    )
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(before.stdout)
    assert json.loads(after.stdout)["account"]["name"] == account and json.loads(after.stdout)["contacts"]
    # Turned on by the environment, it stays on in a shell without the variable (never decrypted by surprise).
    assert Preferences.load(tmp_path / "encrypted").encrypt_replica is True
    text = terrain("card", account, data_dir=tmp_path / "encrypted")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"{account} — ") and "contacts:" in text.stdout
    assert replica_is_encrypted(tmp_path / "encrypted")
    assert readable_in(tmp_path / "encrypted", needles) == set()


def test_a_clear_replica_is_converted_once_with_its_data_and_outbox_intact(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "alice"
    needles = alices_secrets(live_server)
    device = synced_device(live_server, data_dir)
    with Session(device.replica) as session:
        account = session.exec(select(Account).order_by(Account.name)).first()
    assert account is not None
    device.edit_account(account.id, {"website": "https://converted.example.fr"})
    assert device.pending()["pending"] == 1

    monkeypatch.setenv(ENCRYPT_ENV, "1")
    # The app still has the replica open: converting it now would lose its next writes.
    with pytest.raises(ReplicaInUse, match="close it"):
        open_device_replica(data_dir, allow_file_key=True)
    assert not replica_is_encrypted(data_dir)
    device.close()

    with sqlite3.connect(data_dir / REPLICA_FILE) as clear:
        rows_before = table_rows(clear)
        outbox_before = clear.execute("SELECT * FROM outbox ORDER BY mid").fetchall()
        state_before = clear.execute("SELECT * FROM sync_state ORDER BY key").fetchall()
        sequence_before = clear.execute("SELECT * FROM sqlite_sequence ORDER BY name").fetchall()
    clear.close()
    assert rows_before["account"] == 110 and len(outbox_before) == 1

    device = open_device(data_dir, server_url=live_server.url, allow_file_token=True)
    assert replica_is_encrypted(data_dir)
    assert not (data_dir / f".{REPLICA_FILE}.converting").exists()
    assert readable_in(data_dir, needles) == set()
    with device.replica.connect() as conn:
        raw = conn.connection.driver_connection
        assert table_rows(raw) == rows_before
        assert raw.execute("SELECT * FROM outbox ORDER BY mid").fetchall() == outbox_before  # type: ignore[union-attr]
        assert raw.execute("SELECT * FROM sync_state ORDER BY key").fetchall() == state_before  # type: ignore[union-attr]
        assert raw.execute("SELECT * FROM sqlite_sequence ORDER BY name").fetchall() == sequence_before  # type: ignore[union-attr]
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # type: ignore[union-attr]
    # The kept outbox is pushed as it would have been from the replica in clear.
    device.engine.sign_in(username="alice", password="demo")
    report = device.engine.sync()
    assert report.pushed.applied == 1 and device.pending()["pending"] == 0
    with Session(live_server.engine) as session:
        assert session.get(Account, account.id).website == "https://converted.example.fr"  # type: ignore[union-attr]
    with device.replica.connect() as conn:
        rows_encrypted = table_rows(conn.connection.driver_connection)
    device.close()

    # Turned off again: decrypted at the next start, with the same rows.
    monkeypatch.setenv(ENCRYPT_ENV, "0")
    engine = open_device_replica(data_dir)
    engine.dispose()
    assert not replica_is_encrypted(data_dir)
    with sqlite3.connect(data_dir / REPLICA_FILE) as clear:
        assert table_rows(clear) == rows_encrypted
    clear.close()


def test_a_wrong_or_missing_key_gives_a_clear_error_and_leaves_the_file_untouched(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "alice"
    monkeypatch.setenv(ENCRYPT_ENV, "1")
    synced_device(live_server, data_dir).close()
    key = replica_key(data_dir, create=False)
    assert key is not None
    fingerprint = {name: hashlib.sha256(content).hexdigest() for name, content in replica_bytes(data_dir).items()}

    wrong = "0" * 64
    with pytest.raises(WrongReplicaKey, match="does not open the data"):
        open_replica(data_dir, wrong)
    store = FileTokenStore(data_dir / TOKEN_FILE)
    store.save(replica_key_name(data_dir), wrong)
    refused = terrain("card", "a", data_dir=data_dir, env={ENCRYPT_ENV: "1"})
    assert refused.returncode == 2 and refused.stdout == ""
    assert "error: the key in this device's secure store does not open the data" in refused.stderr
    assert "Traceback" not in refused.stderr and "hmac" not in refused.stderr

    store.delete(replica_key_name(data_dir))
    lost = terrain("card", "a", data_dir=data_dir, env={ENCRYPT_ENV: "1"})
    assert lost.returncode == 2 and "is encrypted and its key is not in this device's secure store" in lost.stderr
    with pytest.raises(ReplicaKeyNeeded, match="is encrypted"):
        open_replica(data_dir)
    assert {n: hashlib.sha256(c).hexdigest() for n, c in replica_bytes(data_dir).items()} == fingerprint

    store.save(replica_key_name(data_dir), key)
    engine = open_replica(data_dir, key)
    with Session(engine) as session:
        assert len(session.exec(select(Account)).all()) == 110
    engine.dispose()


def test_without_sqlcipher_asking_for_encryption_says_it_is_not_available_here(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """macOS and Windows have no sqlcipher3: the same as an interpreter where it cannot be imported."""
    data_dir = tmp_path / "alice"
    synced_device(live_server, data_dir).close()
    before = replica_bytes(data_dir)[REPLICA_FILE]
    blocked = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['sqlcipher3'] = None\n"
            "from app.cli import main\n"
            f"raise SystemExit(main(['--data-dir', {str(data_dir)!r}, 'card', 'a']))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **NO_KEYRING, ENCRYPT_ENV: "1"},
    )
    assert blocked.returncode == 2, blocked.stderr
    assert "encrypting this device's data is not available on this platform" in blocked.stderr
    assert replica_bytes(data_dir)[REPLICA_FILE] == before
    assert replica_key(data_dir, create=False) is None  # no key made that could not be used
