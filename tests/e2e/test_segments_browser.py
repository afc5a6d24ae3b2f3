"""Segments in a real browser: made from the customers page with its count as the filter
changes, saved on the device with its members counted, and written to."""

from __future__ import annotations

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


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_segment_made_on_the_screen_counts_as_it_changes_and_is_written_to(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    app = start_app(tmp_path / "device", server_url=live_server.url)
    try:
        page, host = _signed_in(browser, app.url, "alice")
        host.get_by_role("button", name="Segments").click()
        host.get_by_role("button", name="Nouveau segment").click()
        count = page.locator('[flt-semantics-identifier="segment-count"]')
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
        # The semantics tree is there before the frame is painted: a tap too early can be lost,
        # so it is made again until the page moves (the app's own navigation, not a guess).
        target = f"/followup/segment/{saved.id}"
        for _attempt in range(5):
            time.sleep(1)
            host.get_by_role("button", name="Écrire à ce segment").click()
            deadline = time.monotonic() + 5
            while not page.url.endswith(target) and time.monotonic() < deadline:
                time.sleep(0.2)
            if page.url.endswith(target):
                break
        assert page.url.endswith(target), page.url
        page.close()
    finally:
        app.stop()
