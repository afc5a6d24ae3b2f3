"""One background sync per device, shared by every window or tab of the app.

It runs the sync loop on the app's event loop (the engine's blocking HTTP in a worker thread)
and tells each open screen when the sync state changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import flet as ft

from app.services import Device
from sync.engine import PullProgress
from sync.errors import SyncError, TransportError
from sync.loop import SyncLoop

__all__ = ["BackgroundSync", "SyncSnapshot"]


@dataclass(frozen=True)
class SyncSnapshot:
    """What the sync indicator shows."""

    running: bool
    records: int | None
    #: How many records the running pull brings in all, when the server said.
    total: int | None
    last_sync_at: str | None
    error_kind: str | None
    error: str | None
    pending: int
    rejected: int
    conflicts: int


class BackgroundSync:
    def __init__(self, device: Device, geocoder_url: str | None = None) -> None:
        self.device = device
        #: Where new addresses are placed after each sync (None: not at all).
        self.geocoder_url = geocoder_url
        self.loop: SyncLoop | None = None
        self.running = False
        self.records: int | None = None
        self.total: int | None = None
        self.listeners: list[Callable[[SyncSnapshot], None]] = []

    def start(self, page: ft.Page) -> None:
        """Start the loop on the app's event loop, once, when the first screen opens."""
        if self.loop is None:
            self.loop = SyncLoop(sync_once=self._sync_once, probe=self._probe)
            page.run_task(self.loop.run)

    def sync_now(self) -> None:
        if self.loop is not None:
            self.loop.sync_now()

    def wrote_locally(self) -> None:
        self._notify()
        if self.loop is not None:
            self.loop.poke()

    def snapshot(self) -> SyncSnapshot:
        state = self.device.engine.state()
        changes = self.device.pending()
        return SyncSnapshot(
            running=self.running,
            records=self.records,
            total=self.total,
            last_sync_at=state.get("last_sync_at"),
            error_kind=state.get("last_error_kind"),
            error=state.get("last_error"),
            pending=changes["pending"],
            rejected=len(changes["rejected"]),
            conflicts=len(changes["conflicts"]),
        )

    def _notify(self) -> None:
        snapshot = self.snapshot()
        for listener in list(self.listeners):
            try:
                listener(snapshot)
            except RuntimeError:  # that screen was closed
                self.listeners.remove(listener)

    async def _sync_once(self) -> bool | None:
        if not self.device.engine.state().get("username"):
            return None  # nobody signed in: nothing to sync
        loop = asyncio.get_running_loop()

        def progress(step: PullProgress) -> None:
            self.records, self.total = step.records, step.total
            loop.call_soon_threadsafe(self._notify)

        self.running, self.records, self.total = True, None, None
        self._notify()
        try:
            await asyncio.to_thread(self.device.engine.sync, on_page=progress)
        except TransportError:
            return False
        except SyncError:
            raise
        finally:
            self.running = False
            self._notify()
        if self.geocoder_url:
            placed = await asyncio.to_thread(self.device.place_addresses, self.geocoder_url)
            if placed.found:
                self.wrote_locally()  # the positions found go out with the next sync
        return True

    async def _probe(self) -> bool:
        return await asyncio.to_thread(self.device.engine.server_answers)
