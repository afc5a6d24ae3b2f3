"""The refresh token: in the system keyring, never silently in clear, in a file only by choice."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import pytest
from keyring.backends import fail

from app.credentials import FileTokenStore, KeyringTokenStore, NoSecureStore, best_token_store


class MemoryKeyring(keyring.backend.KeyringBackend):
    """Stands in for the OS secret service, which a test machine does not run."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


class PlaintextKeyring(MemoryKeyring):
    """Named like keyrings.alt's file backend, which keeps secrets in clear."""


@pytest.fixture
def restore_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


def test_tokens_go_to_the_system_keyring_when_there_is_one(restore_keyring: None) -> None:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    store = KeyringTokenStore()
    store.save("https://crm|alice", "refresh-1")
    assert backend.secrets == {("terrain", "https://crm|alice"): "refresh-1"}
    assert store.load("https://crm|alice") == "refresh-1"
    store.delete("https://crm|alice")
    assert store.load("https://crm|alice") is None


@pytest.mark.parametrize("backend", [fail.Keyring(), PlaintextKeyring()], ids=["no-keyring", "plaintext"])
def test_no_secure_keyring_is_said_clearly_and_nothing_is_written(
    restore_keyring: None, backend: object, tmp_path: Path
) -> None:
    keyring.set_keyring(backend)  # type: ignore[arg-type]
    with pytest.raises(NoSecureStore, match="no system keyring"):
        KeyringTokenStore().save("k", "secret")
    store = best_token_store(tmp_path)
    store.save("k", "secret")
    assert store.warning is not None and "sign in again" in store.warning
    assert store.load("k") == "secret"  # kept in memory for this run only
    assert not any(tmp_path.iterdir())
    if isinstance(backend, PlaintextKeyring):
        assert backend.secrets == {}


def test_the_file_fallback_is_used_only_when_asked_and_is_private(restore_keyring: None, tmp_path: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    store = best_token_store(tmp_path, allow_file=True)
    store.save("k", "secret")
    token_file = tmp_path / "session-token.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert FileTokenStore(token_file).load("k") == "secret"
    assert best_token_store(tmp_path).load("k") == "secret"  # found again on the next start
    store.delete("k")
    assert FileTokenStore(token_file).load("k") is None
