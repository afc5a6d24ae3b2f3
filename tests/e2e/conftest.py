"""A real browser (Debian chromium, driven by Playwright) against the Flet web app."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def start_app(data_dir: Path, server_url: str | None = None) -> AppProcess:
    port = free_port()
    # No geocoding: the tests never reach out past this machine (the app would ask OSM's server).
    prefs = Preferences.load(data_dir)
    prefs.geocoder_url = ""
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
