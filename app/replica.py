"""The device's local SQLite replica: where it lives, how it is opened, and its encryption at rest.

With a key, the replica is a SQLCipher file: every page is encrypted (AES-256) and
authenticated, and so are its -wal and -shm. The key is a random 256-bit key kept in the secure
store (`app.credentials.replica_key`), given to SQLCipher raw, so that opening a connection
costs no key derivation. A replica in clear is converted once when encryption is turned on
(and back when it is turned off), into a new file that replaces the old one atomically.

Every connection to the replica holds a shared lock on `replica.lock` for its lifetime; a
conversion takes it exclusively, so it never swaps the file under a running app or command.

    ReplicaError -> EncryptionUnavailable | ReplicaKeyNeeded | WrongReplicaKey | ReplicaKeyLost | ReplicaInUse
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
import time
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from platformdirs import user_data_dir
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from app.geocoding import create_geocoding_tables
from app.models import ENTITIES
from app.preferences import Preferences
from app.search import ensure_search_index
from app.segments import create_segment_tables
from app.sqlite import sqlite_engine

if sys.platform != "win32":
    import fcntl

__all__ = [
    "EncryptionUnavailable",
    "ReplicaError",
    "ReplicaInUse",
    "ReplicaKeyLost",
    "ReplicaKeyNeeded",
    "WrongReplicaKey",
    "decrypt_replica",
    "default_data_dir",
    "encryption_env",
    "encryption_wanted",
    "entity_tables",
    "open_device_replica",
    "open_replica",
    "replica_is_encrypted",
    "set_encryption",
]

REPLICA_FILE = "replica.db"
LOCK_FILE = "replica.lock"
#: `TERRAIN_ENCRYPT_REPLICA=1` (or 0): wins over the preference set in the app's Settings.
ENCRYPT_ENV = "TERRAIN_ENCRYPT_REPLICA"
_CLEAR_HEADER = b"SQLite format 3\x00"
_KEY_FORMAT = re.compile(r"[0-9a-fA-F]{64}")
#: How long an opener waits for a conversion by another process to end, and a conversion for
#: other connections to close, before saying so.
_LOCK_WAIT_S = 60.0
_CONVERT_WAIT_S = 5.0


class ReplicaError(Exception):
    """The replica cannot be opened as asked; the message says what the person can do."""


class EncryptionUnavailable(ReplicaError):
    """SQLCipher (the `sqlcipher3` module) is not installed on this platform."""


class ReplicaKeyNeeded(ReplicaError):
    """The replica is encrypted and no key was given."""


class WrongReplicaKey(ReplicaError):
    """The key given does not open the replica (the file is left untouched)."""


class ReplicaKeyLost(ReplicaError):
    """The replica is encrypted and its key is not in the secure store."""


class ReplicaInUse(ReplicaError):
    """Another process has the replica open, so it cannot be converted now (or is converting it)."""


def default_data_dir() -> Path:
    """`TERRAIN_DATA_DIR`, else the per-user data directory of this platform."""
    configured = os.environ.get("TERRAIN_DATA_DIR")
    return Path(configured) if configured else Path(user_data_dir("terrain", appauthor=False))


def sqlcipher_module() -> ModuleType:
    """SQLCipher's DB-API module, or a clear error where it is not built (macOS, Windows)."""
    try:
        return import_module("sqlcipher3")
    except ImportError as exc:
        raise EncryptionUnavailable(
            f"encrypting this device's data is not available on this platform ({sys.platform}): "
            f"SQLCipher (the sqlcipher3 module) is not installed; turn encryption off ({ENCRYPT_ENV}=0 "
            "or in Settings) to use the app here"
        ) from exc


def encryption_env() -> bool | None:
    """What `TERRAIN_ENCRYPT_REPLICA` says (None: unset), which wins over the preference."""
    configured = os.environ.get(ENCRYPT_ENV, "").strip().lower()
    if configured in ("1", "true", "yes", "on"):
        return True
    if configured in ("0", "false", "no", "off"):
        return False
    return None


def encryption_wanted(prefs: Preferences) -> bool:
    """Whether the replica should be encrypted: `TERRAIN_ENCRYPT_REPLICA` if set, else the preference."""
    forced = encryption_env()
    return prefs.encrypt_replica if forced is None else forced


def set_encryption(data_dir: Path, prefs: Preferences, on: bool, *, allow_file_key: bool = False) -> None:
    """Keep the rep's choice for the next start. Turning it on makes (and keeps) the key first,
    so that a missing keyring is said now (`NoSecureStore`, `EncryptionUnavailable`), not at start."""
    if on:
        from app.credentials import replica_key

        sqlcipher_module()
        replica_key(data_dir, allow_file=allow_file_key, create=True)
    prefs.encrypt_replica = on
    prefs.save(data_dir)


def replica_is_encrypted(data_dir: Path) -> bool:
    """Whether the replica file exists and is not a SQLite file in clear (whose header is plain)."""
    try:
        with (data_dir / REPLICA_FILE).open("rb") as handle:
            header = handle.read(len(_CLEAR_HEADER))
    except FileNotFoundError:
        return False
    return bool(header) and header != _CLEAR_HEADER


def _key_literal(key: str) -> str:
    """SQLCipher's raw-key form `x'<64 hex digits>'`: used as the key as is, no derivation."""
    if not _KEY_FORMAT.fullmatch(key):
        raise ValueError("a replica key is 64 hexadecimal digits (256 bits)")
    return f"x'{key}'"


# -- the lock ----------------------------------------------------------------------------------


def _lock(data_dir: Path, *, exclusive: bool, wait_s: float) -> int | None:
    """A descriptor of the lock file holding a shared (or exclusive) lock; closing it releases
    the lock. A bare descriptor, not a file object: a connection never closed (some callers
    leave the engine to the garbage collector) must not warn when it goes."""
    if sys.platform == "win32":  # no SQLCipher there, hence no conversion to guard against
        return None
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, mode)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                if exclusive:
                    raise ReplicaInUse(
                        f"the data in {data_dir} is open in another Terrain app or command: close it, "
                        "then start again to encrypt (or decrypt) it"
                    ) from None
                raise ReplicaInUse(
                    f"the data in {data_dir} is being encrypted (or decrypted) by another Terrain process: "
                    "wait for it to finish, then try again"
                ) from None
            time.sleep(0.05)
        except BaseException:
            os.close(fd)
            raise


def _release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _connector(path: Path, dbapi: ModuleType, key: str | None) -> Callable[[], Any]:
    """What makes each connection of the engine: the shared lock, then the file, and with a key,
    `PRAGMA key` as the very first statement, checked at once so a wrong key says so."""

    class ReplicaConnection(dbapi.Connection):  # type: ignore[name-defined,misc]
        lock: int | None = None

        def close(self) -> None:
            try:
                super().close()
            finally:
                lock, self.lock = self.lock, None
                _release(lock)

        def __del__(self) -> None:  # dropped without close(): the lock goes with it
            lock, self.lock = self.lock, None
            _release(lock)

    def connect() -> Any:
        lock = _lock(path.parent, exclusive=False, wait_s=_LOCK_WAIT_S)
        try:
            conn = dbapi.connect(str(path), check_same_thread=False, factory=ReplicaConnection)
        except BaseException:
            _release(lock)
            raise
        conn.lock = lock
        if key is not None:
            try:
                _unlock(conn, key, path.parent)
            except BaseException:
                conn.close()
                raise
        return conn

    return connect


def _unlock(conn: Any, key: str, data_dir: Path) -> None:
    # Each statement run to its end: a statement left open (PRAGMA key answers "ok") would keep
    # the connection busy, and SQLite then refuses to (re)define a function on it.
    cursor = conn.cursor()
    try:
        cursor.execute(f'PRAGMA key = "{_key_literal(key)}"').fetchall()
        cursor.execute("PRAGMA cipher_log_level = NONE").fetchall()  # a wrong key is said below, not on stderr
        try:
            cursor.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except conn.DatabaseError as exc:
            raise WrongReplicaKey(
                f"the key in this device's secure store does not open the data in {data_dir}: the file was left "
                "as it is; if the keyring was reset, move the data directory away and sign in again to download "
                "your customers (changes not yet sent stay in the old file)"
            ) from exc
    finally:
        cursor.close()


# -- conversions ---------------------------------------------------------------------------------


def _table_counts(conn: Any) -> dict[str, int]:
    names = [
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    ]
    return {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}


def _sync_dir(directory: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rewrite(data_dir: Path, *, from_key: str | None, to_key: str | None) -> None:
    """Copy the replica into a new file under `to_key` (None: in clear) with SQLCipher's
    `sqlcipher_export`, check it holds the same rows, then put it in the old one's place.

    The old file is checkpointed and taken out of WAL mode first, so no -wal or -shm of it is
    left to be read against the new file; until the final rename the old file is whole."""
    dbapi = sqlcipher_module()
    path = data_dir / REPLICA_FILE
    converted = path.with_name(f".{REPLICA_FILE}.converting")
    lock = _lock(data_dir, exclusive=True, wait_s=_CONVERT_WAIT_S)
    try:
        if replica_is_encrypted(data_dir) == (to_key is not None):
            return  # another process did it while this one waited for the lock
        for leftover in (converted, converted.with_name(converted.name + "-journal")):
            leftover.unlink(missing_ok=True)  # from a conversion cut short: the old file is whole
        source = dbapi.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            if from_key is not None:
                _unlock(source, from_key, data_dir)
            source.execute("PRAGMA busy_timeout = 10000")
            busy = source.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            mode = source.execute("PRAGMA journal_mode = DELETE").fetchone()
            if busy[0] != 0 or str(mode[0]).lower() != "delete":
                raise ReplicaInUse(f"the data in {data_dir} is in use by another program: close it, then start again")
            expected = _table_counts(source)
            target = "" if to_key is None else _key_literal(to_key)
            source.execute("ATTACH DATABASE ? AS converted KEY ?", (str(converted), target))
            # A copy cut short is thrown away, and the whole file is synced once at the end.
            source.execute("PRAGMA converted.journal_mode = OFF")
            source.execute("PRAGMA converted.synchronous = OFF")
            source.execute("SELECT sqlcipher_export('converted')")
            user_version = source.execute("PRAGMA main.user_version").fetchone()[0]
            source.execute(f"PRAGMA converted.user_version = {int(user_version)}")
            source.execute("DETACH DATABASE converted")
        finally:
            source.close()
        check = dbapi.connect(str(converted), isolation_level=None)
        try:
            if to_key is not None:
                _unlock(check, to_key, data_dir)
            if _table_counts(check) != expected or check.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise ReplicaError(f"converting the data in {data_dir} went wrong: the old file is kept as it was")
        finally:
            check.close()
        with converted.open("rb+") as handle:
            os.fsync(handle.fileno())
        for stale in ("-wal", "-shm", "-journal"):  # the old file's, now empty: never the new one's
            path.with_name(path.name + stale).unlink(missing_ok=True)
        os.replace(converted, path)
        _sync_dir(data_dir)
    except BaseException:
        converted.unlink(missing_ok=True)
        raise
    finally:
        _release(lock)


def decrypt_replica(data_dir: Path, key: str) -> None:
    """Turn an encrypted replica back into one in clear (encryption turned off)."""
    if replica_is_encrypted(data_dir):
        _rewrite(data_dir, from_key=key, to_key=None)


def entity_tables() -> list[sa.Table]:
    return [model.__table__ for model in ENTITIES.values()]  # type: ignore[attr-defined]


def _add_new_columns(engine: Engine) -> None:
    """A replica made by an older app lacks the columns added since: add them, with their
    default, so the app and the next pull can write them (SQLite adds a column in place)."""
    with engine.begin() as conn:
        for table in entity_tables():
            present = {row[1] for row in conn.exec_driver_sql(f'PRAGMA table_info("{table.name}")')}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                default = getattr(column.default, "arg", None) if column.default is not None else None
                if default is None and not column.nullable:
                    raise RuntimeError(f"{table.name}.{column.name} needs a default to be added to an old replica")
                literal = (
                    ""
                    if default is None
                    else f" NOT NULL DEFAULT {int(default) if isinstance(default, bool) else repr(default)}"
                )
                conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}{literal}')


def open_replica(data_dir: Path, key: str | None = None) -> Engine:
    """Open (and create on first use) the replica in `data_dir`; with `key` (64 hex digits),
    encrypted, converting once a replica that was kept in clear."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / REPLICA_FILE
    dbapi: ModuleType = sqlite3
    if key is not None:
        _key_literal(key)
        dbapi = sqlcipher_module()
        if path.exists() and not replica_is_encrypted(data_dir) and path.stat().st_size > 0:
            _rewrite(data_dir, from_key=None, to_key=key)
    elif replica_is_encrypted(data_dir):
        raise ReplicaKeyNeeded(
            f"the data in {data_dir} is encrypted: turn encryption on ({ENCRYPT_ENV}=1 or in Settings) "
            "so that its key is taken from the secure store"
        )
    engine = sqlite_engine(f"sqlite:///{path}", foreign_keys=False, creator=_connector(path, dbapi, key), module=dbapi)
    SQLModel.metadata.create_all(engine, tables=entity_tables())
    _add_new_columns(engine)
    with engine.begin() as conn:
        # Who buys a product: the card's next-best products read it. The server has no use for it.
        conn.exec_driver_sql(
            "CREATE INDEX IF NOT EXISTS ix_order_line_product_account ON order_line (product_id, account_id)"
        )
    ensure_search_index(engine)
    create_geocoding_tables(engine)
    create_segment_tables(engine)  # personal, never synced
    return engine


def open_device_replica(data_dir: Path, *, allow_file_key: bool = False) -> Engine:
    """The replica as this device is set: encrypted with the key from the secure store when
    encryption is on (`TERRAIN_ENCRYPT_REPLICA`, else the preference), in clear when it is off
    (an encrypted one is decrypted then). `allow_file_key`: where no keyring exists, the user
    agreed to keep the key in a file readable only by them.

    Raises `NoSecureStore` when a key must be made and there is nowhere safe to keep it."""
    from app.credentials import replica_key

    prefs = Preferences.load(data_dir)
    encrypted = replica_is_encrypted(data_dir)
    if encryption_wanted(prefs):
        sqlcipher_module()  # say so before making a key that could not be used
        key = replica_key(data_dir, allow_file=allow_file_key, create=not encrypted)
        if key is None:
            raise _key_lost(data_dir)
        if not prefs.encrypt_replica:
            # Turned on by the environment: keep it on when a later run lacks the variable,
            # rather than decrypting then.
            prefs.encrypt_replica = True
            prefs.save(data_dir)
        return open_replica(data_dir, key)
    if encrypted:
        key = replica_key(data_dir, allow_file=allow_file_key, create=False)
        if key is None:
            raise _key_lost(data_dir)
        decrypt_replica(data_dir, key)
    return open_replica(data_dir)


def _key_lost(data_dir: Path) -> ReplicaKeyLost:
    return ReplicaKeyLost(
        f"the data in {data_dir} is encrypted and its key is not in this device's secure store: unlock the "
        "system keyring and start again; if the keyring was reset, move the data directory away and sign in "
        "again to download your customers (changes not yet sent stay in the old file)"
    )
