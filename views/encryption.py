"""The Settings switch that encrypts this device's data at rest; it applies at the next start.

Turning it on makes the key in the secure store at once, so a device without a keyring asks
now whether the key may be kept in a file, instead of failing at the next start.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import flet as ft

from app.credentials import NoSecureStore
from app.i18n import Translator
from app.preferences import Preferences
from app.replica import EncryptionUnavailable, encryption_env, replica_is_encrypted, set_encryption

__all__ = ["encryption_switch"]


def encryption_switch(page: ft.Page, t: Translator, data_dir: Path, prefs: Preferences) -> ft.Control:
    forced = encryption_env()
    switch = ft.Switch(
        label=t("security.encrypt"),
        value=prefs.encrypt_replica if forced is None else forced,
        disabled=forced is not None,
    )
    note = ft.Text(t("security.encrypt_forced" if forced is not None else "security.encrypt_help"), size=12)

    def say(text: str) -> None:
        note.value = text
        page.update()

    async def save(on: bool, allow_file: bool) -> None:
        try:
            await asyncio.to_thread(set_encryption, data_dir, prefs, on, allow_file_key=allow_file)
        except EncryptionUnavailable:
            switch.value = False
            say(t("security.encrypt_unavailable"))
            return
        except NoSecureStore as exc:
            if allow_file:
                switch.value = False
                say(t("security.encrypt_failed", reason=str(exc)))
            else:
                ask_for_file()
            return
        if on == replica_is_encrypted(data_dir):
            say(t("security.encrypt_help"))  # back to how the data already is: nothing to do at start
        else:
            say(t("security.encrypt_on_next_start" if on else "security.encrypt_off_next_start"))

    def ask_for_file() -> None:
        async def use_file(_e: Any) -> None:
            page.pop_dialog()
            await save(True, True)

        def cancel(_e: Any) -> None:
            page.pop_dialog()
            switch.value = False
            page.update()

        page.show_dialog(
            ft.AlertDialog(
                modal=True,
                title=ft.Text(t("security.encrypt_no_keyring_title")),
                content=ft.Text(t("security.encrypt_no_keyring"), width=380),
                actions=[
                    ft.TextButton(t("security.encrypt_cancel"), on_click=cancel),
                    ft.Button(t("security.encrypt_use_file"), icon=ft.Icons.LOCK, on_click=use_file),
                ],
            )
        )

    async def changed(_e: Any) -> None:
        await save(bool(switch.value), False)

    switch.on_change = changed
    return ft.Column([switch, note], spacing=4)
