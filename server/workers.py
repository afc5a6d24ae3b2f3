"""Several server processes on one port, each listening on a socket of its own (SO_REUSEPORT).

uvicorn's `--workers` shares one listening socket between its workers: whichever is awake
accepts what is waiting, and nothing outside tells how many of them are up. Connections opened
before every worker is up (a load test, a reverse proxy or a sales force's devices right after
a start) all go to the first ones, and, kept open, stay there: one core busy, the other idle.
bench/load.py measured exactly that, one worker serving every sync. With a socket each, every
worker up can be seen listening (`listening()`, `ss -tln`), and the kernel spreads new
connections over them, busy or not, without waking them all for each.

The supervisor here starts the workers, starts again one that dies, and stops them all on
SIGINT, SIGTERM or SIGHUP (a worker whose supervisor is killed stops by itself). Unlike
uvicorn's, it does not ping its workers: a worker hung but alive keeps its share of new
connections. Where SO_REUSEPORT does not spread connections (anywhere but Linux),
`terrain-server serve` keeps uvicorn's own supervisor.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

__all__ = ["listening", "port_problem", "serve_workers", "spreads_connections"]

logger = logging.getLogger("uvicorn.error")
#: A worker that exits with an error sooner than this after its start is taken for one that
#: cannot start (the app failing to import). One killed by a signal is started again.
_BROKEN_WITHIN = 5.0


def spreads_connections() -> bool:
    """Whether the kernel balances connections over sockets sharing a port (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening(port: int) -> int:
    """How many sockets listen on TCP `port` on this machine (Linux: /proc/net/tcp and tcp6); with
    `serve_workers`, how many of its workers are up."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            count += state == "0A" and int(local.rsplit(":", 1)[1], 16) == port  # 0A: LISTEN
    return count


def _listener(host: str, port: int, *, shared: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def port_problem(host: str, port: int) -> str | None:
    """Why the workers could not serve `host:port`, or None. Asked without SO_REUSEPORT: a port
    taken by another program, or by another server like this one (whose workers the kernel
    would otherwise let these join, sharing its connections), is refused."""
    if port == 0:
        return "several workers need a port of their own choosing (--port), not 0"
    try:
        _listener(host, port, shared=False).close()
    except OSError as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _stop_with(parent: int) -> None:
    """A worker whose supervisor is gone (killed) stops too, rather than keep the port."""
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


def _worker(options: dict[str, Any], parent: int) -> None:
    threading.Thread(target=_stop_with, args=(parent,), daemon=True).start()
    config = uvicorn.Config(**options)
    uvicorn.Server(config).run(sockets=[_listener(config.host, config.port)])


def serve_workers(workers: int, options: dict[str, Any]) -> int:
    """Run `workers` processes of `uvicorn.Server(uvicorn.Config(**options))` until SIGINT,
    SIGTERM or SIGHUP; the exit status (1 when a worker could not start: the next would fail
    alike). The caller has checked `port_problem` first."""
    uvicorn.Config(**options)  # configures logging here too, as in each worker
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda _sig, _frame: stop.set())
    context = multiprocessing.get_context("spawn")

    started: dict[int | None, float] = {}

    def start() -> BaseProcess:
        process = context.Process(target=_worker, args=(options, os.getpid()), name="terrain-worker")
        process.start()
        started[process.pid] = time.monotonic()
        return process

    processes = [start() for _ in range(workers)]
    status = 0
    while not stop.wait(0.5):
        for n, process in enumerate(processes):
            if process.is_alive():
                continue
            process.join()
            lived = time.monotonic() - started.pop(process.pid, 0.0)
            code = process.exitcode or 0
            if code == STARTUP_FAILURE or (code > 0 and lived < _BROKEN_WITHIN):  # not killed: failed
                # The app, its settings or TLS files are broken: every new worker would fail alike.
                logger.error("worker %s could not start (exit status %s): stopping", process.pid, process.exitcode)
                status = 1
                stop.set()
                break
            logger.warning("worker %s died (exit status %s): starting another", process.pid, process.exitcode)
            processes[n] = start()
    for process in processes:
        if process.is_alive():
            process.terminate()  # uvicorn finishes the requests under way, then exits
    deadline = time.monotonic() + 30
    for process in processes:
        process.join(max(deadline - time.monotonic(), 0))
        if process.is_alive():
            process.kill()
            process.join()
    return status
