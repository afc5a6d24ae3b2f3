"""Segments over a real replica: each kind of condition alone and together, towns whatever their
accents and case, accounts that never ordered against last-order days, RFM segments; filters
saved on the device (never synced), listed with their counts, renamed, deleted; and the same
filters over the demo company's book after a real sync, against the records read one by one."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import flet as ft
import pytest
from sqlmodel import Session, select

from app.dashboard import book_rfm
from app.figures import rfm_segment
from app.i18n import Translator
from app.models import Account, Campaign, LifecycleStage, Order, OrderLine, Origin, Product
from app.replica import open_replica
from app.segments import (
    RFM_SEGMENTS,
    InvalidSegment,
    SegmentFilter,
    SegmentNotFound,
    count_members,
    delete_segment,
    filter_from_json,
    list_segments,
    make_filter,
    members,
    save_segment,
    segment_members,
    split_towns,
)
from app.services import Device, open_device
from sync.engine import SyncEngine
from sync.state import OutboxEntry
from tests.conftest import DEMO_DAY
from views.segments import SegmentForm, SegmentsPage, describe_filter

TODAY = date(2026, 11, 18)


@dataclass(frozen=True)
class Book:
    device: Device
    ids: dict[str, str]  # short name -> account id
    products: dict[str, str]  # short name -> product id
    event_id: str

    def names(self, account_ids: list[str]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[i] for i in account_ids]


def _order(
    session: Session, account_id: str, day: date, lines: list[tuple[str, int]], status: str = "delivered"
) -> None:
    order = Order(
        account_id=account_id,
        ordered_at=datetime(day.year, day.month, day.day, 10, tzinfo=UTC),
        status=status,
        net_amount=sum(amount for _p, amount in lines),
    )
    session.add(order)
    for product_id, amount in lines:
        session.add(
            OrderLine(
                order_id=order.id,
                account_id=account_id,
                product_id=product_id,
                description="",
                quantity=1,
                unit_price_amount=amount,
                net_amount=amount,
            )
        )


@pytest.fixture
def book(tmp_path: Path) -> Iterator[Book]:
    """Six customers of a rep, on a real replica, with their purchases (as a pull brings them)."""
    device = open_device(tmp_path / "rep")
    with Session(device.replica) as session:
        event = Campaign(name="Salon de Lyon", channel="trade_fair")
        products = {
            k: Product(sku=k.upper(), name=name, category="Boulangerie", list_price_amount=100_00)
            for k, name in (("oven", "Four mixte"), ("flour", "Farine T55"), ("mixer", "Pétrin"))
        }
        accounts = {
            "martin": Account(
                name="Boulangerie Martin",
                lifecycle_stage="client",
                origin="trade_fair",
                origin_campaign_id=event.id,
                billing_city="Saint-Étienne",
            ),
            "cafe": Account(
                name="Café du Centre", lifecycle_stage="prospect", origin="web", billing_city="SAINT ETIENNE"
            ),
            "epicerie": Account(
                name="Épicerie Lemoine", lifecycle_stage="buyer", origin="referral", billing_city="Chambéry"
            ),
            "hotel": Account(
                name="Hôtel des Alpes", lifecycle_stage="client", origin="trade_fair", billing_city="chambery"
            ),
            "traiteur": Account(name="Lyon Traiteur", lifecycle_stage="lost"),
            "geoirs": Account(
                name="Ferme de Geoirs",
                lifecycle_stage="lead",
                origin="field",
                billing_city="Saint-Étienne-de-Saint-Geoirs",
            ),
        }
        session.add_all([event, *products.values(), *accounts.values()])
        p = {k: v.id for k, v in products.items()}
        a = {k: v.id for k, v in accounts.items()}
        _order(session, a["martin"], date(2026, 10, 1), [(p["oven"], 400)])
        _order(session, a["martin"], date(2025, 5, 1), [(p["flour"], 900)])
        _order(session, a["epicerie"], date(2026, 3, 15), [(p["flour"], 500)])
        _order(session, a["epicerie"], date(2026, 11, 1), [(p["mixer"], 9_000)], status="cancelled")
        _order(session, a["hotel"], date(2026, 11, 17), [(p["mixer"], 1_000), (p["flour"], 2_000)])
        _order(session, a["traiteur"], date(2024, 1, 10), [(p["oven"], 700)])
        session.commit()
        yield Book(device, a, p, event.id)
    device.close()


def _members(book: Book, **fields: object) -> list[str]:
    with Session(book.device.replica) as session:
        return book.names(members(session=session, filter=make_filter(fields), rfm=None, today=TODAY))


def test_an_empty_filter_is_the_whole_book_by_name(book: Book) -> None:
    assert _members(book) == ["martin", "cafe", "epicerie", "geoirs", "hotel", "traiteur"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"stages": ["client"]}, {"martin", "hotel"}),
        ({"stages": ["client", "lost"]}, {"martin", "hotel", "traiteur"}),
        ({"origins": ["trade_fair"]}, {"martin", "hotel"}),
        ({"origins": ["web", "field"]}, {"cafe", "geoirs"}),
        ({"origin_campaign_id": "EVENT"}, {"martin"}),
        ({"product_ids": ["oven"]}, {"martin", "traiteur"}),
        ({"product_ids": ["flour", "mixer"]}, {"martin", "epicerie", "hotel"}),
        ({"rfm_segments": ["champions", "at_risk"]}, {"hotel", "epicerie"}),
        ({"rfm_segments": ["loyal"]}, {"martin"}),
        ({"rfm_segments": ["hibernating"]}, set()),
    ],
)
def test_each_condition_alone(book: Book, fields: dict[str, list[str]], expected: set[str]) -> None:
    if "origin_campaign_id" in fields:
        fields = {"origin_campaign_id": book.event_id}
    if "product_ids" in fields:
        fields = {"product_ids": [book.products[k] for k in fields["product_ids"]]}
    assert set(_members(book, **fields)) == expected


def test_the_rfm_scores_of_the_book_are_those_the_cases_above_expect(book: Book) -> None:
    with Session(book.device.replica) as session:
        scores = book_rfm(session=session, day=TODAY)
    assert {k: scores[v].segment for k, v in book.ids.items() if v in scores} == {
        "martin": "loyal",  # R4 F5 M2: 48 days ago, the smallest amount
        "epicerie": "at_risk",  # R2 F5 M4: 248 days ago (its cancelled order does not count)
        "hotel": "champions",  # R5 F5 M5
    }


def test_a_town_matches_whatever_its_accents_case_and_hyphens_but_only_whole(book: Book) -> None:
    assert set(_members(book, towns=["saint etienne"])) == {"martin", "cafe"}
    assert set(_members(book, towns=["SAINT-ÉTIENNE"])) == {"martin", "cafe"}
    assert set(_members(book, towns=["Chambery", "saint-etienne"])) == {"martin", "cafe", "epicerie", "hotel"}
    assert set(_members(book, towns=["Saint-Etienne-de-Saint-Geoirs"])) == {"geoirs"}
    assert _members(book, towns=["Lyon"]) == []  # a customer's name is no town
    assert split_towns(" Lyon, Saint-Étienne ;; chambéry,") == ("Lyon", "Saint-Étienne", "chambéry")


def test_a_cancelled_order_is_no_purchase_and_no_last_order(book: Book) -> None:
    assert "epicerie" not in _members(book, product_ids=[book.products["mixer"]])
    assert "epicerie" in _members(book, last_order_before=date(2026, 4, 1))
    assert "epicerie" not in _members(book, last_order_after=date(2026, 4, 1))


def test_never_ordered_accounts_have_had_no_order_since_any_day(book: Book) -> None:
    since_june = _members(book, last_order_before=date(2026, 6, 1))
    assert set(since_june) == {"cafe", "geoirs", "epicerie", "traiteur"}
    assert set(_members(book, last_order_before=date(1990, 1, 1))) == {"cafe", "geoirs"}
    assert set(_members(book, last_order_after=date(2026, 6, 1))) == {"martin", "hotel"}
    # An order on the day itself is an order since that day.
    assert "hotel" in _members(book, last_order_after=date(2026, 11, 17))
    assert "hotel" not in _members(book, last_order_before=date(2026, 11, 17))
    assert set(_members(book, last_order_after=date(2025, 1, 1), last_order_before=date(2026, 6, 1))) == {"epicerie"}


@pytest.mark.parametrize("day", [date(2024, 1, 10), date(2026, 3, 15), date(2026, 10, 2), date(2027, 1, 1)])
def test_after_and_before_one_day_split_the_book_in_two(book: Book, day: date) -> None:
    after, before = set(_members(book, last_order_after=day)), set(_members(book, last_order_before=day))
    assert not after & before and after | before == set(book.ids)


def test_conditions_together_must_all_hold(book: Book) -> None:
    together = {
        "stages": ["client", "buyer"],  # not cafe, geoirs, traiteur
        "towns": ["chambery", "Saint-Etienne"],
        "product_ids": [book.products["flour"]],
        "rfm_segments": ["champions", "loyal"],  # not epicerie (at risk)
        "last_order_after": date(2026, 6, 1),
    }
    assert _members(book, **together) == ["martin", "hotel"]
    assert _members(book, **together, last_order_before=date(2026, 11, 2)) == ["martin"]
    assert _members(book, **together, origins=["web"]) == []
    with Session(book.device.replica) as session:
        assert count_members(session=session, filter=make_filter(together), rfm=None, today=TODAY) == 2
        assert count_members(session=session, filter=SegmentFilter(stages=("client",)), rfm=None, today=TODAY) == 2


def test_a_filter_reads_back_from_its_json_as_it_was(book: Book) -> None:
    full = make_filter(
        {
            "stages": ["client", "buyer", "client"],
            "origins": ["trade_fair"],
            "origin_campaign_id": book.event_id,
            "towns": ["Saint-Étienne", "saint etienne", "Chambéry"],
            "product_ids": list(book.products.values()),
            "rfm_segments": ["at_risk"],
            "last_order_after": "2025-01-01",
            "last_order_before": "2026-06-01",
        }
    )
    assert full.stages == (LifecycleStage.client, LifecycleStage.buyer)  # each once
    assert full.towns == ("Saint-Étienne", "Chambéry")  # one town, two spellings
    assert full.last_order_before == date(2026, 6, 1)
    assert filter_from_json(full.to_json()) == full
    assert SegmentFilter().to_json() == "{}" and filter_from_json("{}").is_empty()
    assert make_filter({"last_order_after": " ", "origin_campaign_id": ""}) == SegmentFilter()
    assert filter_from_json('{"origins": ["web"]}') == SegmentFilter(origins=(Origin.web,))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"stages": ["customer"]}, "stages"),
        ({"origins": ["tv"]}, "origins"),
        ({"rfm_segments": ["sleeping"]}, "rfm_segments"),
        ({"last_order_after": "2026-13-01"}, "last_order_after"),
        ({"last_order_after": "2026-06-01", "last_order_before": "2026-06-01"}, "last_order_before"),
        ({"towns": ["x" * 101]}, "towns"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_what_cannot_be_a_filter_names_its_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSegment) as caught:
        make_filter(fields)
    assert caught.value.field == field and str(caught.value).startswith(f"{field}: ")


def test_every_rfm_segment_name_can_be_asked_for() -> None:
    named = {rfm_segment(r, f, m) for r, f, m in itertools.product(range(1, 6), repeat=3)}
    assert named == set(RFM_SEGMENTS)


def test_segments_are_saved_listed_with_their_counts_changed_and_deleted(book: Book) -> None:
    with Session(book.device.replica) as session:
        clients = save_segment(
            session=session,
            name="  Clients   à Saint-Étienne ",
            filter=make_filter({"stages": ["client"], "towns": ["saint etienne"]}),
        )
        assert clients.name == "Clients à Saint-Étienne"
        sleeping = save_segment(
            session=session, name="à relancer", filter=make_filter({"last_order_before": "2026-06-01"})
        )
        risky = save_segment(session=session, name="Champions", filter=make_filter({"rfm_segments": ["champions"]}))
        listed = list_segments(session=session, rfm=None, today=TODAY)
        assert [(s.name, s.members) for s in listed] == [
            ("à relancer", 4),
            ("Champions", 1),
            ("Clients à Saint-Étienne", 1),
        ]
        assert book.names(segment_members(session=session, segment_id=risky.id, rfm=None, today=TODAY)) == ["hotel"]
        assert book.names(segment_members(session=session, segment_id=sleeping.id, rfm=None, today=TODAY)) == [
            "cafe",
            "epicerie",
            "geoirs",
            "traiteur",
        ]
        changed = save_segment(
            session=session, name="Clients", filter=make_filter({"stages": ["client"]}), segment_id=clients.id
        )
        assert changed.id == clients.id and changed.updated_at >= clients.created_at
        assert book.names(segment_members(session=session, segment_id=clients.id, rfm=None, today=TODAY)) == [
            "martin",
            "hotel",
        ]
        delete_segment(session=session, segment_id=sleeping.id)
        assert [s.name for s in list_segments(session=session, rfm=None, today=TODAY)] == ["Champions", "Clients"]
        with pytest.raises(SegmentNotFound):
            delete_segment(session=session, segment_id=sleeping.id)
        with pytest.raises(SegmentNotFound):
            segment_members(session=session, segment_id=sleeping.id, rfm=None, today=TODAY)


@pytest.mark.parametrize("name", ["Champions", "champions", " CHAMPIONS ", "Chämpions"])
def test_two_segments_cannot_share_a_name(book: Book, name: str) -> None:
    with Session(book.device.replica) as session:
        first = save_segment(session=session, name="Champions", filter=SegmentFilter())
        with pytest.raises(InvalidSegment) as caught:
            save_segment(session=session, name=name, filter=SegmentFilter(stages=(LifecycleStage.lead,)))
        assert caught.value.field == "name"
        # Its own name is no clash when a segment is saved again.
        save_segment(session=session, name=name, filter=SegmentFilter(), segment_id=first.id)
        with pytest.raises(InvalidSegment) as blank:
            save_segment(session=session, name="   ", filter=SegmentFilter())
        assert blank.value.field == "name"


def test_saved_segments_stay_on_the_device_and_are_never_synced(book: Book, tmp_path: Path) -> None:
    book.device.save_segment("Salon de Lyon", SegmentFilter(origin_campaign_id=book.event_id))
    with Session(book.device.replica) as session:
        assert session.exec(select(OutboxEntry)).all() == []  # nothing to push
    reopened = open_replica(tmp_path / "rep")
    try:
        with Session(reopened) as session:
            assert [s.name for s in list_segments(session=session, rfm=None, today=TODAY)] == ["Salon de Lyon"]
    finally:
        reopened.dispose()


def test_the_device_counts_and_lists_members_with_its_cached_rfm(book: Book) -> None:
    device = book.device
    assert device.preview_segment(SegmentFilter(rfm_segments=("champions", "loyal")), TODAY) == 2
    assert device.preview_segment(SegmentFilter(towns=("chambéry",)), TODAY) == 2
    first = device.save_segment("Fidèles", SegmentFilter(rfm_segments=("loyal",)))
    device.save_segment("Tout le monde", SegmentFilter())
    cached = device._rfm_cache
    assert cached is not None  # the RFM scores computed for the preview were kept
    assert book.names(device.segment_members(first, TODAY)) == ["martin"]
    assert device._rfm_cache is cached
    assert [(s.name, s.members) for s in device.segments(TODAY)] == [("Fidèles", 1), ("Tout le monde", 6)]
    assert device.segment(first).filter == SegmentFilter(rfm_segments=("loyal",))
    assert [p.name for p in device.products([book.products["mixer"], "gone", book.products["oven"]])] == [
        "Pétrin",
        "Four mixte",
    ]
    with pytest.raises(InvalidSegment):
        device.save_segment("fideles", SegmentFilter())
    device.delete_segment(first)
    with pytest.raises(SegmentNotFound):
        device.segment(first)


# The demo company, after a real sync ---------------------------------------------------------
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_over_the_demo_book_each_filter_gives_what_the_records_say(alice: SyncEngine) -> None:
    from app.segments import town_key

    with Session(alice.replica) as session:
        accounts = session.exec(select(Account)).all()
        orders = session.exec(select(Order).where(Order.status != "cancelled")).all()
        last: dict[str, date] = {}
        for o in orders:
            day = o.ordered_at.astimezone(UTC).date()
            last[o.account_id] = max(day, last.get(o.account_id, day))
        lines = session.exec(select(OrderLine.account_id, OrderLine.product_id, OrderLine.order_id)).all()
        kept_orders = {o.id for o in orders}
        top_product = max({p for _a, p, _o in lines if p}, key=lambda p: sum(1 for line in lines if line[1] == p))
        scores = book_rfm(session=session, day=DEMO_DAY)
        since = DEMO_DAY - timedelta(days=120)
        towns = {a.billing_city for a in accounts if a.billing_city}
        accented = next(t for t in sorted(towns) if t != town_key(t))  # Saint-Étienne, Chambéry...
        cases: list[tuple[SegmentFilter, set[str]]] = [
            (SegmentFilter(stages=(LifecycleStage.client,)), {a.id for a in accounts if a.lifecycle_stage == "client"}),
            (SegmentFilter(origins=(Origin.trade_fair,)), {a.id for a in accounts if a.origin == "trade_fair"}),
            (
                SegmentFilter(towns=(town_key(accented).upper(),)),
                {a.id for a in accounts if a.billing_city == accented},
            ),
            (
                SegmentFilter(product_ids=(top_product,)),
                {a for a, p, o in lines if p == top_product and o in kept_orders},
            ),
            (SegmentFilter(last_order_before=since), {a.id for a in accounts if last.get(a.id, date.min) < since}),
            (SegmentFilter(last_order_after=since), {a.id for a in accounts if last.get(a.id, date.min) >= since}),
            (
                SegmentFilter(rfm_segments=("at_risk", "hibernating")),
                {a for a, s in scores.items() if s.segment in ("at_risk", "hibernating")},
            ),
        ]
        for f, expected in cases:
            assert expected, f"the demo book has no case for {f}"
            found = members(session=session, filter=f, rfm=None, today=DEMO_DAY)
            assert set(found) == expected, f
            assert len(found) == len(expected)
        assert len(accounts) > 50


# The screen, over the same device ------------------------------------------------------------
def _count(form: SegmentForm) -> str:
    shown = form.count.content
    assert isinstance(shown, ft.Text)
    return (shown.value or "").replace("\u202f", " ").replace("\xa0", " ")


def test_the_form_counts_as_the_filter_changes_and_says_what_to_fix(book: Book) -> None:
    device = book.device
    form = SegmentForm(
        Translator("fr"),
        preview=lambda f: device.preview_segment(f, TODAY),
        search=lambda text: device.search_products(text, limit=6),
        events=[(book.event_id, "Salon de Lyon")],
    )
    assert _count(form) == "6 client(s) correspondent"
    form.toggle("stages", "client")
    form.toggle("stages", "buyer")
    assert _count(form) == "3 client(s) correspondent"
    assert [c.selected for c in form.chips["stages"]] == [False, False, False, True, True, False, False]
    form.toggle("stages", "buyer")  # tapped again: out
    form.towns.value = "chambéry, SAINT-ETIENNE"
    form.refresh()
    assert _count(form) == "2 client(s) correspondent"  # martin, hotel
    form.query.value = "petrin"
    form._find(SimpleNamespace(control=form.query))
    assert [b.content for b in form.found.controls] == ["+ Pétrin (MIXER)"]
    form.found.controls[0].on_click(None)
    assert _count(form) == "1 client(s) correspondent" and form.query.value == ""
    form.after.value = "2026-13-01"
    form.refresh()
    assert form.error.value == "Écrivez la date de dernière commande comme 2026-01-31 (année-mois-jour)."
    assert _count(form) == ""
    form.after.value = ""
    form.before.value = "2026-11-17"
    form.refresh()
    assert (form.error.value, _count(form)) == ("", "0 client(s) correspondent")
    form.remove_product(book.products["mixer"])
    form.toggle("rfm_segments", "loyal")
    form.event.value = book.event_id
    form.refresh()
    assert _count(form) == "1 client(s) correspondent"  # martin: no order since the 17th
    assert form.read() == SegmentFilter(
        stages=(LifecycleStage.client,),
        origin_campaign_id=book.event_id,
        towns=("chambéry", "SAINT-ETIENNE"),
        rfm_segments=("loyal",),
        last_order_before=date(2026, 11, 17),
    )


def _page(
    book: Book,
    language: str,
    events: list[tuple[str, str]],
    on_write: Callable[[str], None] = lambda _id: None,
    told: Callable[[str], None] = lambda _text: None,
) -> SegmentsPage:
    """The segments page over the book's device, driven without a browser."""
    device = book.device
    return SegmentsPage(
        Translator(language),
        segments=lambda: device.segments(TODAY),
        preview=lambda f: device.preview_segment(f, TODAY),
        save=device.save_segment,
        delete=device.delete_segment,
        search_products=lambda text: device.search_products(text, limit=6),
        products=device.products,
        events=events,
        on_write=on_write,
        told=told,
    )


def test_the_page_saves_lists_writes_to_changes_and_deletes_segments(book: Book) -> None:
    device = book.device
    written: list[str] = []
    notices: list[str] = []
    page = _page(book, "fr", [(book.event_id, "Salon de Lyon")], on_write=written.append, told=notices.append)
    assert isinstance(page.control, ft.ListView)
    assert [c.value for c in page.listing.controls] == ["Aucun segment enregistré."]  # type: ignore[attr-defined]
    page.new_button.on_click(None)
    form = page.form
    assert form is not None and page.form_slot.content is not None and not page.new_button.visible
    form.name.value = "Fours vendus"
    form.add_product(device.products([book.products["oven"]])[0])
    page.save_form(form)
    assert page.form is None and notices == ["Segment « Fours vendus » enregistré."]
    (oven,) = page.shown
    assert (oven.name, oven.members) == ("Fours vendus", 2)
    assert describe_filter(Translator("fr"), oven.filter, {}) == "1 produit(s) achetés"

    page.open_form(None)  # the same name again is refused, the form says why and stays open
    assert page.form is not None
    page.form.name.value = "fours VENDUS"
    page.save_form(page.form)
    assert page.form is not None and page.form.error.value.startswith("Donnez au segment un nom")

    write, edit, delete = page.actions[oven.id].controls
    write.on_click(None)
    assert written == [oven.id]
    edit.on_click(None)  # the form opens with the segment as saved, its product named
    assert page.form is not None and page.form.segment_id == oven.id
    assert [p.name for p in page.form.products] == ["Four mixte"]
    page.form.towns.value = "Saint-Étienne"
    page.save_form(page.form)
    assert [(s.name, s.members) for s in page.shown] == [("Fours vendus", 1)]
    assert (
        describe_filter(Translator("fr"), page.shown[0].filter, {}) == "Villes : Saint-Étienne · 1 produit(s) achetés"
    )

    delete = page.actions[oven.id].controls[2]
    delete.on_click(None)  # asks first
    confirm, cancel = page.actions[oven.id].controls
    assert confirm.content == "Supprimer « Fours vendus »"
    cancel.on_click(None)
    assert len(page.actions[oven.id].controls) == 3 and device.segments(TODAY)
    page.actions[oven.id].controls[2].on_click(None)
    page.actions[oven.id].controls[0].on_click(None)
    assert device.segments(TODAY) == [] and notices[-1] == "Segment « Fours vendus » supprimé."
    assert [c.value for c in page.listing.controls] == ["Aucun segment enregistré."]  # type: ignore[attr-defined]


def test_an_empty_segment_cannot_be_written_to(book: Book) -> None:
    device = book.device
    device.save_segment("Personne", SegmentFilter(towns=("Paris",)))
    page = _page(book, "en", [])
    (nobody,) = page.shown
    write = page.actions[nobody.id].controls[0]
    assert write.content == "E-mail this segment" and write.disabled
