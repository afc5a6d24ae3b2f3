"""Pull cursors: a plain sequence number is kept by devices; page tokens carry the snapshot bound."""

from __future__ import annotations

import pytest

from server.pull import BadCursor, CursorAhead, _parse, _Position


def test_no_cursor_starts_a_snapshot_bounded_by_the_current_sequence() -> None:
    assert _parse(None, 42) == _Position(bound=42, snapshot=True)


def test_a_stored_cursor_reads_the_log_up_to_the_current_sequence() -> None:
    assert _parse("17", 42) == _Position(bound=42, snapshot=False, last_seq=17)


def test_page_tokens_round_trip() -> None:
    for position in (
        _Position(40, True, 3, "0192-abc", "0193-def"),
        _Position(40, True, 3, "*", "odd.id.with.dots"),
        _Position(40, True, 5, "0192-abc", "~"),
        _Position(40, False, last_seq=12),
    ):
        assert _parse(position.token(), 99) == position


@pytest.mark.parametrize(
    "cursor",
    ["x", "s.1.2", "d.a.b", "-1", "s.1.x.y", "q.1.2.3", "d.5.9", "s.5.99.x", "s.43.0.", "d.5.-1", "9" * 20],
)
def test_a_cursor_this_server_did_not_make_is_refused(cursor: str) -> None:
    with pytest.raises(BadCursor):
        _parse(cursor, 42)


@pytest.mark.parametrize("cursor", ["43", "d.50.3", "s.50.1.a.b"])
def test_a_cursor_past_this_servers_log_means_it_was_restored_from_a_backup(cursor: str) -> None:
    with pytest.raises(CursorAhead):
        _parse(cursor, 42)
