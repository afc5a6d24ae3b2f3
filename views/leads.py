"""Trade-fair mode: the events, and the quick lead form a rep fills in seconds per person met.

The form is keyboard-first: fields in reading order, Tab moves on, Enter saves and opens a
blank form with the focus back on the first field (Shift+Enter writes a new line in the notes).
While the rep types, the customers already on the device that the person may belong to are
listed; Enter does not save a lead that may be a known customer until the rep attaches the
person to one of them or says the company is new (the focus goes to that choice).

"Accepte d'être recontacté par e-mail" is ticked for each new person (they handed over their card
or badge to be followed up); the rep unticks it (Tab to it, Space) when they refused. It comes
after the fields typed for everyone, so the usual Tab-and-Enter path never lands on it.

Only calls into callbacks the app wires to `app.services.Device`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import partial
from typing import Any

import flet as ft

from app.i18n import Translator
from app.lead_import import LEAD_FIELDS, LeadDraft, parse_scanned
from app.leads import BadgeReport, DuplicateMatch, EventSummary, LeadLine, check_lead, guess_language
from app.models import Campaign, Temperature
from app.services import ProductLine
from views.today import ProductPicker

__all__ = ["LeadEntry", "LeadForm", "event_page", "events_page"]

_TEMPERATURES = (Temperature.hot, Temperature.warm, Temperature.cold)


def _dates(t: Translator, first: date | None, last: date | None) -> str:
    if first and last and last != first:
        return t("leads.from_to", first=t.day(first), last=t.day(last))
    return t.day(first) if first else ""


def events_page(
    t: Translator,
    found: Sequence[EventSummary],
    current_id: str,
    today: date,
    on_open: Callable[[str], None],
    on_create: Callable[[str, str, str, str], str | None],
    run_task: Callable[[Callable[[], Awaitable[None]]], object] | None = None,
) -> ft.Control:
    """The events on the device (on now first) and a form to open a new one on arrival (the
    cursor in its name when there is no event yet: `run_task` runs the focus once shown)."""
    name = ft.TextField(label=t("leads.event_name"))

    async def focus_name() -> None:
        # Again a moment later: a browser turning its accessibility on takes the focus back.
        for wait in (0.3, 1.2):
            await asyncio.sleep(wait)
            if not name.value:
                await name.focus()  # type: ignore[no-untyped-call]

    if run_task is not None and not found:
        run_task(focus_name)
    place = ft.TextField(label=t("leads.event_place"))
    first = ft.TextField(label=t("leads.event_first"), value=today.isoformat(), width=180)
    last = ft.TextField(label=t("leads.event_last"), value=today.isoformat(), width=180)
    error = ft.Text("", color=ft.Colors.ERROR)

    def create(_e: Any = None) -> None:
        error.value = on_create(name.value or "", place.value or "", first.value or "", last.value or "") or ""

    for field in (name, place, first, last):
        field.on_submit = create
    tiles: list[ft.Control] = []
    for event in found:
        details = " · ".join(
            p for p in (event.place, _dates(t, event.starts_on, event.ends_on), t("leads.met", count=event.leads)) if p
        )
        tiles.append(
            ft.Card(
                ft.Container(
                    ft.Row(
                        [
                            ft.Column(
                                [
                                    ft.Text(
                                        event.name + (f" · {t('leads.current')}" if event.id == current_id else ""),
                                        weight=ft.FontWeight.BOLD,
                                    ),
                                    ft.Text(details, size=12),
                                ],
                                expand=True,
                                spacing=2,
                            ),
                            ft.Button(
                                t("leads.open_event", name=event.name),
                                on_click=lambda _e, i=event.id: on_open(i),
                            ),
                        ]
                    ),
                    padding=10,
                )
            )
        )
    return ft.ListView(
        [
            ft.Text(t("leads.events"), size=20, weight=ft.FontWeight.BOLD),
            *(tiles or [ft.Text(t("leads.no_events"))]),
            ft.Divider(),
            ft.Text(t("leads.new_event"), size=16, weight=ft.FontWeight.BOLD),
            name,
            place,
            ft.Row([first, last], wrap=True),
            ft.Row([ft.Button(t("leads.create_event"), icon=ft.Icons.STOREFRONT, on_click=create)]),
            error,
        ],
        expand=True,
        spacing=10,
        padding=12,
    )


async def _focus(field: ft.TextField) -> None:
    """Put the cursor in `field`. Asked twice: when the focused control (the button just
    pressed) leaves the screen, Flutter moves the focus after the first request."""
    for wait in (0.0, 0.4):
        await asyncio.sleep(wait)
        await field.focus()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class LeadEntry:
    """What the form hands to the app to save."""

    draft: LeadDraft
    company_id: str | None
    temperature: Temperature
    product_ids: list[str]
    next_step: str | None
    language: str
    attach_to: str | None


class LeadForm:
    """The quick lead form. `save` returns an error to show, or None once the lead is saved."""

    def __init__(
        self,
        t: Translator,
        *,
        duplicates: Callable[[LeadDraft, str | None], list[DuplicateMatch]],
        search_products: Callable[[str], list[ProductLine]],
        save: Callable[[LeadEntry], str | None],
    ) -> None:
        self.t = t
        self._duplicates = duplicates
        self._search = search_products
        self._save = save
        self.first_name = ft.TextField(label=t("leads.first_name"), dense=True)
        self.last_name = ft.TextField(label=t("leads.last_name"), dense=True)
        self.company = ft.TextField(label=t("leads.company"), dense=True)
        self.email = ft.TextField(label=t("leads.email"), dense=True, keyboard_type=ft.KeyboardType.EMAIL)
        self.phone = ft.TextField(label=t("leads.phone"), dense=True, keyboard_type=ft.KeyboardType.PHONE)
        self.company_id = ft.TextField(label=t("leads.company_id"), dense=True)
        self.title = ft.TextField(label=t("leads.title"), dense=True)
        self.picker = ProductPicker(t, search_products, label=t("leads.products"))
        self.products = self.picker.query
        self.temperature = ft.SegmentedButton(
            segments=[ft.Segment(value=str(v), label=ft.Text(t(f"leads.temperature_{v}"))) for v in _TEMPERATURES],
            selected=[str(Temperature.warm)],
        )
        self.notes = ft.TextField(
            label=t("leads.notes"), multiline=True, shift_enter=True, min_lines=2, max_lines=5, dense=True
        )
        self.next_step = ft.TextField(label=t("leads.next_step"), dense=True)
        self.consent_email = ft.Checkbox(label=t("leads.consent_email"), value=True)
        self.language = ft.SegmentedButton(
            segments=[ft.Segment(value=code, label=ft.Text(code.upper())) for code in ("fr", "en")],
            selected=["fr"],
            on_change=self._language_chosen,
        )
        self.matches = ft.Column(spacing=4)
        self.message = ft.Text("")
        self.attach_to: tuple[str, str] | None = None  # (account id, name)
        self.said_new = False
        self._language_set = False
        self._choice_buttons: list[ft.Control] = []
        self.saved = 0
        #: Called after each lead saved (the page redraws its list of the people met).
        self.on_saved: Callable[[], None] | None = None
        for field in self._fields():
            field.on_submit = self._submit
        for field in (self.company, self.email, self.phone, self.company_id):
            field.on_change = self._identity_changed

    def _fields(self) -> list[ft.TextField]:
        return [
            self.first_name,
            self.last_name,
            self.company,
            self.email,
            self.phone,
            self.company_id,
            self.title,
            self.products,
            self.notes,
            self.next_step,
        ]

    def controls(self) -> list[ft.Control]:
        # One field a line: Tab goes down the form in reading order (and a thumb finds each).
        *identity, _products, notes, next_step = self._fields()
        return [
            *identity,
            *self.picker.controls(),
            ft.Row([ft.Text(self.t("leads.temperature")), self.temperature]),
            notes,
            next_step,
            ft.Semantics(content=self.consent_email, identifier="lead-consent-email"),
            ft.Row([ft.Text(self.t("leads.language")), self.language]),
            ft.Semantics(content=self.matches, identifier="lead-matches"),
            ft.Row(
                [ft.Button(self.t("leads.save"), icon=ft.Icons.PERSON_ADD, on_click=self._submit)],
                wrap=True,
            ),
            ft.Semantics(content=self.message, identifier="lead-message"),
        ]

    async def focus_first(self) -> None:
        """The cursor in the first field, ready to type (after the page is shown; again a moment
        later, as a browser turning its accessibility on takes the focus back)."""
        for wait in (0.3, 1.2):
            await asyncio.sleep(wait)
            if not self.first_name.value:
                await self.first_name.focus()  # type: ignore[no-untyped-call]

    # What was typed ------------------------------------------------------------------------
    def draft(self) -> LeadDraft:
        def text(field: ft.TextField) -> str | None:
            return (field.value or "").strip() or None

        return LeadDraft(
            first_name=text(self.first_name),
            last_name=text(self.last_name),
            company=text(self.company),
            email=text(self.email),
            phone=text(self.phone),
            title=text(self.title),
            notes=text(self.notes),
            consent_email=bool(self.consent_email.value),
        )

    def _language_chosen(self, _e: Any) -> None:
        self._language_set = True

    def _identity_changed(self, _e: Any = None) -> None:
        draft = self.draft()
        if not self._language_set:
            self.language.selected = [guess_language(draft, self.t.language)]
        if self.attach_to is None and not self.said_new:
            self._show_matches(self._duplicates(draft, (self.company_id.value or "").strip() or None))

    def _show_matches(self, found: list[DuplicateMatch]) -> None:
        t = self.t
        self._choice_buttons = [
            ft.OutlinedButton(
                t("leads.attach", name=m.account_name),
                icon=ft.Icons.LINK,
                on_click=partial(self._attach, m.account_id, m.account_name),
            )
            for m in found
        ]
        rows: list[ft.Control] = []
        for match, button in zip(found, self._choice_buttons, strict=True):
            reasons = ", ".join(t(f"leads.reason_{r}") for r in match.reasons)
            rows.append(ft.Row([button, ft.Text(reasons, size=12)], wrap=True))
        if found:
            new = ft.TextButton(t("leads.is_new"), icon=ft.Icons.ADD_BUSINESS, on_click=self._say_new)
            self._choice_buttons.append(new)
            self.matches.controls = [ft.Text(t("leads.maybe_known"), weight=ft.FontWeight.BOLD), *rows, new]
        else:
            self.matches.controls = []

    async def _attach(self, account_id: str, name: str, _e: Any = None) -> None:
        """The person belongs to this customer; the focus goes on to the next step, Enter saves.
        (Not to the notes: Flutter web does not take a focus request for a multi-line field.)"""
        self.attach_to = (account_id, name)
        self._choice_buttons = []
        self.matches.controls = [
            ft.Row(
                [
                    ft.Icon(ft.Icons.LINK),
                    ft.Semantics(
                        content=ft.Text(self.t("leads.attached", name=name), weight=ft.FontWeight.BOLD),
                        identifier="lead-attached",
                    ),
                    ft.TextButton(self.t("leads.detach"), on_click=lambda _e: self._detach()),
                ],
                wrap=True,
            )
        ]
        self.message.value = ""
        self.matches.update()
        self.message.update()
        await _focus(self.next_step)

    async def _say_new(self, _e: Any = None) -> None:
        self.said_new = True
        self._choice_buttons = []
        self.matches.controls = [ft.Text(self.t("leads.said_new"), italic=True)]
        self.message.value = ""
        self.matches.update()
        self.message.update()
        await _focus(self.next_step)

    def _detach(self) -> None:
        self.attach_to = None
        self.said_new = False
        self._identity_changed()

    def fill(self, draft: LeadDraft) -> None:
        """Put a scanned card's fields in the form (the rep completes and saves it)."""
        for field, value in (
            (self.first_name, draft.first_name),
            (self.last_name, draft.last_name),
            (self.company, draft.company),
            (self.email, draft.email),
            (self.phone, draft.phone),
            (self.title, draft.title),
            (self.notes, draft.notes),
        ):
            field.value = value or ""
        # A card handed over is a yes; a scanner's row says yes or no itself.
        self.consent_email.value = draft.consent_email is not False
        self._identity_changed()

    # Saving ----------------------------------------------------------------------------------
    def entry(self) -> LeadEntry | str:
        """What to save, or what to fix first."""
        t = self.t
        draft = self.draft()
        company_id = (self.company_id.value or "").strip() or None
        checked = check_lead(draft, company_id=company_id)
        fields = {
            "email": self.email,
            "phone": self.phone,
            "company_id": self.company_id,
            "last_name": self.last_name,
        }
        for name, field in fields.items():
            field.error = checked.problems.get(name)
        if checked.problems:
            return t("leads.fix", problems="; ".join(checked.problems.values()))
        return LeadEntry(
            draft=draft,
            company_id=company_id,
            temperature=Temperature(self.temperature.selected[0] if self.temperature.selected else "warm"),
            product_ids=list(self.picker.chosen),
            next_step=(self.next_step.value or "").strip() or None,
            language=self.language.selected[0] if self.language.selected else self.t.language,
            attach_to=self.attach_to[0] if self.attach_to else None,
        )

    async def _submit(self, e: Any) -> None:
        # Enter in the products' search adds the first product found instead of saving.
        if e is not None and e.control is self.products and (self.products.value or "").strip():
            found = [p for p in self._search((self.products.value or "").strip()) if p.id not in self.picker.chosen]
            if found:
                self.picker.add(found[0].id, found[0].name)
            e.page.update()
            return
        if self._choice_buttons and self.attach_to is None and not self.said_new:
            # A known customer, maybe: the rep decides first (the focus goes to the choice).
            self.message.value = self.t("leads.decide")
            self.message.update()
            await self._choice_buttons[0].focus()  # type: ignore[attr-defined]
            return
        entry = self.entry()
        saved = False
        if isinstance(entry, str):
            self.message.value = entry
        else:
            problem = self._save(entry)
            if problem:
                self.message.value = problem
            else:
                saved = True
                self.saved += 1
                who = " ".join(p for p in (entry.draft.first_name, entry.draft.last_name) if p)
                self.message.value = self.t("leads.saved", name=who or entry.draft.email or "")
                self.clear()
                if self.on_saved is not None:
                    self.on_saved()
        e.page.update()
        if saved:
            await self.first_name.focus()  # type: ignore[no-untyped-call]

    def clear(self) -> None:
        for field in self._fields():
            field.value = ""
            field.error = None
        self.temperature.selected = [str(Temperature.warm)]
        self.consent_email.value = True  # each person says it for themselves
        self.language.selected = [self.t.language]
        self._language_set = False
        self.picker.clear()
        self.attach_to = None
        self.said_new = False
        self._choice_buttons = []
        self.matches.controls = []


class BadgeImporter:
    """A badge scanner's CSV export: pick the file, map its columns once for the event (the
    mapping is remembered), import; then what was saved, attached, and what to review."""

    def __init__(
        self,
        t: Translator,
        *,
        pick: Callable[[], Awaitable[bytes | None]],
        columns: Callable[[bytes], tuple[list[str], dict[str, str], list[tuple[int, str]]]],
        run: Callable[[bytes, dict[str, str]], tuple[BadgeReport, list[tuple[int, str]]]],
        fill: Callable[[LeadDraft], None],
    ) -> None:
        self.t, self._pick, self._columns, self._run, self._fill = t, pick, columns, run, fill
        self.data: bytes | None = None
        self.selectors: dict[str, ft.Dropdown] = {}
        self.mapping_rows = ft.Column(spacing=4)
        self.result = ft.Column(spacing=4)
        self.import_button = ft.Button(t("leads.badges_import"), icon=ft.Icons.UPLOAD_FILE, on_click=self._import)
        self.import_button.visible = False
        #: Called after an import saved someone (the page redraws its list of the people met).
        self.on_imported: Callable[[], None] | None = None

    def control(self) -> ft.Control:
        return ft.ExpansionTile(
            title=ft.Text(self.t("leads.badges")),
            controls=[
                # Import next to the file's choice: a long mapping never pushes it off the screen.
                ft.Row(
                    [
                        ft.OutlinedButton(self.t("leads.badges_pick"), icon=ft.Icons.FOLDER_OPEN, on_click=self.choose),
                        self.import_button,
                    ],
                    wrap=True,
                ),
                self.result,
                self.mapping_rows,
            ],
        )

    def show_columns(self, data: bytes) -> None:
        """The file's columns, each with the lead field it goes to."""
        t = self.t
        self.data = data
        columns, mapping, problems = self._columns(data)
        self.selectors = {
            column: ft.Dropdown(
                label=column,
                value=mapping.get(column, ""),
                options=[ft.DropdownOption(key="", text="—")]
                + [ft.DropdownOption(key=f, text=t(f"leads.field_{f}")) for f in LEAD_FIELDS],
                dense=True,
                width=320,
            )
            for column in columns
        }
        self.mapping_rows.controls = [
            ft.Text(t("leads.badges_map"), weight=ft.FontWeight.BOLD),
            *self.selectors.values(),
        ]
        self.result.controls = [ft.Text(t("leads.badges_bad_row", line=line, reason=why)) for line, why in problems]
        self.import_button.visible = bool(columns)

    async def choose(self, e: Any) -> None:
        data = await self._pick()
        if data is not None:
            self.show_columns(data)
        e.page.update()

    def mapping(self) -> dict[str, str]:
        return {column: d.value for column, d in self.selectors.items() if d.value}

    def _import(self, _e: Any) -> None:
        if self.data is None:
            return
        t = self.t
        report, bad_rows = self._run(self.data, self.mapping())
        done = t("leads.badges_done", saved=report.saved, attached=report.attached, review=len(report.review))
        lines: list[ft.Control] = [ft.Semantics(content=ft.Text(done), identifier="badge-summary")]
        for draft, why in report.review:
            who = " ".join(p for p in (draft.first_name, draft.last_name, draft.company) if p) or draft.email or ""
            lines.append(
                ft.Row(
                    [
                        ft.Text(f"{who} : {why}", expand=True),
                        # A badge scanned gives no consent unless the file's opt-in column said yes.
                        ft.TextButton(
                            t("leads.badges_fill"),
                            on_click=lambda _e, d=draft: self._fill(replace(d, consent_email=d.consent_email is True)),
                        ),
                    ]
                )
            )
        lines += [ft.Text(t("leads.badges_bad_row", line=line, reason=why)) for line, why in bad_rows]
        self.result.controls = lines
        if report.saved or report.attached:
            if self.on_imported is not None:
                self.on_imported()
            self.data = None
            self.import_button.visible = False
            self.mapping_rows.controls = []


def event_page(
    t: Translator,
    event: Campaign,
    leads: Callable[[], Sequence[LeadLine]],
    form: LeadForm,
    *,
    on_change_event: Callable[[], None],
    on_follow_up: Callable[[], None],
    on_open_lead: Callable[[str], None],
    badges: BadgeImporter | None = None,
) -> ft.Control:
    """The event open on arrival: the quick form, then the people met here, the latest first.
    `leads` reads them again after each lead saved."""
    header = " · ".join(p for p in (event.place, _dates(t, event.starts_on, event.ends_on)) if p)
    listed = ft.Column(spacing=0)
    count = ft.Text("", weight=ft.FontWeight.BOLD)

    def draw() -> None:
        met = leads()
        count.value = t("leads.met", count=len(met))
        listed.controls = [
            ft.ListTile(
                title=ft.Text(" · ".join(p for p in (lead.name, lead.company) if p)),
                subtitle=ft.Text(t(f"leads.temperature_{lead.temperature}") if lead.temperature else ""),
                on_click=lambda _e, a=lead.account_id: on_open_lead(a),
                dense=True,
            )
            for lead in met
        ]

    draw()
    form.on_saved = draw
    if badges is not None:
        badges.on_imported = draw
    scan = ft.TextField(label=t("leads.scan"), multiline=True, min_lines=1, max_lines=4, dense=True)
    scan_error = ft.Text("", color=ft.Colors.ERROR)

    def read_scan(_e: Any) -> None:
        try:
            drafts = parse_scanned(scan.value or "")
        except ValueError as exc:
            scan_error.value = t("leads.scan_bad", reason=str(exc))
            return
        if not drafts:
            scan_error.value = t("leads.scan_bad", reason="0")
            return
        form.fill(drafts[0])
        scan.value = ""
        scan_error.value = ""

    return ft.ListView(
        [
            ft.Row(
                [
                    ft.Column(
                        [
                            ft.Text(event.name, size=20, weight=ft.FontWeight.BOLD),
                            ft.Text(header, size=12),
                        ],
                        expand=True,
                        spacing=2,
                    ),
                    ft.TextButton(t("leads.follow_up"), icon=ft.Icons.MAIL_OUTLINE, on_click=lambda _e: on_follow_up()),
                    ft.TextButton(
                        t("leads.change_event"), icon=ft.Icons.SWAP_HORIZ, on_click=lambda _e: on_change_event()
                    ),
                ],
            ),
            *form.controls(),
            ft.Divider(),
            ft.ExpansionTile(
                title=ft.Text(t("leads.scan_title")),
                controls=[scan, ft.Row([ft.OutlinedButton(t("leads.scan_fill"), on_click=read_scan)]), scan_error],
            ),
            *([badges.control()] if badges is not None else []),
            ft.Semantics(content=count, identifier="lead-count"),
            listed,
        ],
        expand=True,
        spacing=8,
        padding=12,
    )
