"""Where accounts are on the map: the device places billing addresses that have no position
with an OpenStreetMap-compatible geocoder (Nominatim protocol), throttled and cached; offline,
the addresses wait and are placed the next time the geocoder answers.

The queue is not a list to keep in step: it is every account with a billing address and no
position, less those whose same address the geocoder already said it does not know. Nothing
is raised to the caller when the geocoder cannot be reached: the report says so.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from babel import Locale
from geopy.exc import GeocoderServiceError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import Nominatim
from geopy.location import Location
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from app.edits import edit_account
from app.ids import utcnow
from app.models import Account, UTCDateTime, table_of

__all__ = [
    "GeocodeAttempt",
    "GeocodeReport",
    "Geocoder",
    "GeocodedAddress",
    "address_query",
    "create_geocoding_tables",
    "geocode_pending",
    "make_geocoder",
    "normalised_address",
    "waiting_accounts",
]

#: The public server, whose usage policy allows one request a second whatever the caller asks.
_PUBLIC_NOMINATIM_HOST = "nominatim.openstreetmap.org"

#: Asks for one address, answers where it is or None when the geocoder does not know it.
Geocoder = Callable[[str], Location | None]


# Replica-only tables ----------------------------------------------------------------------
class GeocodeAttempt(SQLModel, table=True):
    """The last time an account's address was put to the geocoder, and what it said: an address
    it did not know is not asked again until the rep changes it."""

    __tablename__ = "geocode_attempt"
    account_id: str = Field(primary_key=True, max_length=36)
    #: The normalised query text, so that a changed address is a new question.
    address: str = Field(index=True)
    #: found, not_found, or error (the geocoder did not answer; the account keeps waiting)
    status: str = Field(max_length=10)
    tried_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class GeocodedAddress(SQLModel, table=True):
    """A position the geocoder gave for an address: the same address is never asked twice."""

    __tablename__ = "geocode_cache"
    address: str = Field(primary_key=True)
    lat: float
    lon: float
    found_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def create_geocoding_tables(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine, tables=[table_of(GeocodeAttempt), table_of(GeocodedAddress)])


# The geocoder -----------------------------------------------------------------------------
def make_geocoder(
    url: str, *, user_agent: str = "Terrain CRM", timeout: float = 10, min_delay_seconds: float = 1.0
) -> Geocoder:
    """A Nominatim client for the geocoder at `url` (scheme, host and path, such as
    `https://nominatim.openstreetmap.org` or `http://geo.example.com/nominatim`), which waits
    at least `min_delay_seconds` between two requests and never retries on its own: the
    queue is the retry."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the geocoder's address must start with http:// or https://, not {url!r}")
    if parts.hostname == _PUBLIC_NOMINATIM_HOST:
        min_delay_seconds = max(min_delay_seconds, 1.0)
    path = parts.path.rstrip("/").removesuffix("/search")
    nominatim = Nominatim(domain=parts.netloc + path, scheme=parts.scheme, user_agent=user_agent, timeout=timeout)
    geocode: Geocoder = RateLimiter(
        nominatim.geocode, min_delay_seconds=min_delay_seconds, max_retries=0, swallow_exceptions=False
    )
    return geocode


# The queue --------------------------------------------------------------------------------
def _text(value: str | None) -> str:
    return " ".join((value or "").split())


def _has_address(account: Account) -> bool:
    return bool(_text(account.billing_street) or (_text(account.billing_postcode) and _text(account.billing_city)))


def address_query(account: Account) -> str:
    """The text the geocoder is asked: street, postcode and town, country (its English name)."""
    country = _text(account.billing_country).upper()
    town = " ".join(p for p in (_text(account.billing_postcode), _text(account.billing_city)) if p)
    parts = (_text(account.billing_street), town, Locale("en").territories.get(country, country) if country else "")
    return ", ".join(p for p in parts if p)


def normalised_address(query: str) -> str:
    """The cache key of an address: case, spacing and commas do not make another address."""
    return " ".join(re.sub(r"[,;]", " ", unicodedata.normalize("NFKC", query)).casefold().split())


def _attempts(session: Session) -> dict[str, GeocodeAttempt]:
    return {a.account_id: a for a in session.exec(select(GeocodeAttempt))}


def _waiting(session: Session, attempts: dict[str, GeocodeAttempt]) -> list[Account]:
    unplaced = session.exec(
        select(Account).where(col(Account.billing_lat).is_(None) | col(Account.billing_lon).is_(None))
    ).all()

    def unknown_already(account: Account) -> bool:
        attempt = attempts.get(account.id)
        return (
            attempt is not None
            and attempt.status == "not_found"
            and attempt.address == normalised_address(address_query(account))
        )

    waiting = [a for a in unplaced if _has_address(a) and not unknown_already(a)]

    # Never tried first; an address the geocoder failed on goes to the back, so that it cannot
    # hold up the others run after run.
    def last_tried(account: Account) -> float:
        attempt = attempts.get(account.id)
        return attempt.tried_at.timestamp() if attempt is not None else 0.0

    return sorted(waiting, key=lambda a: (last_tried(a), a.name))


def waiting_accounts(*, session: Session) -> list[Account]:
    """Accounts with a billing address and no position that the geocoder may still place."""
    return _waiting(session, _attempts(session))


@dataclass(frozen=True)
class GeocodeReport:
    found: int = 0
    not_found: int = 0
    still_waiting: int = 0
    #: Why the run stopped early (the geocoder did not answer), else None.
    error: str | None = None


def _record(session: Session, attempts: dict[str, GeocodeAttempt], account_id: str, address: str, status: str) -> None:
    attempt = attempts.get(account_id) or GeocodeAttempt(account_id=account_id, address=address, status=status)
    attempt.address, attempt.status, attempt.tried_at = address, status, utcnow()
    attempts[account_id] = attempt
    session.add(attempt)


def geocode_pending(*, session: Session, geocode: Geocoder, limit: int = 50) -> GeocodeReport:
    """Place the waiting accounts, asking the geocoder at most `limit` times.

    A position is written as the rep's own edit (row and outbox entry together), so it syncs to
    the server like any other change. With the rate limiter of `make_geocoder` a run takes about
    a second a request: run it away from the screen's thread.
    """
    attempts = _attempts(session)
    found = not_found = asked = 0
    error: str | None = None
    for account in _waiting(session, attempts):
        address = normalised_address(address_query(account))
        cached = session.get(GeocodedAddress, address)
        if cached is None:
            known_unknown = session.exec(
                select(GeocodeAttempt.account_id).where(
                    GeocodeAttempt.address == address, GeocodeAttempt.status == "not_found"
                )
            ).first()
            if known_unknown is not None:
                _record(session, attempts, account.id, address, "not_found")
                session.commit()
                not_found += 1
                continue
            if asked >= limit:
                break
            asked += 1
            try:
                location = geocode(address_query(account))
            except (GeocoderServiceError, OSError) as exc:
                _record(session, attempts, account.id, address, "error")
                session.commit()
                error = f"the geocoder did not answer: {str(exc) or type(exc).__name__}"
                break
            if location is None:
                _record(session, attempts, account.id, address, "not_found")
                session.commit()
                not_found += 1
                continue
            cached = GeocodedAddress(address=address, lat=location.latitude, lon=location.longitude)
            session.add(cached)
        _record(session, attempts, account.id, address, "found")
        # Commits the cache and the attempt with the position and its outbox entry.
        edit_account(
            session=session, account_id=account.id, changes={"billing_lat": cached.lat, "billing_lon": cached.lon}
        )
        found += 1
    return GeocodeReport(found=found, not_found=not_found, still_waiting=len(_waiting(session, attempts)), error=error)
