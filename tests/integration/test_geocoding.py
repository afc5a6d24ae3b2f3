"""Geocoding on the device against a real HTTP server on 127.0.0.1 that speaks Nominatim's
`/search` protocol (the one service of this feature we cannot reach offline), on a replica
synced from the demo company: the queue waits while the geocoder is down and drains when it
comes up, unknown addresses are not asked again, the cache and the throttle hold."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.edits import create_record, edit_account, pending_changes
from app.geocoding import GeocodeAttempt, address_query, geocode_pending, make_geocoder, waiting_accounts
from app.models import Account
from server.db import ServerSession
from sync.engine import SyncEngine
from sync.state import OutboxEntry
from tests.conftest import free_port

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

#: The fake geocoder is installed under a path, as a self-hosted Nominatim often is.
PREFIX = "/nominatim"


@dataclass
class SeenRequest:
    at: float
    path: str
    params: dict[str, str]
    user_agent: str | None


class FakeNominatim:
    """Nominatim's `/search` on 127.0.0.1: a JSON list with the place for the addresses it
    knows, `[]` for the others; it counts what it is asked."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}{PREFIX}"
        self.places: dict[str, tuple[float, float]] = {}
        self.requests: list[SeenRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append(SeenRequest(time.monotonic(), url.path, params, self.headers.get("User-Agent")))
                if url.path != f"{PREFIX}/search" or params.get("format") != "json" or "q" not in params:
                    self.send_error(400 if url.path == f"{PREFIX}/search" else 404)
                    return
                place = fake.places.get(params["q"])
                answer = [] if place is None else [self._place(params["q"], *place)]
                body = json.dumps(answer[: int(params.get("limit", "10"))]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            @staticmethod
            def _place(query: str, lat: float, lon: float) -> dict[str, object]:
                return {
                    "place_id": 1,
                    "licence": "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright",
                    "osm_type": "node",
                    "osm_id": 1,
                    "lat": f"{lat:.7f}",
                    "lon": f"{lon:.7f}",
                    "class": "place",
                    "type": "house",
                    "importance": 0.5,
                    "display_name": query,
                    "boundingbox": [
                        f"{lat - 0.001:.7f}",
                        f"{lat + 0.001:.7f}",
                        f"{lon - 0.001:.7f}",
                        f"{lon + 0.001:.7f}",
                    ],
                }

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = None


@pytest.fixture
def geocoder() -> Iterator[FakeNominatim]:
    """Not started: a test starts it when the geocoder is to answer."""
    fake = FakeNominatim(free_port())
    yield fake
    fake.stop()


def imported_without_position(api: TestClient, device: SyncEngine, count: int) -> list[str]:
    """Blank the position of `count` of the rep's accounts on the server (as an ERP import with
    addresses only would leave them), then sync them down."""
    with Session(device.replica) as session:
        ids = [a.id for a in session.exec(select(Account).order_by(Account.name)).all()[:count]]
    with ServerSession(api.app.state.engine) as session:  # type: ignore[attr-defined]
        for account_id in ids:
            account = session.get(Account, account_id)
            assert account is not None and account.billing_street and account.billing_city
            account.billing_lat = account.billing_lon = None
            session.add(account)
        session.commit()
    device.sync()
    return ids


def knows(geocoder: FakeNominatim, device: SyncEngine, ids: list[str]) -> dict[str, tuple[float, float]]:
    """Teach the fake geocoder these accounts' addresses, each at its own made-up position."""
    positions: dict[str, tuple[float, float]] = {}
    with Session(device.replica) as session:
        for n, account_id in enumerate(ids):
            account = session.get(Account, account_id)
            assert account is not None
            positions[account_id] = (round(44.5 + n / 100, 2), round(1.5 + n / 100, 2))
            geocoder.places[address_query(account)] = positions[account_id]
    return positions


def position(device: SyncEngine, account_id: str) -> tuple[float | None, float | None]:
    with Session(device.replica) as session:
        account = session.get(Account, account_id)
        assert account is not None
        return account.billing_lat, account.billing_lon


def test_addresses_wait_while_the_geocoder_is_down_and_are_placed_and_synced_once_it_answers(
    api: TestClient, alice: SyncEngine, geocoder: FakeNominatim
) -> None:
    imported = imported_without_position(api, alice, 3)
    with Session(alice.replica) as session:
        lead = create_record(
            session=session,
            entity="account",
            fields={"name": "Fromagerie des Halles", "billing_street": "4 rue des Halles", "billing_city": "Tours"},
        )
        lead_id = lead.id
    waiting = [*imported, lead_id]
    positions = knows(geocoder, alice, waiting)
    geocode = make_geocoder(geocoder.url, min_delay_seconds=0.01)

    # Nothing listens on the geocoder's port: nothing is lost, nothing is raised.
    with Session(alice.replica) as session:
        down = geocode_pending(session=session, geocode=geocode)
        assert down.error and "did not answer" in down.error and down.found == 0 and down.still_waiting == len(waiting)
        assert {a.id for a in waiting_accounts(session=session)} == set(waiting)
        assert session.exec(select(OutboxEntry).where(OutboxEntry.op == "update")).all() == []
    assert all(position(alice, i) == (None, None) for i in waiting)

    geocoder.start()
    with Session(alice.replica) as session:
        up = geocode_pending(session=session, geocode=geocode)
        assert (up.found, up.not_found, up.still_waiting, up.error) == (len(waiting), 0, 0, None)
        assert waiting_accounts(session=session) == []
        updates = session.exec(select(OutboxEntry).where(OutboxEntry.op == "update")).all()
        assert {e.record_id: (e.fields["billing_lat"], e.fields["billing_lon"]) for e in updates} == positions
    assert {i: position(alice, i) for i in waiting} == positions
    # It spoke Nominatim's protocol, at the configured path, under the app's own name.
    asked = geocoder.requests
    assert len(asked) == len(waiting)
    assert {r.path for r in asked} == {f"{PREFIX}/search"}
    assert all(r.params["format"] == "json" and r.params["limit"] == "1" for r in asked)
    assert {r.user_agent for r in asked} == {"Terrain CRM"}

    alice.sync()
    with Session(alice.replica) as session:
        assert pending_changes(session=session)["pending"] == 0
    with Session(api.app.state.engine) as server:  # type: ignore[attr-defined]
        for account_id, (lat, lon) in positions.items():
            account = server.get(Account, account_id)
            assert account is not None
            assert (account.billing_lat, account.billing_lon) == (lat, lon)


def test_an_address_the_geocoder_does_not_know_is_asked_once_and_again_only_after_it_changes(
    api: TestClient, alice: SyncEngine, geocoder: FakeNominatim
) -> None:
    account_id, neighbour_id = imported_without_position(api, alice, 2)
    with Session(alice.replica) as session:
        account = session.get(Account, account_id)
        assert account is not None
        # A second account at the same unknown address is not a second question either.
        same_address = {f: getattr(account, f) for f in ("billing_street", "billing_postcode", "billing_city")}
        edit_account(session=session, account_id=neighbour_id, changes=same_address)
    geocoder.start()
    geocode = make_geocoder(geocoder.url, min_delay_seconds=0.01)

    with Session(alice.replica) as session:
        first = geocode_pending(session=session, geocode=geocode)
        assert (first.found, first.not_found, first.still_waiting, first.error) == (0, 2, 0, None)
        attempt = session.get(GeocodeAttempt, account_id)
        assert attempt is not None and attempt.status == "not_found"
        for _ in range(3):
            again = geocode_pending(session=session, geocode=geocode)
            assert (again.found, again.not_found) == (0, 0)
    assert len(geocoder.requests) == 1
    assert position(alice, account_id) == position(alice, neighbour_id) == (None, None)

    with Session(alice.replica) as session:
        moved = edit_account(session=session, account_id=account_id, changes={"billing_street": "1 place du Marché"})
        geocoder.places[address_query(moved)] = (47.39, 0.69)
        assert [a.id for a in waiting_accounts(session=session)] == [account_id]
        report = geocode_pending(session=session, geocode=geocode)
        assert (report.found, report.not_found, report.still_waiting) == (1, 0, 0)
    assert len(geocoder.requests) == 2
    assert position(alice, account_id) == (47.39, 0.69)
    assert position(alice, neighbour_id) == (None, None)


def test_two_accounts_at_the_same_address_cost_one_request(
    api: TestClient, alice: SyncEngine, geocoder: FakeNominatim
) -> None:
    first, second = imported_without_position(api, alice, 2)
    with Session(alice.replica) as session:
        original = session.get(Account, first)
        assert original is not None
        # The same address typed another way: other case, other spacing.
        edit_account(
            session=session,
            account_id=second,
            changes={
                "billing_street": "  " + (original.billing_street or "").upper(),
                "billing_postcode": original.billing_postcode,
                "billing_city": (original.billing_city or "").lower() + " ",
            },
        )
    knows(geocoder, alice, [first])
    geocoder.start()
    geocode = make_geocoder(geocoder.url, min_delay_seconds=0.01)

    with Session(alice.replica) as session:
        report = geocode_pending(session=session, geocode=geocode)
    assert (report.found, report.still_waiting) == (2, 0)
    assert len(geocoder.requests) == 1
    assert position(alice, second) == position(alice, first) == (44.5, 1.5)


def test_requests_to_the_geocoder_are_spaced_by_the_minimum_delay(
    api: TestClient, alice: SyncEngine, geocoder: FakeNominatim
) -> None:
    delay, count = 0.2, 4
    imported = imported_without_position(api, alice, count)
    knows(geocoder, alice, imported)
    geocoder.start()
    geocode = make_geocoder(geocoder.url, min_delay_seconds=delay)

    started = time.monotonic()
    with Session(alice.replica) as session:
        report = geocode_pending(session=session, geocode=geocode)
    elapsed = time.monotonic() - started
    assert report.found == count
    assert len(geocoder.requests) == count
    assert elapsed >= (count - 1) * delay
    arrivals = [r.at for r in geocoder.requests]
    # Arrival times carry a little scheduling noise; the spacing is set where requests leave.
    assert all(b - a >= delay - 0.02 for a, b in zip(arrivals, arrivals[1:], strict=False))
