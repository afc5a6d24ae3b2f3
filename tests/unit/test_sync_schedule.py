"""When the device syncs: debounced after writes, periodic, backing off with jitter after errors."""

from __future__ import annotations

import asyncio

import pytest

from sync.loop import SyncLoop, SyncSchedule


def test_failures_back_off_exponentially_with_jitter_up_to_a_ceiling() -> None:
    draws = iter([0.0, 1.0] * 20)
    schedule = SyncSchedule(base_backoff=2, max_backoff=60, random=lambda: next(draws))
    delays = []
    for _ in range(8):
        schedule.failed(100.0, unreachable=False)
        delays.append(schedule.next_at - 100.0)
    # ceilings 2, 4, 8, 16, 32, 60, 60, 60; each delay is drawn in [ceiling / 2, ceiling]
    assert delays == [1.0, 4.0, 4.0, 16.0, 16.0, 60.0, 30.0, 60.0]


def test_a_success_resets_the_backoff_and_waits_a_period() -> None:
    schedule = SyncSchedule(period=300, random=lambda: 1.0)
    schedule.failed(0.0, unreachable=False)
    schedule.failed(0.0, unreachable=False)
    schedule.succeeded(10.0)
    assert (schedule.failures, schedule.next_at) == (0, 310.0)
    schedule.failed(20.0, unreachable=False)
    assert schedule.next_at == 22.0


def test_local_writes_bring_the_next_sync_forward_but_never_push_it_back() -> None:
    schedule = SyncSchedule(period=300, debounce=2)
    schedule.succeeded(0.0)
    schedule.wrote_locally(50.0)
    assert schedule.next_at == 52.0
    schedule.wrote_locally(51.0)
    assert schedule.next_at == 52.0  # a burst of writes is one sync


def test_while_offline_a_probe_watches_for_the_server_and_writes_wait_for_it() -> None:
    schedule = SyncSchedule(probe_interval=5, max_backoff=300, random=lambda: 1.0)
    for _ in range(6):
        schedule.failed(0.0, unreachable=True)
    assert schedule.next_at == 64.0 and schedule.due_at() == 5.0 and schedule.probe_due(5.0)
    schedule.wrote_locally(6.0)
    assert schedule.next_at == 64.0
    schedule.server_back(7.0)
    assert (schedule.offline, schedule.next_at, schedule.due_at()) == (False, 7.0, 7.0)


def test_the_loop_syncs_at_start_retries_after_errors_and_resumes_when_the_server_is_back() -> None:
    events: list[str] = []
    outcomes = iter([None, False, True, True])  # ok, server gone, back, ok
    probes = iter([False, True])

    async def sync_once() -> bool | None:
        outcome = next(outcomes)
        events.append(f"sync:{outcome}")
        return outcome

    async def probe() -> bool:
        answer = next(probes)
        events.append(f"probe:{answer}")
        return answer

    async def scenario() -> None:
        schedule = SyncSchedule(period=0.05, probe_interval=0.01, base_backoff=10, random=lambda: 1.0)
        loop = SyncLoop(sync_once=sync_once, probe=probe, schedule=schedule)
        task = asyncio.create_task(loop.run())
        while len(events) < 5:
            await asyncio.sleep(0.005)
        loop.stop()
        await asyncio.wait_for(task, 1)

    asyncio.run(scenario())
    assert events[:5] == ["sync:None", "sync:False", "probe:False", "probe:True", "sync:True"]


@pytest.mark.parametrize("failure", [RuntimeError("boom")])
def test_an_unexpected_error_backs_off_instead_of_spinning(failure: Exception) -> None:
    calls = 0

    async def sync_once() -> bool | None:
        nonlocal calls
        calls += 1
        raise failure

    async def probe() -> bool:
        return True

    async def scenario() -> None:
        loop = SyncLoop(sync_once=sync_once, probe=probe, schedule=SyncSchedule(base_backoff=10, random=lambda: 1.0))
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(0.2)
        loop.stop()
        await asyncio.wait_for(task, 1)

    asyncio.run(scenario())
    assert calls == 1
