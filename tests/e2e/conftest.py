"""A real browser (Debian chromium, driven by Playwright) against the Flet web app."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.preferences import Preferences
from tests.conftest import free_port, unavailable

CHROMIUM = os.environ.get("TERRAIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium for one test module. Playwright's sync API runs an event loop on this thread
    while it lives: stopping it with the module keeps it out of other tests' way."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        unavailable(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def close_tabs(browser: Any) -> Iterator[None]:
    """Every tab a test opened is closed when it ends, passed or failed. A tab left open on an
    app that has since stopped shows Flet's reconnecting spinner: Chromium drew it for 0.6 s of
    CPU per second, and a few such tabs starved the next tests' clicks on two cores."""
    yield
    for context in list(browser.contexts):
        context.close()


@dataclass
class AppProcess:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_app(data_dir: Path, server_url: str | None = None, tile_url: str = "") -> AppProcess:
    port = free_port()
    # No geocoding, and map tiles only from a server of the test's: the tests never reach out
    # past this machine (the app would ask OSM's servers).
    prefs = Preferences.load(data_dir)
    prefs.geocoder_url = ""
    prefs.tile_url = tile_url
    prefs.save(data_dir)
    args = [sys.executable, "-m", "app.cli", "--data-dir", str(data_dir), "--port", str(port)]
    if server_url:
        args += ["--server", server_url]
    log = data_dir.parent / f"app-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            args, env={**os.environ, "TERRAIN_VIEW": "web"}, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited: {log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return AppProcess(url, data_dir, process, log)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the app did not start")


def _png(size: int, grey: int) -> bytes:
    """A square grey PNG, written out by hand (signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes([grey]) * size for _ in range(size))  # filter 0, then the pixels
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


#: What the test's tile server answers for every tile: a light grey square.
TILE_PNG = _png(256, 0xE0)


@dataclass
class TileServer:
    """A map tile server on 127.0.0.1 that answers every /{z}/{x}/{y}.png with a tile and
    counts what it was asked (the map's tiles come from the browser, the check from the app)."""

    url_template: str
    requests: list[str]
    server: ThreadingHTTPServer


@pytest.fixture
def tile_server() -> Iterator[TileServer]:
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(TILE_PNG)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(TILE_PNG)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield TileServer(f"http://127.0.0.1:{server.server_address[1]}/{{z}}/{{x}}/{{y}}.png", requests, server)
    finally:
        server.shutdown()
        server.server_close()
