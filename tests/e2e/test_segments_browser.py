"""Segments in a real browser: made from the customers page with its count as the filter
changes, saved on the device with its members counted, and written to."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from app.i18n import Translator
from app.replica import open_replica
from app.segments import SavedSegment, count_members, make_filter
from tests.conftest import LiveServer
from tests.e2e.conftest import start_app
from tests.e2e.test_app_browser import _rep_today, _signed_in, _type, _wait_text

pytestmark = pytest.mark.e2e


def _device_count(data_dir: Path, fields: dict[str, Any]) -> str:
    """How many of the device's customers the filter holds, as the screen writes it."""
    engine = open_replica(data_dir)
    try:
        with Session(engine) as session:
            found = count_members(session=session, filter=make_filter(fields), rfm=None, today=_rep_today())
    finally:
        engine.dispose()
    return Translator("fr").number(found)


def _saved_segment(data_dir: Path, seconds: float = 30) -> SavedSegment:
    """The segment the app saved, once it has (a loaded machine takes its time)."""
    deadline = time.monotonic() + seconds
    while True:
        engine = open_replica(data_dir)
        try:
            with Session(engine) as session:
                found = session.exec(select(SavedSegment)).first()
        finally:
            engine.dispose()
        if found is not None or time.monotonic() > deadline:
            assert found is not None, "the segment was never saved"
            return found
        time.sleep(0.3)


def _tap_until(host: Any, button: str, opened: Any, attempts: int = 5) -> None:
    """Tap the button until `opened` shows (the app's own answer to the tap, not a delay)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _attempt in range(attempts):
        try:
            host.get_by_role("button", name=button).first.click(timeout=10_000)
            opened.first.wait_for(state="attached", timeout=8_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"tapping {button!r} never opened what it should")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_segment_made_on_the_screen_counts_as_it_changes_and_is_written_to(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    app = start_app(tmp_path / "device", server_url=live_server.url)
    try:
        page, host = _signed_in(browser, app.url, "alice")
        count = page.locator('[flt-semantics-identifier="segment-count"]')
        # The customers page is drawn again when the first sync lands, and a tap on a button
        # being replaced is lost: each tap is made again until what it opens is there.
        _tap_until(host, "Segments", host.get_by_role("button", name="Nouveau segment"))
        _tap_until(host, "Nouveau segment", count)
        _wait_text(count, f"{_device_count(app.data_dir, {})} client(s) correspondent")
        _type(host, "Nom du segment", "Clients de Saint-Étienne")
        host.get_by_role("checkbox", name="Client", exact=True).click()  # a chip
        _wait_text(count, f"{_device_count(app.data_dir, {'stages': ['client']})} client(s) correspondent")
        _type(host, "Villes (séparées par des virgules)", "saint etienne")
        expected = _device_count(app.data_dir, {"stages": ["client"], "towns": ["Saint-Étienne"]})
        assert expected != "0"
        _wait_text(count, f"{expected} client(s) correspondent")
        host.get_by_role("button", name="Enregistrer").click()
        # The name is on the screen already (in its field): wait for the saved row itself.
        saved = _saved_segment(app.data_dir)
        _wait_text(page.locator(f'[flt-semantics-identifier="segment-members-{saved.id}"]'), f"{expected} client(s)")
        # Written to: the follow-up e-mails of the segment, one per customer, to review and send.
        _tap_until(host, "Écrire à ce segment", host.get_by_role("button", name="Envoyer", exact=True))
        _wait_text(host.get_by_text("E-mails de relance"), "E-mails de relance")
        assert host.get_by_role("checkbox", name=re.compile("^Envoyer à ")).count() >= 1
        page.close()
    finally:
        app.stop()
