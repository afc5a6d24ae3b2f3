"""Segments on the screen: the rep's saved filters over the book with how many customers each
holds now, a form to make or change one with the count as the filter changes, and on each
segment a button to write to it (the follow-up e-mail's audience).

Segments are personal and kept on this device only (`app.segments`); the view reads and
saves them through the device's services.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flet as ft

from app.i18n import Translator
from app.models import LifecycleStage, Origin
from app.segments import (
    RFM_SEGMENTS,
    InvalidSegment,
    SegmentError,
    SegmentFilter,
    SegmentSummary,
    make_filter,
    split_towns,
)
from app.services import ProductLine

__all__ = ["SegmentForm", "SegmentsPage", "describe_filter", "segments_view"]

ANY = "*"


def describe_filter(t: Translator, f: SegmentFilter, event_names: dict[str, str]) -> str:
    """The filter in a line: what a segment's card says under its name."""
    parts = []
    if f.stages:
        parts.append(t("segments.summary_stages", values=", ".join(t(f"stage.{s.value}") for s in f.stages)))
    if f.origins:
        parts.append(
            t("segments.summary_origins", values=", ".join(t(f"segments.origin.{o.value}") for o in f.origins))
        )
    if f.origin_campaign_id:
        name = event_names.get(f.origin_campaign_id, f.origin_campaign_id)
        parts.append(t("segments.summary_event", name=name))
    if f.towns:
        parts.append(t("segments.summary_towns", values=", ".join(f.towns)))
    if f.product_ids:
        parts.append(t("segments.summary_products", count=len(f.product_ids)))
    if f.rfm_segments:
        parts.append(t("segments.summary_rfm", values=", ".join(t(f"segment.{r}") for r in f.rfm_segments)))
    if f.last_order_after:
        parts.append(t("segments.summary_after", day=t.day(f.last_order_after)))
    if f.last_order_before:
        parts.append(t("segments.summary_before", day=t.day(f.last_order_before)))
    return " · ".join(parts) or t("segments.everyone")


def problem_text(t: Translator, error: InvalidSegment) -> str:
    """What to fix, in the rep's words, for the field the error names."""
    key = f"segments.bad.{error.field}"
    text = t(key)
    return t("segments.bad.other", reason=error.message) if text == key else text


class SegmentForm:
    """The name and the conditions of a segment, with the number of customers it holds, counted
    again at each change (a few milliseconds on a large book)."""

    def __init__(
        self,
        t: Translator,
        *,
        preview: Callable[[SegmentFilter], int],
        search: Callable[[str], list[ProductLine]],
        events: Sequence[tuple[str, str]] = (),
        segment: SegmentSummary | None = None,
        products: Sequence[ProductLine] = (),
    ) -> None:
        """`segment`: the saved segment to change (None: a new one); `products`: its products
        bought, as the device has them."""
        self.t, self.preview, self.search = t, preview, search
        self.segment_id = segment.id if segment else None
        f = segment.filter if segment else SegmentFilter()
        self.name = ft.TextField(label=t("segments.name"), value=segment.name if segment else "")
        self.chosen: dict[str, set[str]] = {
            "stages": {s.value for s in f.stages},
            "origins": {o.value for o in f.origins},
            "rfm_segments": set(f.rfm_segments),
        }
        self.chips: dict[str, list[ft.Chip]] = {
            "stages": [self._chip("stages", s.value, t(f"stage.{s.value}")) for s in LifecycleStage],
            "origins": [self._chip("origins", o.value, t(f"segments.origin.{o.value}")) for o in Origin],
            "rfm_segments": [self._chip("rfm_segments", r, t(f"segment.{r}")) for r in RFM_SEGMENTS],
        }
        self.event = ft.Dropdown(
            label=t("segments.event"),
            options=[ft.DropdownOption(key=ANY, text=t("segments.any_event"))]
            + [ft.DropdownOption(key=event_id, text=name) for event_id, name in events],
            value=f.origin_campaign_id or ANY,
            visible=bool(events) or bool(f.origin_campaign_id),
            on_select=lambda _e: self.refresh(),
        )
        self.towns = ft.TextField(
            label=t("segments.towns"), value=", ".join(f.towns), on_change=lambda _e: self.refresh()
        )
        self.products: list[ProductLine] = list(products)
        self.query = ft.TextField(label=t("segments.find_product"), prefix_icon=ft.Icons.SEARCH, on_change=self._find)
        self.found = ft.Row(wrap=True, spacing=4)
        self.chosen_products = ft.Row(wrap=True, spacing=4)
        self.after = ft.TextField(
            label=t("segments.after"),
            value=f.last_order_after.isoformat() if f.last_order_after else "",
            width=300,
            dense=True,
            on_change=lambda _e: self.refresh(),
        )
        self.before = ft.TextField(
            label=t("segments.before"),
            value=f.last_order_before.isoformat() if f.last_order_before else "",
            width=300,
            dense=True,
            on_change=lambda _e: self.refresh(),
        )
        self.count = ft.Semantics(content=ft.Text("", weight=ft.FontWeight.BOLD), identifier="segment-count")
        self.error = ft.Text("", color=ft.Colors.ERROR)
        self._draw_products()
        self.refresh()

    def _chip(self, kind: str, key: str, label: str) -> ft.Chip:
        chip = ft.Chip(label=label, selected=key in self.chosen[kind])
        chip.on_select = lambda _e: self.toggle(kind, key)
        return chip

    def toggle(self, kind: str, key: str) -> None:
        """Add the value to the condition, or take it out (a chip tapped)."""
        self.chosen[kind] ^= {key}
        for chip, value in zip(self.chips[kind], self._keys(kind), strict=True):
            chip.selected = value in self.chosen[kind]
        self.refresh()

    @staticmethod
    def _keys(kind: str) -> list[str]:
        if kind == "stages":
            return [s.value for s in LifecycleStage]
        if kind == "origins":
            return [o.value for o in Origin]
        return list(RFM_SEGMENTS)

    def _find(self, e: Any) -> None:
        text = (e.control.value or "").strip()
        chosen = {p.id for p in self.products}
        self.found.controls = [
            ft.TextButton(f"+ {p.name} ({p.sku})", on_click=lambda _e, p=p: self.add_product(p))
            for p in (self.search(text) if text else [])
            if p.id not in chosen
        ]

    def add_product(self, product: ProductLine) -> None:
        if all(p.id != product.id for p in self.products):
            self.products.append(product)
        self.query.value = ""
        self.found.controls = []
        self._draw_products()
        self.refresh()

    def remove_product(self, product_id: str) -> None:
        self.products = [p for p in self.products if p.id != product_id]
        self._draw_products()
        self.refresh()

    def _draw_products(self) -> None:
        self.chosen_products.controls = [
            ft.Chip(
                label=f"{p.name} ({p.sku})",
                delete_icon_tooltip=self.t("segments.remove_product", name=p.name),
                on_delete=lambda _e, product_id=p.id: self.remove_product(product_id),
            )
            for p in self.products
        ]

    def read(self) -> SegmentFilter:
        """The filter as the form has it; InvalidSegment names the field to fix."""
        in_order = {kind: [k for k in self._keys(kind) if k in self.chosen[kind]] for kind in self.chosen}
        return make_filter(
            {
                **in_order,
                "origin_campaign_id": None if self.event.value in (None, ANY) else self.event.value,
                "towns": split_towns(self.towns.value or ""),
                "product_ids": [p.id for p in self.products],
                "last_order_after": self.after.value or None,
                "last_order_before": self.before.value or None,
            }
        )

    def show_problem(self, error: InvalidSegment) -> None:
        self.error.value = problem_text(self.t, error)

    def refresh(self) -> None:
        """The count of customers the filter holds now, or what to fix in it."""
        text = self.count.content
        assert isinstance(text, ft.Text)
        try:
            found = self.preview(self.read())
        except InvalidSegment as exc:
            self.show_problem(exc)
            text.value = ""
            return
        self.error.value = ""
        text.value = self.t("segments.live_count", count=self.t.number(found))

    def controls(self, on_save: Callable[[], None], on_cancel: Callable[[], None]) -> ft.Control:
        t = self.t

        def titled(title: str, *controls: ft.Control) -> ft.Control:
            return ft.Column([ft.Text(title, weight=ft.FontWeight.BOLD), *controls], spacing=4)

        return ft.Card(
            content=ft.Container(
                ft.Column(
                    [
                        self.name,
                        titled(t("segments.stages"), ft.Row(list(self.chips["stages"]), wrap=True, spacing=4)),
                        titled(t("segments.origins"), ft.Row(list(self.chips["origins"]), wrap=True, spacing=4)),
                        self.event,
                        self.towns,
                        titled(t("segments.products"), self.chosen_products, self.query, self.found),
                        titled(t("segments.rfm"), ft.Row(list(self.chips["rfm_segments"]), wrap=True, spacing=4)),
                        ft.Row([self.after, self.before], wrap=True),
                        self.count,
                        self.error,
                        ft.Row(
                            [
                                ft.Button(t("segments.save"), icon=ft.Icons.SAVE, on_click=lambda _e: on_save()),
                                ft.TextButton(t("segments.cancel"), on_click=lambda _e: on_cancel()),
                            ]
                        ),
                    ],
                    spacing=12,
                ),
                padding=12,
            )
        )


class SegmentsPage:
    """The saved segments, each with its count, what it holds in words and its buttons (write
    to it, change it, delete it with a second tap: segments are not synced, there is no undo),
    and the form, opened for a new segment or one to change."""

    def __init__(
        self,
        t: Translator,
        *,
        segments: Callable[[], list[SegmentSummary]],
        preview: Callable[[SegmentFilter], int],
        save: Callable[[str, SegmentFilter, str | None], str],
        delete: Callable[[str], None],
        search_products: Callable[[str], list[ProductLine]],
        products: Callable[[Sequence[str]], list[ProductLine]],
        events: Sequence[tuple[str, str]],
        on_write: Callable[[str], None],
        told: Callable[[str], None],
    ) -> None:
        self.t, self.segments, self.preview, self.save, self.delete = t, segments, preview, save, delete
        self.search_products, self.products, self.events = search_products, products, events
        self.on_write, self.told = on_write, told
        self.event_names = dict(events)
        self.form: SegmentForm | None = None
        self.listing = ft.Column(spacing=8)
        self.actions: dict[str, ft.Row] = {}  # each segment's buttons, by id
        self.form_slot = ft.Container()
        self.new_button = ft.Button(t("segments.new"), icon=ft.Icons.ADD, on_click=lambda _e: self.open_form(None))
        self.shown: list[SegmentSummary] = []
        self.draw_list()
        self.control = ft.ListView(
            [
                ft.Text(t("segments.title"), size=20, weight=ft.FontWeight.BOLD),
                ft.Text(t("segments.intro"), size=12),
                self.new_button,
                self.form_slot,
                self.listing,
            ],
            spacing=12,
            padding=12,
            expand=True,
        )

    def draw_list(self) -> None:
        self.shown = self.segments()
        self.actions = {}
        self.listing.controls = [self._card(s) for s in self.shown] or [ft.Text(self.t("segments.none"), italic=True)]

    def _card(self, s: SegmentSummary) -> ft.Control:
        t = self.t
        self.actions[s.id] = ft.Row(wrap=True)
        self.normal_actions(s)
        return ft.Card(
            content=ft.Container(
                ft.Column(
                    [
                        ft.Row(
                            [
                                ft.Text(s.name, size=16, weight=ft.FontWeight.BOLD, expand=True),
                                ft.Semantics(
                                    content=ft.Text(t("segments.members", count=t.number(s.members or 0))),
                                    identifier=f"segment-members-{s.id}",
                                ),
                            ]
                        ),
                        ft.Text(describe_filter(t, s.filter, self.event_names), size=12),
                        self.actions[s.id],
                    ],
                    spacing=6,
                ),
                padding=12,
            ),
            key=f"segment-{s.id}",
        )

    def normal_actions(self, s: SegmentSummary) -> None:
        t = self.t
        self.actions[s.id].controls = [
            ft.Button(
                t("segments.write"),
                icon=ft.Icons.EMAIL,
                on_click=lambda _e: self.on_write(s.id),
                disabled=s.members == 0,
            ),
            ft.TextButton(t("segments.edit"), icon=ft.Icons.EDIT, on_click=lambda _e: self.open_form(s)),
            ft.TextButton(t("segments.delete"), icon=ft.Icons.DELETE, on_click=lambda _e: self.confirm_delete(s)),
        ]

    def confirm_delete(self, s: SegmentSummary) -> None:
        t = self.t
        self.actions[s.id].controls = [
            ft.Button(
                t("segments.confirm_delete", name=s.name),
                icon=ft.Icons.DELETE_FOREVER,
                color=ft.Colors.ERROR,
                on_click=lambda _e: self.remove(s),
            ),
            ft.TextButton(t("segments.cancel"), on_click=lambda _e: self.normal_actions(s)),
        ]

    def open_form(self, segment: SegmentSummary | None) -> None:
        self.form = SegmentForm(
            self.t,
            preview=self.preview,
            search=self.search_products,
            events=self.events,
            segment=segment,
            products=self.products(segment.filter.product_ids) if segment else (),
        )
        form = self.form
        self.form_slot.content = form.controls(on_save=lambda: self.save_form(form), on_cancel=self.close_form)
        self.new_button.visible = False

    def close_form(self) -> None:
        self.form = None
        self.form_slot.content = None
        self.new_button.visible = True

    def save_form(self, form: SegmentForm) -> None:
        try:
            self.save(form.name.value or "", form.read(), form.segment_id)
        except InvalidSegment as exc:
            form.show_problem(exc)
            return
        except SegmentError as exc:  # deleted meanwhile, in another tab
            form.error.value = str(exc)
            return
        self.close_form()
        self.draw_list()
        self._tell(self.t("segments.saved", name=" ".join((form.name.value or "").split())))

    def remove(self, s: SegmentSummary) -> None:
        try:
            self.delete(s.id)
        except SegmentError:
            pass  # already gone (another tab): the list is drawn again anyway
        self.draw_list()
        self._tell(self.t("segments.deleted", name=s.name))

    def _tell(self, text: str) -> None:
        self.told(text)
        # A notice (a SnackBar) updates the page's dialogs, and Flet then skips its own update
        # after the event: what changed here is sent now.
        try:
            self.control.page  # noqa: B018 - raises when the page is not shown (driven by a test)
        except RuntimeError:
            return
        self.control.update()


def segments_view(
    t: Translator,
    *,
    segments: Callable[[], list[SegmentSummary]],
    preview: Callable[[SegmentFilter], int],
    save: Callable[[str, SegmentFilter, str | None], str],
    delete: Callable[[str], None],
    search_products: Callable[[str], list[ProductLine]],
    products: Callable[[Sequence[str]], list[ProductLine]],
    events: Sequence[tuple[str, str]],
    on_write: Callable[[str], None],
    told: Callable[[str], None],
) -> ft.Control:
    """`segments()`: the saved ones with their counts; `preview(filter)`: how many customers it
    holds; `save(name, filter, id or None)`; `events`: (id, name) of the trade fairs on this
    device; `on_write(segment id)`: open the e-mail to that segment; `told(text)`: a short notice."""
    return SegmentsPage(
        t,
        segments=segments,
        preview=preview,
        save=save,
        delete=delete,
        search_products=search_products,
        products=products,
        events=events,
        on_write=on_write,
        told=told,
    ).control
