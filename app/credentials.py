"""Keeping the refresh token on the device: the system keyring, or a file only if asked for.

Passwords are never stored. Where no keyring backend exists (a server or a bare container),
`KeyringTokenStore` says so with `NoSecureStore` instead of writing the secret in clear; the
user may then opt in to `FileTokenStore`, a file readable by them only.

The key that encrypts the replica at rest (`replica_key`) is kept in the same store, under its
own name: signing out deletes the session, never that key (it would make the data unreadable).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path

import keyring
import keyring.backend
from keyring.errors import KeyringError, NoKeyringError

from sync.engine import TokenStore

__all__ = [
    "FileTokenStore",
    "KeyringTokenStore",
    "NoSecureStore",
    "best_token_store",
    "replica_key",
    "replica_key_name",
]

SERVICE = "terrain"
TOKEN_FILE = "session-token.json"


class NoSecureStore(Exception):
    """No keyring backend: the token can only be kept in memory, or in a file if the user agrees."""


def _secure_backend() -> keyring.backend.KeyringBackend:
    """The system keyring, refusing backends that would keep the secret in clear."""
    backend = keyring.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if "plaintext" in name.lower() or name.startswith(("keyring.backends.fail", "keyring.backends.null")):
        raise NoKeyringError(f"{name} is not a secure store")
    return backend


class KeyringTokenStore(TokenStore):
    def load(self, key: str) -> str | None:
        try:
            return _secure_backend().get_password(SERVICE, key)
        except (NoKeyringError, KeyringError):
            return None

    def save(self, key: str, token: str) -> None:
        try:
            _secure_backend().set_password(SERVICE, key, token)
        except NoKeyringError as exc:
            raise NoSecureStore(
                "no system keyring is available: you will have to sign in again next time, "
                "unless you allow keeping the session in a file readable only by you"
            ) from exc

    def delete(self, key: str) -> None:
        try:
            _secure_backend().delete_password(SERVICE, key)
        except (NoKeyringError, KeyringError):
            pass


class FileTokenStore(TokenStore):
    """Tokens in a JSON file with mode 0600, for machines without a keyring, by explicit choice."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def load(self, key: str) -> str | None:
        return self._read().get(key)

    def save(self, key: str, token: str) -> None:
        data = self._read()
        data[key] = token
        self.save_all(data)

    def delete(self, key: str) -> None:
        data = self._read()
        if data.pop(key, None) is not None:
            self.save_all(data)

    def save_all(self, data: dict[str, str]) -> None:
        """Write a private temporary file, then rename it over the old one: never half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".session-token-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class _FallbackStore(TokenStore):
    """The keyring when there is one; else memory (and the file, if the user allowed it)."""

    def __init__(self, file_store: FileTokenStore | None) -> None:
        super().__init__()
        self.keyring = KeyringTokenStore()
        self.file_store = file_store
        self.warning: str | None = None

    def load(self, key: str) -> str | None:
        token = self.keyring.load(key) or super().load(key)
        if token is None and self.file_store is not None:
            token = self.file_store.load(key)
        return token

    def save(self, key: str, token: str) -> None:
        super().save(key, token)
        try:
            self.keyring.save(key, token)
        except NoSecureStore as exc:
            if self.file_store is not None:
                self.file_store.save(key, token)
            else:
                self.warning = str(exc)

    def delete(self, key: str) -> None:
        super().delete(key)
        self.keyring.delete(key)
        if self.file_store is not None:
            self.file_store.delete(key)


def best_token_store(data_dir: Path, *, allow_file: bool = False) -> _FallbackStore:
    file_store = FileTokenStore(data_dir / TOKEN_FILE) if allow_file or (data_dir / TOKEN_FILE).exists() else None
    return _FallbackStore(file_store)


def replica_key_name(data_dir: Path) -> str:
    """The name the replica's key is kept under: one key per data directory."""
    return f"replica-key|{data_dir.resolve()}"


def replica_key(data_dir: Path, *, allow_file: bool = False, create: bool = True) -> str | None:
    """The 256-bit key (64 hex digits) that encrypts the replica in `data_dir`, from the system
    keyring, else from the file store if the user allowed it (or did before); made and kept on
    first use when `create`. None: no key kept and `create` is false.

    Raises `NoSecureStore` when a key must be made and there is nowhere safe to keep it: a key
    kept in memory only would lose the data at the next start."""
    name = replica_key_name(data_dir)
    keyring_store = KeyringTokenStore()
    token_file = data_dir / TOKEN_FILE
    file_store = FileTokenStore(token_file) if allow_file or token_file.exists() else None

    def kept() -> str | None:
        return keyring_store.load(name) or (file_store.load(name) if file_store is not None else None)

    found = kept()
    if found is not None or not create:
        return found
    key = secrets.token_hex(32)
    try:
        keyring_store.save(name, key)
    except NoSecureStore as exc:
        if file_store is None:
            raise NoSecureStore(
                "no system keyring is available to keep the key that encrypts this device's data: allow "
                "keeping it in a file readable only by you (which protects less: whoever can read your files "
                "can read the key), or leave encryption off"
            ) from exc
        file_store.save(name, key)
    except KeyringError as exc:
        raise NoSecureStore(
            f"the system keyring refused to keep the key that encrypts this device's data ({exc}): "
            "unlock it and try again, or leave encryption off"
        ) from exc
    if kept() != key:
        raise NoSecureStore(
            "the secure store did not keep the key that encrypts this device's data: leave encryption off"
        )
    return key
