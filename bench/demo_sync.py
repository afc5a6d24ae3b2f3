"""First sync of a demo rep over real HTTP, against a plain bulk insert of the same rows.

    .venv/bin/python bench/demo_sync.py

Loads the demo company into a temporary SQLite server, serves it with uvicorn on 127.0.0.1,
pulls alice's scope into an empty replica, then inserts the very same rows into another empty
replica with one executemany per table (the raw baseline). The last line reads:
`initial_rows_per_s=N raw_insert_rows_per_s=N ratio=R`.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.models import ENTITIES, entity_table  # noqa: E402
from app.replica import open_replica  # noqa: E402
from server.db import ServerSession, make_engine  # noqa: E402
from server.demo import load_demo_data  # noqa: E402
from server.main import create_app  # noqa: E402
from server.migrate import upgrade  # noqa: E402
from server.settings import ServerSettings  # noqa: E402
from sync.engine import SyncEngine  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server_engine = make_engine(f"sqlite:///{root / 'server.db'}")
        upgrade(server_engine)
        with ServerSession(server_engine) as session:
            load_demo_data(session=session, seed=42)
        settings = ServerSettings(server_data_dir=root, secret_key="bench-" + "k" * 40)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(engine=server_engine, settings=settings), host="127.0.0.1", port=0, log_level="warning"
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]

        device = SyncEngine(
            replica=open_replica(root / "device"), http=httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        )
        device.sign_in(username="alice", password="demo")
        started = time.perf_counter()
        report = device.pull()
        pull_seconds = time.perf_counter() - started
        rows = report.upserts

        raw = open_replica(root / "raw")
        with device.replica.connect() as conn:
            tables = {name: conn.execute(sa.select(entity_table(name))).all() for name in ENTITIES}
        started = time.perf_counter()
        with raw.begin() as conn:
            for name, table_rows in tables.items():
                if table_rows:
                    conn.execute(sa.insert(entity_table(name)), [dict(r._mapping) for r in table_rows])
        raw_seconds = time.perf_counter() - started
        server.should_exit = True
        thread.join(10)
        print(f"alice: {rows} rows in {report.pages} pages, pull {pull_seconds:.2f} s, raw insert {raw_seconds:.2f} s")
        print(
            f"initial_rows_per_s={rows / pull_seconds:.0f} raw_insert_rows_per_s={rows / raw_seconds:.0f} ratio={raw_seconds / pull_seconds:.2f}"
        )


if __name__ == "__main__":
    main()
