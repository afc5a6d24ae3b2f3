"""The session kept in the phone's own secure store (Keychain on iOS, the Keystore on Android),
through flet-secure-storage: the keyring has no backend on a phone.

The store is a Flutter service reached asynchronously, while the sync engine reads and writes
its token from worker threads: the tokens are read once at start (`prime`), kept in memory,
and every change is written through in the background (`page.run_task` is thread-safe).
"""

from __future__ import annotations

import os

import flet as ft
from flet_secure_storage import SecureStorage

from sync.engine import TokenStore

__all__ = ["FletSecureStore", "wants_flet_store"]

#: Keys of this store start with this, so the app's own entries are told from others'.
PREFIX = "terrain:"


def wants_flet_store(page: ft.Page) -> bool:
    """On a phone: the secure store of the phone; elsewhere the keyring (app.credentials).
    `TERRAIN_TOKEN_STORE=flet` forces it (in a browser: its storage, encrypted by the page)."""
    if os.environ.get("TERRAIN_TOKEN_STORE") == "flet":
        return True
    return page.platform in (ft.PagePlatform.ANDROID, ft.PagePlatform.IOS)


class FletSecureStore(TokenStore):
    def __init__(self, page: ft.Page, storage: SecureStorage | None = None) -> None:
        super().__init__()
        self.page = page
        self.storage = storage or SecureStorage()

    async def prime(self) -> None:
        """Read what the store holds of ours, once, before the first sync."""
        stored = await self.storage.get_all() or {}
        for key, value in stored.items():
            if key.startswith(PREFIX) and isinstance(value, str):
                super().save(key.removeprefix(PREFIX), value)

    def save(self, key: str, token: str) -> None:
        super().save(key, token)
        self.page.run_task(self.storage.set, PREFIX + key, token)

    def delete(self, key: str) -> None:
        super().delete(key)
        self.page.run_task(self.storage.remove, PREFIX + key)
