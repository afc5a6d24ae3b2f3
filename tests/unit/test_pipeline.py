"""The sales cycles from the stage history (pure functions), and the lost dialog's check."""

from __future__ import annotations

from datetime import date

import pytest

from app.figures import account_cycle_days, sales_cycle_days, won_cycles
from app.i18n import Translator
from views.pipeline import LostForm

A, B = date(2026, 1, 1), date(2026, 12, 31)


def test_a_won_deal_is_dated_by_its_history_where_it_has_one_else_by_its_own_dates() -> None:
    deals = [
        ("with-history", "won", date(2026, 3, 1), date(2026, 3, 20)),
        ("created-before-the-history", "won", date(2026, 2, 1), date(2026, 4, 1)),
        ("without-history", "won", date(2026, 5, 1), date(2026, 5, 11)),
        ("won-without-closed-at", "won", date(2026, 6, 1), None),
        ("no-date-at-all", "won", date(2026, 6, 1), None),
        ("lost", "lost", date(2026, 1, 1), date(2026, 2, 1)),
    ]
    history: dict[str, tuple[date | None, date | None]] = {
        "with-history": (date(2026, 2, 20), date(2026, 3, 22)),
        "created-before-the-history": (None, date(2026, 4, 3)),
        "won-without-closed-at": (date(2026, 6, 1), date(2026, 6, 15)),
    }
    assert won_cycles(deals, history) == [
        (date(2026, 2, 20), date(2026, 3, 22)),  # 30 days, from the history alone
        (date(2026, 2, 1), date(2026, 4, 3)),  # created_at, then the move to won: 61 days
        (date(2026, 5, 1), date(2026, 5, 11)),  # created_at to closed_at, as before: 10 days
        (date(2026, 6, 1), date(2026, 6, 15)),  # 14 days
    ]
    assert sales_cycle_days(won_cycles(deals, history), A, B) == 22  # median of 10, 14, 30, 61


def test_the_account_cycle_runs_from_the_first_move_to_lead_to_the_first_buyer_or_client_after_it() -> None:
    moves = [
        ("a", "suspect", date(2025, 12, 1)),
        ("a", "lead", date(2026, 1, 10)),
        ("a", "prospect", date(2026, 2, 1)),
        ("a", "buyer", date(2026, 3, 1)),  # 50 days after lead
        ("a", "client", date(2026, 6, 1)),  # later: not counted again
        ("b", "lead", date(2026, 4, 1)),
        ("b", "lead", date(2026, 5, 1)),
        ("b", "client", date(2026, 5, 11)),  # 40 days after the first lead
        ("c", "client", date(2025, 1, 1)),  # a client before it was a lead...
        ("c", "lead", date(2026, 1, 1)),  # ...and never again: left out
        ("d", "buyer", date(2026, 2, 1)),  # no lead in its history: left out
        ("e", "lead", date(2025, 1, 1)),
        ("e", "buyer", date(2025, 12, 31)),  # before the period
    ]
    assert account_cycle_days(moves, A, B) == 45
    assert account_cycle_days(moves, date(2026, 5, 1), B) == 40
    assert account_cycle_days(moves, date(2027, 1, 1), date(2027, 12, 31)) is None


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_the_lost_dialog_refuses_to_save_without_a_reason(reason: str | None) -> None:
    form = LostForm(Translator("fr"))
    form.reason.value = reason  # type: ignore[assignment]
    form.competitor.value = "Rational"
    with pytest.raises(ValueError, match="la raison est obligatoire"):
        form.read()


def test_the_lost_dialog_reads_the_reason_and_an_optional_competitor() -> None:
    form = LostForm(Translator("en"))
    form.reason.value = "  Delivery too slow "
    assert form.read() == ("Delivery too slow", None)
    form.competitor.value = " Rational "
    assert form.read() == ("Delivery too slow", "Rational")
