"""The pre-visit brief, rule by rule, on facts worked out by hand (no database)."""

from __future__ import annotations

from datetime import date, timedelta

from app.brief import (
    MAX_POINTS,
    BriefFacts,
    OpenTicketFact,
    ProductHistory,
    Suggestion,
    buying_rhythm_days,
    next_birthday,
    pre_visit_brief,
    stopped_products,
)
from app.figures import Rfm
from app.i18n import Translator

TODAY = date(2026, 11, 18)


def kinds(facts: BriefFacts) -> list[str]:
    return [p.kind for p in pre_visit_brief(facts)]


def test_nothing_known_gives_an_empty_brief() -> None:
    assert pre_visit_brief(BriefFacts(today=TODAY, currency="EUR")) == []


def test_overdue_invoices_add_up_and_name_the_oldest() -> None:
    facts = BriefFacts(today=TODAY, currency="EUR", overdue=[(10_000, 12), (2_550, 45)])
    (point,) = pre_visit_brief(facts)
    assert point.kind == "overdue"
    assert point.facts == {"amount": 12_550, "currency": "EUR", "invoices": 2, "oldest_days": 45}
    assert Translator("fr").brief_point(point) == (
        "Impayés : 125,50\xa0€ sur 2 facture(s), la plus ancienne a 45 j de retard."
    )


def test_the_rhythm_is_the_median_gap_of_the_last_thirteen_order_days() -> None:
    assert buying_rhythm_days([date(2026, 1, 1), date(2026, 2, 1)]) is None  # two days: one gap only
    days = [date(2020, 1, 1)] + [date(2026, 1, 1) + timedelta(days=30 * k) for k in range(13)]
    # The 2020 order is the fourteenth from the end: left out, or the median would not be 30.
    assert buying_rhythm_days(days) == 30
    assert buying_rhythm_days([date(2026, 1, 1), date(2026, 1, 11), date(2026, 2, 10)]) == 20  # gaps 10, 30


def test_a_reorder_is_due_from_the_day_the_usual_gap_has_passed() -> None:
    days = [TODAY - timedelta(days=d) for d in (90, 60, 30)]  # every 30 days, last 30 days ago
    assert "reorder" in kinds(BriefFacts(today=TODAY, currency="EUR", order_days=days))
    yesterday_s = [d + timedelta(days=1) for d in days]  # last order 29 days ago: not yet
    assert "reorder" not in kinds(BriefFacts(today=TODAY, currency="EUR", order_days=yesterday_s))
    (point,) = pre_visit_brief(BriefFacts(today=TODAY, currency="EUR", order_days=days))
    assert point.facts == {"every_days": 30, "days_since": 30, "last_order_on": TODAY - timedelta(days=30)}


def test_a_stopped_product_was_bought_three_times_and_not_for_twice_its_gap_nor_90_days() -> None:
    last_order = TODAY - timedelta(days=5)
    regular = ProductHistory("p1", "Four", 3, 3, 900, TODAY - timedelta(days=300), TODAY - timedelta(days=200))
    twice = ProductHistory("p2", "Café", 2, 2, 50, TODAY - timedelta(days=400), TODAY - timedelta(days=300))
    recent = ProductHistory("p3", "Thé", 5, 5, 80, TODAY - timedelta(days=200), TODAY - timedelta(days=60))
    slow = ProductHistory("p4", "Vin", 3, 3, 70, TODAY - timedelta(days=700), TODAY - timedelta(days=300))
    still = ProductHistory("p5", "Sel", 9, 9, 20, TODAY - timedelta(days=700), last_order)
    # regular: gap 50 days, 200 days without: stopped. twice: two orders only. recent: 60 days < 90.
    # slow: gap 200 days, 300 days without < 400: not yet. still: bought at the last order.
    assert stopped_products([regular, twice, recent, slow, still], last_order, TODAY) == [regular]
    # An account that stopped ordering altogether has no "stopped product": it is a reorder matter.
    assert stopped_products([regular], regular.last_on, TODAY) == []


def test_birthdays_within_fourteen_days_including_29_february() -> None:
    assert next_birthday(date(1980, 2, 29), date(2027, 2, 1)) == date(2027, 2, 28)
    assert next_birthday(date(1980, 2, 29), date(2028, 2, 1)) == date(2028, 2, 29)
    assert next_birthday(date(1980, 1, 2), date(2026, 12, 31)) == date(2027, 1, 2)
    on_day_14 = BriefFacts(today=TODAY, currency="EUR", birthdays=[("Léa", date(1990, 12, 2))])
    on_day_15 = BriefFacts(today=TODAY, currency="EUR", birthdays=[("Léa", date(1990, 12, 3))])
    assert kinds(on_day_14) == ["birthday"] and kinds(on_day_15) == []


def test_a_competitor_contract_end_counts_within_90_days_and_before_it_passes() -> None:
    def brief(days: int) -> list[str]:
        end = TODAY + timedelta(days=days)
        return kinds(BriefFacts(today=TODAY, currency="EUR", competitor="Metro", competitor_contract_end=end))

    assert brief(90) == ["competitor"] and brief(0) == ["competitor"]
    assert brief(91) == [] and brief(-1) == []


def test_urgent_matters_come_first_and_seven_points_at_most() -> None:
    facts = BriefFacts(
        today=TODAY,
        currency="EUR",
        order_days=[TODAY - timedelta(days=d) for d in (300, 200, 100)],
        overdue=[(5_000, 40)],
        open_tickets=[
            OpenTicketFact("Livraison incomplète", "complaint", "normal", TODAY - timedelta(days=3)),
            OpenTicketFact("Four en panne", "after_sales", "high", TODAY - timedelta(days=1)),
        ],
        products=[ProductHistory("p1", "Four", 4, 4, 900, TODAY - timedelta(days=400), TODAY - timedelta(days=250))],
        suggestions=[Suggestion("p9", "Lave-vaisselle", 7, 20)],
        last_visit=(TODAY - timedelta(days=20), "Envoyer le devis."),
        birthdays=[("Léa", date(1990, 11, 20))],
        competitor="Metro",
        competitor_contract_end=TODAY + timedelta(days=20),
        rfm=Rfm(100, 3, 1_000, 2, 4, 4),  # at risk
    )
    points = pre_visit_brief(facts)
    assert len(points) == MAX_POINTS
    assert [p.kind for p in points] == [
        "overdue",  # 40 days late
        "tickets",  # a high-priority one is open
        "competitor",  # ends in 20 days
        "reorder",  # every 100 days, 100 days since
        "next_steps",
        "birthday",  # in 2 days
        "rfm",  # at risk
    ]  # stopped products and next-best come after: left out at seven
    assert points[1].facts["subject"] == "Four en panne"
    assert [p.priority for p in points] == sorted((p.priority for p in points), reverse=True)


def test_every_point_reads_in_both_languages() -> None:
    facts = BriefFacts(
        today=TODAY,
        currency="EUR",
        products=[ProductHistory("p1", "Four", 4, 4, 900, TODAY - timedelta(days=400), TODAY - timedelta(days=250))],
        order_days=[TODAY - timedelta(days=5)],
        suggestions=[Suggestion("p9", "Lave-vaisselle", 7, 20)],
        rfm=Rfm(5, 9, 1_000, 5, 5, 5),
    )
    points = pre_visit_brief(facts)
    assert [p.kind for p in points] == ["stopped", "next_best", "rfm"]
    french = [Translator("fr").brief_point(p) for p in points]
    english = [Translator("en").brief_point(p) for p in points]
    assert french[0] == "N'achète plus : Four (4 commandes, dernière le 13 mars 2026)."
    assert english[1].startswith("To offer: Lave-vaisselle (7 customers)")
    assert english[2].startswith("RFM segment: champions (R5 F5 M5")
    assert all("{" not in text for text in french + english)
