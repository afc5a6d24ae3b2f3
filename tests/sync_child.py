"""A device process that the test kills for real (SIGKILL) at a chosen statement of its sync.

    python -m tests.sync_child DATA_DIR SERVER_URL USERNAME PATTERN N

It signs in, then syncs with pages of 100 records, printing "applied N" to stderr after each
committed page; the N-th SQL statement it runs on its replica whose text contains PATTERN is
its last: the process is killed right after it, inside the open transaction, as if the phone's
battery died there. (SQLite reports a statement again each time it runs a trigger for it: pick
a pattern of a table without triggers.)
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from app.replica import open_replica
from sync.engine import PullProgress, SyncEngine


def main(data_dir: str, server_url: str, username: str, pattern: str, count: str) -> None:
    replica = open_replica(Path(data_dir))
    seen = 0

    def trace(statement: str) -> None:
        nonlocal seen
        if pattern in statement:
            seen += 1
            if seen == int(count):
                os.kill(os.getpid(), signal.SIGKILL)

    @event.listens_for(replica, "connect")
    def _trace(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(trace)

    replica.dispose()  # connections opened from now on are traced
    device = SyncEngine(replica=replica, http=httpx.Client(base_url=server_url, timeout=30))
    device.sign_in(username=username, password="demo")
    device.push()

    def applied(step: PullProgress) -> None:  # what was committed, for the test to compare with
        sys.stderr.write(f"applied {step.records}\n")
        sys.stderr.flush()

    device.pull(page_size=100, on_page=applied)
    sys.exit(3)  # never reached when the kill point is met


if __name__ == "__main__":
    main(*sys.argv[1:])
