"""Background sync: when to sync, and the loop that does it.

The device syncs at start, shortly after each local write (debounced, so a burst of edits is
one sync), every few minutes, and as soon as the server answers again after being out of
reach. After a failure it waits longer each time (exponential backoff with jitter, so a
sales force coming back online does not knock on the server at the same instant). While the
server is out of reach, a cheap health probe watches for its return. A server that no longer
takes this version of the app (`UpdateRequired`) is asked again only every `update_retry`
seconds, or when the rep asks for a sync: local writes wait in the outbox meanwhile.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sync.errors import UpdateRequired

__all__ = ["SyncLoop", "SyncSchedule"]


@dataclass
class SyncSchedule:
    """The next sync time, as a pure function of what happened: easy to reason about and test."""

    period: float = 300.0
    debounce: float = 2.0
    base_backoff: float = 2.0
    max_backoff: float = 300.0
    probe_interval: float = 5.0
    #: How long to wait before asking again a server that refused this app's version.
    update_retry: float = 3600.0
    random: Callable[[], float] = field(default=random.random)
    next_at: float = 0.0
    probe_at: float = 0.0
    failures: int = 0
    offline: bool = False
    #: The server refused this app's version: no sync until `update_retry` or the rep asks.
    needs_update: bool = False

    def started(self, now: float) -> None:
        self.next_at = now

    def succeeded(self, now: float) -> None:
        self.failures, self.offline, self.needs_update = 0, False, False
        self.next_at = now + self.period

    def failed(self, now: float, *, unreachable: bool) -> None:
        """Back off: 2, 4, 8 ... seconds up to `max_backoff`, each drawn in [half, whole]."""
        self.failures += 1
        self.offline = unreachable
        self.probe_at = now + self.probe_interval
        ceiling = min(self.max_backoff, self.base_backoff * 2 ** (self.failures - 1))
        self.next_at = now + ceiling * (0.5 + self.random() / 2)

    def update_required(self, now: float) -> None:
        """The server refuses this app's version: retrying soon cannot help."""
        self.failures += 1
        self.offline, self.needs_update = False, True
        self.next_at = now + self.update_retry

    def wrote_locally(self, now: float) -> None:
        if not (self.offline or self.needs_update):
            self.next_at = min(self.next_at, now + self.debounce)

    def server_back(self, now: float) -> None:
        self.failures, self.offline, self.needs_update = 0, False, False
        self.next_at = now

    def due_at(self) -> float:
        """When the loop must act next: a sync, or while offline possibly an earlier probe."""
        return min(self.next_at, self.probe_at) if self.offline else self.next_at

    def probe_due(self, now: float) -> bool:
        return self.offline and now < self.next_at

    def probe_failed(self, now: float) -> None:
        self.probe_at = now + self.probe_interval


@dataclass
class SyncLoop:
    """Runs `sync_once` on the schedule until stopped; `poke()` wakes it early."""

    sync_once: Callable[[], Awaitable[bool | None]]
    """Returns True on success, False when the server was out of reach; raises on other errors."""
    probe: Callable[[], Awaitable[bool]]
    schedule: SyncSchedule = field(default_factory=SyncSchedule)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stopped: bool = False
    _writes: int = 0

    def poke(self) -> None:
        """A local write happened: sync soon."""
        self._writes += 1
        self.schedule.wrote_locally(asyncio.get_running_loop().time())
        self._wake.set()

    def sync_now(self) -> None:
        self.schedule.server_back(asyncio.get_running_loop().time())
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.schedule.started(loop.time())
        while not self._stopped:
            now = loop.time()
            due = self.schedule.due_at()
            if due > now:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=due - now)
                except TimeoutError:
                    pass
                continue
            if self.schedule.probe_due(now):
                if await self.probe():
                    self.schedule.server_back(loop.time())
                else:
                    self.schedule.probe_failed(loop.time())
                continue
            writes_before = self._writes
            try:
                reached = await self.sync_once()
            except UpdateRequired:  # the engine recorded why, for the screen to say
                self.schedule.update_required(loop.time())
                continue
            except Exception:  # noqa: BLE001  (any failure backs off; the engine recorded why)
                self.schedule.failed(loop.time(), unreachable=False)
                continue
            if reached is False:
                self.schedule.failed(loop.time(), unreachable=True)
            else:
                self.schedule.succeeded(loop.time())
                if self._writes != writes_before:  # written while that sync ran: it may have missed it
                    self.schedule.wrote_locally(loop.time())
