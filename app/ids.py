"""Identifiers and clocks shared by the server and the device: UUIDv7 ids and UTC times."""

from __future__ import annotations

from datetime import UTC, datetime

from uuid_utils import uuid7

__all__ = ["new_id", "utcnow"]


def new_id() -> str:
    """A time-ordered UUIDv7, as text: made where the record is created, device or server."""
    return str(uuid7())


def utcnow() -> datetime:
    return datetime.now(UTC)
