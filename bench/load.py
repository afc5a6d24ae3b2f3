"""A sales force's delta syncs against one PostgreSQL, through a server of two workers.

    .venv/bin/python bench/load.py [--reps 1000] [--accounts 200] [--seconds 60] [--concurrency 12]

1. Creates a fresh PostgreSQL database (on `TERRAIN_TEST_PG`, default the machine's
   `postgresql://postgres@127.0.0.1:5432/test`; dropped at the end unless `--keep`) and seeds it:
   `--reps` reps under 10 managers, `--accounts` accounts each (owner, address, phone), each
   account created by its own change-log entry, as the server writes them.
2. Starts `terrain-server serve --workers 2` on it, on 127.0.0.1, in its own process group,
   and waits until every worker listens.
3. From this process (another process than the server's), signs every rep in over HTTP
   (`POST /api/v1/auth/token`: each rep its own device and tokens), then pulls each rep's
   territory once, as the app's first sync does, to get its cursor and its accounts' versions.
4. For `--seconds`, keeps `--concurrency` syncs in flight. A sync is one rep's: a push of 0 to 3
   edits of its accounts (a field of each, at the version the rep last pulled; with 0 edits no
   push is sent, as the app does) then a pull from its cursor until `has_more` is false. A rep
   has at most one sync in flight, as a device does. Every sync's wall time is recorded;
   errors are failed requests, non-2xx answers and mutations not applied.
5. Then, with the same client and concurrency, `GET /healthz` for `--healthz-seconds`: the raw
   request rate of the same server over the same connections, the baseline.

Last line: `syncs_per_s=N p50_ms=N p95_ms=N errors=N healthz_per_s=N ratio=R`
(ratio = syncs_per_s / healthz_per_s). Goals: errors=0, p95_ms <= 150, syncs_per_s >= 200,
ratio >= 0.3.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.ids import new_id  # noqa: E402
from app.models import entity_table  # noqa: E402
from server.db import make_engine  # noqa: E402
from server.migrate import upgrade  # noqa: E402
from server.security import hash_password  # noqa: E402
from server.workers import listening, spreads_connections  # noqa: E402
from sync.wire import SCHEMA_VERSION  # noqa: E402

PASSWORD = "load-bench-password"
PG_ADMIN = os.environ.get("TERRAIN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
EDITED_FIELDS = ("notes", "segment", "industry", "competitor")


def _copy(conn: psycopg.Connection[Any], table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    with conn.cursor() as cur, cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def seed(url: str, reps: int, accounts: int) -> None:
    """Users, accounts and their change-log entries, written straight into the tables."""
    upgrade(make_engine(url.replace("postgresql://", "postgresql+psycopg://")))
    now = datetime.now(UTC)
    password_hash = hash_password(PASSWORD)  # one hash for all: signing in is not what is measured
    managers = [new_id() for _ in range(10)]
    rep_ids = [new_id() for _ in range(reps)]
    users = [(m, f"manager{n:02d}", f"Manager {n}", "manager", None) for n, m in enumerate(managers)]
    users += [(r, f"rep{n:04d}", f"Rep {n}", "rep", managers[n % len(managers)]) for n, r in enumerate(rep_ids)]
    account_columns = [c.name for c in entity_table("account").columns]
    defaults = {
        "billing_country": "FR",
        "social_profiles": "{}",
        "lifecycle_stage": "client",
        "tags": "[]",
        "payment_terms_days": 30,
        "currency": "EUR",
        "version": 1,
        "updated_at": now,
        "created_at": now,
    }
    account_rows: list[tuple[Any, ...]] = []
    log_rows: list[tuple[Any, ...]] = []
    for r, rep in enumerate(rep_ids):
        for a in range(accounts):
            n = r * accounts + a
            aid = new_id()
            values = {
                **defaults,
                "id": aid,
                "owner_id": rep,
                "name": f"Établissement {n:07d}",
                "billing_postcode": f"{38000 + n % 900:05d}",
                "billing_city": "Grenoble",
                "phone": f"+3347{n % 10_000_000:07d}",
            }
            account_rows.append(tuple(values.get(c) for c in account_columns))
            log_rows.append(("account", aid, "upsert", aid, rep, now))
    with psycopg.connect(url) as conn:
        _copy(
            conn,
            "app_user",
            [
                "id",
                "username",
                "full_name",
                "role",
                "manager_id",
                "password_hash",
                "target_currency",
                "active",
                "created_at",
            ],
            [(*u, password_hash, "EUR", True, now) for u in users],
        )
        _copy(conn, "account", account_columns, account_rows)
        _copy(conn, "change_log", ["entity", "row_id", "op", "account_id", "owner_id", "changed_at"], log_rows)
        conn.execute("ANALYZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int, data_dir: Path, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TERRAIN_DATABASE_URL": url.replace("postgresql://", "postgresql+psycopg://"),
        "TERRAIN_SERVER_DATA_DIR": str(data_dir),
        "TERRAIN_SECRET_KEY": uuid.uuid4().hex * 2,
        "TERRAIN_LOGIN_FAILURES_PER_ADDRESS": "1000000",
    }
    command = [
        str(Path(sys.executable).parent / "terrain-server"),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    command += ["--log-level", "warning"]
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped: see {data_dir / 'server.log'}")
        try:
            # Every worker listening, not only the first: connections opened before the others
            # are up would all go to it, and stay there (server/workers.py).
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            if ready and (workers == 1 or not spreads_connections() or listening(port) == workers):
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _group(pgid: int) -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit() and _pgid(int(d)) == pgid]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _postgres() -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if Path(f"/proc/{d}/comm").read_text().strip() == "postgres":
                    pids.append(int(d))
            except OSError:
                pass
    return pids


class CpuMeter:
    """Where the CPU went during a phase: the server's processes, PostgreSQL's, this client."""

    def __init__(self, server_pgid: int) -> None:
        self.server_pgid = server_pgid
        self.start = self._now()

    def _now(self) -> tuple[float, float, float]:
        me = os.times()
        return _cpu_seconds(_group(self.server_pgid)), _cpu_seconds(_postgres()), me.user + me.system

    def per(self, count: int) -> str:
        end = self._now()
        server, database, client = ((b - a) * 1000 / max(count, 1) for a, b in zip(self.start, end, strict=True))
        return f"CPU ms each: server {server:.2f}, PostgreSQL {database:.2f}, client {client:.2f}"


class Rep:
    __slots__ = ("username", "device", "token", "cursor", "versions", "next_mid")

    def __init__(self, username: str) -> None:
        self.username = username
        self.device = str(uuid.uuid4())
        self.token = ""
        self.cursor: str | None = None
        self.versions: dict[str, int] = {}
        self.next_mid = 1


class Load:
    def __init__(self, client: aiohttp.ClientSession, reps: list[Rep]) -> None:
        self.client = client
        self.idle: asyncio.Queue[Rep] = asyncio.Queue()
        for rep in reps:
            self.idle.put_nowait(rep)
        self.rng = random.Random(9)
        self.latencies: list[float] = []
        self.errors = 0
        self.error_samples: list[str] = []
        self.edits = 0

    def _error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)

    async def sign_in(self, rep: Rep) -> None:
        async with self.client.post(
            "/api/v1/auth/token",
            data={"grant_type": "password", "username": rep.username, "password": PASSWORD, "device_id": rep.device},
        ) as response:
            response.raise_for_status()
            rep.token = orjson.loads(await response.read())["access_token"]

    async def pull(self, rep: Rep) -> bool:
        headers = {"Authorization": f"Bearer {rep.token}"}
        while True:
            params = {"cursor": rep.cursor} if rep.cursor else {}
            async with self.client.get("/api/v1/sync/pull", params=params, headers=headers) as response:
                content = await response.read()
            if response.status != 200:
                self._error(f"pull {response.status} {content[:200]!r}")
                return False
            page = orjson.loads(content)
            for change in page["changes"]:
                if change["entity"] != "account":
                    continue
                if "rows" in change:
                    at_id, at_version = change["columns"].index("id"), change["columns"].index("version")
                    rep.versions.update((row[at_id], row[at_version]) for row in change["rows"])
                elif change["op"] == "upsert":
                    rep.versions[change["id"]] = change["version"]
            rep.cursor = page["cursor"]
            if not page["has_more"]:
                return True

    async def push(self, rep: Rep, count: int) -> bool:
        ids = self.rng.sample(sorted(rep.versions), count)
        mutations = []
        for account_id in ids:
            field = self.rng.choice(EDITED_FIELDS)
            value = f"+3347{self.rng.randrange(10**7):07d}" if field == "phone" else f"{field} {self.rng.random():.6f}"
            mutations.append(
                {
                    "mid": rep.next_mid,
                    "entity": "account",
                    "id": account_id,
                    "op": "update",
                    "base_version": rep.versions[account_id],
                    "fields": {field: value},
                }
            )
            rep.next_mid += 1
        body = {
            "client_id": rep.device,
            "schema_version": SCHEMA_VERSION,
            "pulled_through": int(rep.cursor) if rep.cursor and rep.cursor.isdigit() else None,
            "mutations": mutations,
        }
        async with self.client.post(
            "/api/v1/sync/push",
            data=orjson.dumps(body),
            headers={"Authorization": f"Bearer {rep.token}", "Content-Type": "application/json"},
        ) as response:
            content = await response.read()
        if response.status != 200:
            self._error(f"push {response.status} {content[:200]!r}")
            return False
        for result, account_id in zip(orjson.loads(content)["results"], ids, strict=True):
            if result["status"] != "applied":
                self._error(f"mutation {result['status']}: {result.get('reason')}")
                return False
            rep.versions[account_id] = result["version"]
        self.edits += count
        return True

    async def sync(self, rep: Rep) -> None:
        started = time.perf_counter()
        try:
            count = self.rng.randrange(4)
            if (count == 0 or await self.push(rep, count)) and await self.pull(rep):
                self.latencies.append(time.perf_counter() - started)
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._error(f"{type(exc).__name__}: {exc}")

    async def worker(self, until: float) -> None:
        while time.perf_counter() < until:
            rep = await self.idle.get()
            await self.sync(rep)
            self.idle.put_nowait(rep)


async def _gather_limited(coroutines: list[Any], limit: int) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def run(coroutine: Any) -> None:
        async with semaphore:
            await coroutine

    await asyncio.gather(*(run(c) for c in coroutines))


async def healthz_rate(client: aiohttp.ClientSession, concurrency: int, seconds: float) -> tuple[float, int]:
    count = errors = 0

    async def worker(until: float) -> None:
        nonlocal count, errors
        while time.perf_counter() < until:
            try:
                async with client.get("/healthz") as response:
                    await response.read()
                if response.status == 200:
                    count += 1
                else:
                    errors += 1
            except (TimeoutError, aiohttp.ClientError):
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(started + seconds) for _ in range(concurrency)))
    return count / (time.perf_counter() - started), errors


async def run_load(port: int, server_pgid: int, usernames: list[str], args: argparse.Namespace) -> None:
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", connector=connector, timeout=timeout) as client:
        reps = [Rep(name) for name in usernames]
        load = Load(client, reps)
        started = time.perf_counter()
        await _gather_limited([load.sign_in(rep) for rep in reps], args.concurrency)
        print(f"signed in {len(reps)} reps in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        await _gather_limited([load.pull(rep) for rep in reps], args.concurrency)
        rows = sum(len(rep.versions) for rep in reps)
        print(f"first syncs: {rows} accounts to {len(reps)} reps in {time.perf_counter() - started:.1f} s", flush=True)
        if load.errors:
            raise RuntimeError(f"setup failed: {load.error_samples}")
        meter = CpuMeter(server_pgid)
        started = time.perf_counter()
        await asyncio.gather(*(load.worker(started + args.seconds) for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
        syncs = len(load.latencies)
        latencies = sorted(load.latencies)
        p50 = statistics.median(latencies) * 1000 if latencies else 0.0
        p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000 if latencies else 0.0
        print(
            f"{syncs} syncs ({load.edits} edits pushed) in {elapsed:.1f} s; errors: {load.errors} {load.error_samples}",
            flush=True,
        )
        print(f"syncs: {meter.per(syncs)}", flush=True)
        meter = CpuMeter(server_pgid)
        healthz_per_s, healthz_errors = await healthz_rate(client, args.concurrency, args.healthz_seconds)
        print(f"healthz: {healthz_per_s:.0f}/s over {args.healthz_seconds} s, errors {healthz_errors}", flush=True)
        print(f"healthz: {meter.per(int(healthz_per_s * args.healthz_seconds))}", flush=True)
        syncs_per_s = syncs / elapsed
        print(
            f"syncs_per_s={syncs_per_s:.0f} p50_ms={p50:.0f} p95_ms={p95:.0f} errors={load.errors + healthz_errors} "
            f"healthz_per_s={healthz_per_s:.0f} ratio={syncs_per_s / healthz_per_s:.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--healthz-seconds", type=float, default=15)
    # Syncs in flight: a force of 10,000 reps syncing every minute (about 170 syncs/s at some
    # 50 ms each) has 8 or 9 at any moment. With 6, a sync's waits (its two requests, the
    # commit's disk write, the change-log lock) leave the CPUs idle; with 12 they are busy.
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    args = parser.parse_args()

    name = f"terrain_load_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    data_dir = Path(os.environ.get("TMPDIR", "/tmp")) / name
    data_dir.mkdir(parents=True, exist_ok=True)
    server: subprocess.Popen[bytes] | None = None
    try:
        started = time.perf_counter()
        seed(url, args.reps, args.accounts)
        print(
            f"seeded {args.reps} reps x {args.accounts} accounts into {name} in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        port = free_port()
        server = start_server(url, port, data_dir, args.workers)
        usernames = [f"rep{n:04d}" for n in range(args.reps)]
        asyncio.run(run_load(port, server.pid, usernames, args))
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
        if not args.keep:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
