#!/usr/bin/env python3
"""Set Terrain up from a fresh clone, then run it or test it. Needs only Python 3.11+ and git.

python3 dev.py run     server on SQLite with the demo company, plus the app in a browser view
python3 dev.py test    the whole test suite (extra pytest arguments may follow)
python3 dev.py setup   only create .venv and install the locked dependencies
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".terrain-installed"
VAR = ROOT / "var"


def _run(*args: str | Path, **kwargs: object) -> None:
    subprocess.run([str(a) for a in args], check=True, **kwargs)  # type: ignore[call-overload]


def setup() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  (dev.py may be run by an older python3)
        sys.exit(f"Terrain needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print("creating .venv", flush=True)
        _run(sys.executable, "-m", "venv", VENV)
    wanted = hashlib.sha256(LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("installing the locked dependencies into .venv (first time: a minute or two)", flush=True)
    _run(PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uv")
    env = {**os.environ, "VIRTUAL_ENV": str(VENV)}
    _run(BIN / "uv", "pip", "sync", "--python", PYTHON, "--quiet", LOCK, env=env)
    _run(BIN / "uv", "pip", "install", "--python", PYTHON, "--quiet", "--no-deps", "-e", ROOT, env=env)
    STAMP.write_text(wanted)


def _free_port(preferred: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{url} did not start (exit code {process.returncode}); see the output above")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"{url} did not answer within {seconds:.0f} s")


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_demo() -> None:
    setup()
    signal.signal(signal.SIGTERM, _interrupt)  # stop both children on a plain kill too
    server_dir, device_dir = VAR / "server", VAR / "device"
    env = {
        "TERRAIN_LOG_FORMAT": "text",  # a terminal, not a log collector (the environment may say otherwise)
        **os.environ,
        "TERRAIN_SERVER_DATA_DIR": str(server_dir),
        "TERRAIN_DATA_DIR": str(device_dir),
    }
    if not (server_dir / "terrain-server.db").exists():
        print("loading the demo company into var/server/terrain-server.db", flush=True)
        _run(BIN / "terrain-server", "demo-data", "--seed", "42", env=env)
    server_port, app_port = _free_port(8000), _free_port(8550)
    server_url = f"http://127.0.0.1:{server_port}"
    server = subprocess.Popen(
        [
            str(BIN / "terrain-server"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(server_port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    app = None
    try:
        _wait_for(f"{server_url}/healthz", server)
        app = subprocess.Popen(
            [str(BIN / "terrain"), "--server", server_url, "--host", "127.0.0.1", "--port", str(app_port)], env=env
        )
        _wait_for(f"http://127.0.0.1:{app_port}/", app)
        print(
            f"\n  Terrain app:     http://127.0.0.1:{app_port}/   (open it in a browser)\n"
            f"  Central server:  {server_url}   (API docs at {server_url}/docs)\n"
            "  Demo logins (DEMO ONLY): alice, bruno, chloe (reps), manon (manager); password: demo\n"
            "  Data: var/server (server), var/device (the app's replica). Ctrl-C stops both.\n",
            flush=True,
        )
        while server.poll() is None and app.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in (app, server):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()


def run_tests(extra: list[str]) -> int:
    setup()
    if not shutil.which("chromium") and not os.environ.get("CI"):
        print("note: no chromium on PATH: the browser tests will be skipped (apt-get install chromium)", flush=True)
    pytest = [str(PYTHON), "-m", "pytest"]
    if extra:
        return subprocess.call([*pytest, *extra], cwd=ROOT)
    # The whole suite: everything but the browser tests on two workers (most tests wait on
    # sockets, subprocesses and databases), then the browser tests alone, which need the CPU
    # to themselves (Flutter renders in Chromium) to keep their timing.
    first = subprocess.call([*pytest, "-m", "not e2e", "-n", "2", "--dist", "loadfile"], cwd=ROOT)
    second = subprocess.call([*pytest, "-m", "e2e"], cwd=ROOT)
    return first or second


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "run"
    if command == "setup":
        setup()
        return 0
    if command == "run":
        run_demo()
        return 0
    if command == "test":
        return run_tests(sys.argv[2:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
