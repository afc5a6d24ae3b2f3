"""The pipeline boards: accounts by lifecycle stage, or opportunities by stage, as columns that
scroll sideways. Each card moves with its stage menu (a finger or the keyboard) and opens its
customer's card when tapped; losing asks why (required) and to which competitor (optional).

Only draws what `app.pipeline` read (through the device) and hands the rep's moves to callbacks;
`LostForm` reads and checks the dialog so that a plain test can drive it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flet as ft

from app.i18n import Translator
from app.pipeline import (
    ACCOUNT_STAGES,
    OPPORTUNITY_STAGES,
    AccountCard,
    AccountColumn,
    OpportunityCard,
    OpportunityColumn,
)

__all__ = ["MODES", "LostForm", "lost_dialog", "pipeline_view", "stage_name"]

#: The two boards, as the route names them: /pipeline (accounts), /pipeline/opportunities.
MODES = ("accounts", "opportunities")
COLUMN_WIDTH = 280

#: `on_move(kind, record_id, stage, lost_reason, competitor)`: None once moved, else what is wrong.
MoveHandler = Callable[[str, str, str, str | None, str | None], str | None]


def stage_name(t: Translator, kind: str, stage: str) -> str:
    """A stage as a column's title: an account's (`stage.*`) or an opportunity's (`code.*`)."""
    return t(f"stage.{stage}") if kind == "account" else t.code(stage).capitalize()


class LostForm:
    """Why it was lost (required) and to whom (optional)."""

    def __init__(self, t: Translator) -> None:
        self.t = t
        self.reason = ft.TextField(label=t("pipeline.lost_reason"), multiline=True, min_lines=1, max_lines=4)
        self.competitor = ft.TextField(label=t("pipeline.competitor"))
        self.error = ft.Text("", color=ft.Colors.ERROR)

    def read(self) -> tuple[str, str | None]:
        """The reason and the competitor; ValueError with what to fix when there is no reason."""
        reason = (self.reason.value or "").strip()
        if not reason:
            raise ValueError(self.t("pipeline.reason_needed"))
        return reason, (self.competitor.value or "").strip() or None


def lost_dialog(
    t: Translator, name: str, form: LostForm, on_save: Callable[[], None], on_cancel: Callable[[], object]
) -> ft.AlertDialog:
    return ft.AlertDialog(
        modal=True,
        title=ft.Text(t("pipeline.lost_title", name=name)),
        content=ft.Column([form.reason, form.competitor, form.error], tight=True, width=360),
        actions=[
            ft.TextButton(t("pipeline.cancel"), on_click=lambda _e: on_cancel()),
            ft.Button(t("pipeline.save"), icon=ft.Icons.SAVE, on_click=lambda _e: on_save()),
        ],
    )


def _stage_menu(
    t: Translator,
    kind: str,
    record_id: str,
    name: str,
    current: str,
    stages: Sequence[str],
    choose: Callable[[str, str, str, str], None],
    label: str | None = None,
) -> ft.Control:
    """The stages a card can go to; `label` tells the card apart from others of the same name.
    In a container of its own, the button's tooltip names it for a screen reader."""
    return ft.Semantics(
        content=ft.PopupMenuButton(
            icon=ft.Icons.DRIVE_FILE_MOVE_OUTLINE,
            tooltip=t("pipeline.move", name=label or name),
            items=[
                ft.PopupMenuItem(
                    content=stage_name(t, kind, stage),
                    on_click=lambda _e, stage=stage: choose(kind, record_id, name, stage),
                )
                for stage in stages
                if stage != current
            ],
        ),
        container=True,
        identifier=f"move-{record_id}",
    )


def _card(identifier: str, lines: list[ft.Control], on_click: Callable[[], None], menu: ft.Control) -> ft.Control:
    """A card: tapped, it opens the customer; its menu button (a sibling, so that a screen reader
    and a test tell them apart) moves it."""
    return ft.Card(
        content=ft.Row(
            [
                ft.Semantics(
                    content=ft.Container(
                        ft.Column(lines, spacing=2, tight=True),
                        padding=ft.Padding.only(left=12, top=8, bottom=8),
                        on_click=lambda _e: on_click(),
                        expand=True,
                    ),
                    identifier=identifier,
                    button=True,
                    expand=True,
                ),
                menu,
            ],
            vertical_alignment=ft.CrossAxisAlignment.CENTER,
        ),
        margin=0,
    )


def _account_card(t: Translator, card: AccountCard, on_open: Callable[[str], None], menu: ft.Control) -> ft.Control:
    lines: list[ft.Control] = [
        ft.Text(card.name, weight=ft.FontWeight.BOLD),
        ft.Text(" · ".join(p for p in (card.town, t("pipeline.days", days=card.days_in_stage)) if p), size=12),
    ]
    return _card(f"pipeline-account-{card.id}", lines, lambda: on_open(card.id), menu)


def _opportunity_card(
    t: Translator, card: OpportunityCard, on_open: Callable[[str], None], menu: ft.Control
) -> ft.Control:
    facts = [t.money(card.amount, card.currency), t("pipeline.probability", pct=card.probability_pct)]
    if card.expected_close is not None and card.stage not in ("won", "lost"):
        facts.append(t("pipeline.closes", day=t.day(card.expected_close)))
    lines: list[ft.Control] = [
        ft.Text(card.name, weight=ft.FontWeight.BOLD),
        ft.Text(card.account_name),
        ft.Text(" · ".join(facts), size=12),
    ]
    if card.stage == "lost" and card.lost_reason:
        lost = t("pipeline.lost_to", reason=card.lost_reason, competitor=card.competitor) if card.competitor else None
        lines.append(ft.Text(lost or card.lost_reason, size=12, italic=True))
    return _card(f"pipeline-opportunity-{card.id}", lines, lambda: on_open(card.account_id), menu)


def _column(title: str, note: str | None, cards: list[ft.Control], more: int, t: Translator, key: str) -> ft.Control:
    header: list[ft.Control] = [
        ft.Semantics(content=ft.Text(title, size=16, weight=ft.FontWeight.BOLD), identifier=f"column-{key}")
    ]
    if note:
        header.append(ft.Semantics(content=ft.Text(note, size=12), identifier=f"column-{key}-total"))
    body = cards or [ft.Text(t("pipeline.empty"), italic=True)]
    if more:
        body.append(ft.Text(t("pipeline.more", count=t.number(more)), italic=True))
    return ft.Container(
        ft.Column([*header, *body], spacing=6, scroll=ft.ScrollMode.AUTO),
        width=COLUMN_WIDTH,
        padding=8,
        border_radius=12,
        bgcolor=ft.Colors.SURFACE_CONTAINER_HIGHEST,
    )


def pipeline_view(
    t: Translator,
    *,
    mode: str,
    load_accounts: Callable[[], list[AccountColumn]],
    load_opportunities: Callable[[], list[OpportunityColumn]],
    on_mode: Callable[[str], None],
    on_open: Callable[[str], None],
    on_move: MoveHandler,
    show_dialog: Callable[[ft.AlertDialog], None],
    close_dialog: Callable[[], object],
) -> ft.Control:
    """The board of `mode` ("accounts" or "opportunities"), read with its loader and read again
    after each move (the board redraws itself: a page redrawn under an open dialog would leave
    the dialog stuck on the screen); `on_open(account_id)` opens a customer's card."""
    problem = ft.Text("", color=ft.Colors.ERROR, visible=False)
    holder = ft.Container(expand=True)

    def moved(kind: str, record_id: str, stage: str, reason: str | None, competitor: str | None) -> None:
        problem.value = on_move(kind, record_id, stage, reason, competitor) or ""
        problem.visible = bool(problem.value)
        if not problem.value:
            draw()

    def choose(kind: str, record_id: str, name: str, stage: str) -> None:
        if stage != "lost":
            moved(kind, record_id, stage, None, None)
            return
        form = LostForm(t)

        def save() -> None:
            try:
                reason, competitor = form.read()
            except ValueError as exc:
                form.error.value = str(exc)
                return
            close_dialog()
            moved(kind, record_id, stage, reason, competitor)

        show_dialog(lost_dialog(t, name, form, save, close_dialog))

    def draw() -> None:
        columns = (
            _opportunity_columns(t, load_opportunities(), on_open, choose)
            if mode == "opportunities"
            else _account_columns(t, load_accounts(), on_open, choose)
        )
        holder.content = ft.Row(
            columns, spacing=8, scroll=ft.ScrollMode.AUTO, vertical_alignment=ft.CrossAxisAlignment.START
        )

    toggle = ft.SegmentedButton(
        segments=[ft.Segment(value=m, label=t(f"pipeline.{m}")) for m in MODES],
        selected=[mode],
        on_change=lambda e: on_mode(_first(e.control.selected, mode)),
    )
    draw()
    return ft.Column(
        [
            ft.Row(
                [
                    ft.Semantics(
                        content=ft.Text(t("pipeline.title"), size=24, weight=ft.FontWeight.BOLD),
                        identifier="pipeline-title",
                    ),
                    toggle,
                ],
                wrap=True,
            ),
            problem,
            holder,
        ],
        expand=True,
    )


Choose = Callable[[str, str, str, str], None]


def _opportunity_columns(
    t: Translator, board: list[OpportunityColumn], on_open: Callable[[str], None], choose: Choose
) -> list[ft.Control]:
    columns: list[ft.Control] = []
    for column in board:
        totals = " + ".join(t.money(amount, currency) for currency, amount in column.totals.items())
        cards = [
            _opportunity_card(
                t,
                card,
                on_open,
                _stage_menu(
                    t,
                    "opportunity",
                    card.id,
                    card.name,
                    card.stage,
                    OPPORTUNITY_STAGES,
                    choose,
                    label=t("pipeline.deal_of", name=card.name, account=card.account_name),
                ),
            )
            for card in column.cards
        ]
        title = t("pipeline.count", stage=stage_name(t, "opportunity", column.stage), count=column.count)
        columns.append(_column(title, totals or None, cards, column.more, t, column.stage))
    return columns


def _account_columns(
    t: Translator, board: list[AccountColumn], on_open: Callable[[str], None], choose: Choose
) -> list[ft.Control]:
    columns: list[ft.Control] = []
    for column in board:
        cards = [
            _account_card(
                t, card, on_open, _stage_menu(t, "account", card.id, card.name, card.stage, ACCOUNT_STAGES, choose)
            )
            for card in column.cards
        ]
        title = t("pipeline.count", stage=stage_name(t, "account", column.stage), count=column.count)
        columns.append(_column(title, None, cards, column.more, t, column.stage))
    return columns


def _first(selected: Any, default: str) -> str:
    return str(selected[0]) if selected else default
