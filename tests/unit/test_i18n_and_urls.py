"""Words in French and English, and server addresses as people type them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.i18n import _MESSAGES, LANGUAGES, Translator
from app.services import InvalidServerUrl, PlainHttpServer, check_server_url


def test_every_message_exists_in_every_language() -> None:
    missing = [key for key, texts in _MESSAGES.items() if set(texts) != set(LANGUAGES)]
    assert missing == []


def test_french_is_the_default_and_english_is_available() -> None:
    assert Translator()("nav.accounts") == "Clients"
    assert Translator("en")("nav.accounts") == "Customers"
    assert Translator("de")("nav.accounts") == "Clients"  # an unknown language falls back to French


def test_times_are_shown_in_the_reps_time_zone() -> None:
    utc_evening = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # already the 29th in Paris
    assert Translator("fr").local_day(utc_evening) == Translator("fr").day(date(2026, 3, 29))
    assert "00:30" in Translator("fr").moment(utc_evening)


@pytest.mark.parametrize("typed", ["https://crm.example.com/", " http://127.0.0.1:8000 ", "http://localhost:8000/"])
def test_a_server_address_is_accepted_and_trimmed(typed: str) -> None:
    url = check_server_url(typed)
    assert not url.endswith("/") and url == url.strip()


@pytest.mark.parametrize("typed", ["crm.example.com", "ftp://crm.example.com", "not a url", "http://", ""])
def test_a_wrong_server_address_is_refused(typed: str) -> None:
    with pytest.raises(InvalidServerUrl):
        check_server_url(typed)


@pytest.mark.parametrize(
    "typed", ["http://crm.example.com", "http://192.168.1.20:8000", "http://10.0.0.5", "http://[2001:db8::1]:8000"]
)
def test_plain_http_to_another_machine_is_refused_unless_allowed(typed: str) -> None:
    with pytest.raises(PlainHttpServer, match="not encrypted"):
        check_server_url(typed)
    assert check_server_url(typed, allow_plain_http=True) == typed


@pytest.mark.parametrize(
    "typed", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000", "https://crm.example.com"]
)
def test_https_and_this_machine_over_http_are_taken(typed: str) -> None:
    assert check_server_url(typed) == typed
