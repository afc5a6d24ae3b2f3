"""Whether the map's tiles answer, asked of a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from app.tiles import TileCheck, tile_answers
from tests.conftest import free_port

ANSWERS: dict[str, tuple[int, str, bytes]] = {
    "/ok/0/0/0.png": (200, "image/png", b"\x89PNG\r\n\x1a\n"),
    "/html/0/0/0.png": (200, "text/html", b"<p>blocked by a captive portal</p>"),
    "/gone/0/0/0.png": (404, "text/plain", b"no such tile"),
}


@pytest.fixture
def tiles() -> Iterator[tuple[str, list[str]]]:
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            asked.append(self.path)
            status, kind, body = ANSWERS.get(self.path, (404, "text/plain", b""))
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_only_an_image_tile_in_time_counts_as_an_answer(tiles: tuple[str, list[str]]) -> None:
    base, asked = tiles
    assert tile_answers(base + "/ok/{z}/{x}/{y}.png")
    assert not tile_answers(base + "/html/{z}/{x}/{y}.png")  # a portal's page is no map
    assert not tile_answers(base + "/gone/{z}/{x}/{y}.png")
    assert not tile_answers(f"http://127.0.0.1:{free_port()}/{{z}}/{{x}}/{{y}}.png", timeout=1)  # nobody there
    assert not tile_answers("")
    assert not tile_answers(base + "/{zoom}/{x}/{y}.png")  # a template it cannot fill
    assert asked == ["/ok/0/0/0.png", "/html/0/0/0.png", "/gone/0/0/0.png"]


def test_an_answer_is_remembered_for_a_while_then_asked_again(tiles: tuple[str, list[str]]) -> None:
    base, asked = tiles
    check = TileCheck(seconds=60)
    template = base + "/ok/{z}/{x}/{y}.png"
    assert check.known(template) is None
    assert check.check(template) and check.known(template) is True
    assert check.known(base + "/gone/{z}/{x}/{y}.png") is None
    stale = TileCheck(seconds=0)
    stale.check(template)
    assert stale.known(template) is None  # too old: the screen asks again
    assert asked == ["/ok/0/0/0.png", "/ok/0/0/0.png"]
