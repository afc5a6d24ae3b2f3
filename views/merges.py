"""Two accounts that look like one company, as the server found them when reps' leads reached
it: a manager merges them (keeping either) or says they are two customers. Online only: the
decision is the server's, and devices get it at their next sync."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flet as ft

from app.i18n import Translator

__all__ = ["merges_view"]


def _side(t: Translator, side: dict[str, Any]) -> ft.Control:
    details = " · ".join(
        p
        for p in (
            t(f"stage.{side['lifecycle_stage']}"),
            side.get("owner"),
            t("merges.counts", contacts=side["contacts"], activities=side["activities"]),
        )
        if p
    )
    return ft.Column([ft.Text(side["name"], weight=ft.FontWeight.BOLD), ft.Text(details, size=12)], spacing=2)


def merges_view(
    t: Translator,
    proposals: list[dict[str, Any]] | str,
    decide: Callable[[str, str, str | None], str | None],
    on_back: Callable[[], None],
) -> ft.Control:
    """`proposals`: the server's list, or why it could not be read. `decide(id, action, keep)`
    returns an error to show, or None once decided (the page is then drawn again)."""
    error = ft.Text("", color=ft.Colors.ERROR)
    rows: list[ft.Control] = [
        ft.Row([ft.TextButton(t("card.back"), icon=ft.Icons.ARROW_BACK, on_click=lambda _e: on_back())]),
        ft.Text(t("merges.title"), size=20, weight=ft.FontWeight.BOLD),
        ft.Semantics(content=error, identifier="merges-error"),
    ]
    if isinstance(proposals, str):
        return ft.ListView([*rows, ft.Text(t("merges.offline", reason=proposals))], expand=True, padding=12)
    if not proposals:
        rows.append(ft.Text(t("merges.none")))

    def act(proposal_id: str, action: str, keep: str | None) -> None:
        error.value = decide(proposal_id, action, keep) or ""

    for proposal in proposals:
        kept, other = proposal["account"], proposal["duplicate"]
        if other is None:
            continue
        reasons = ", ".join(t(f"leads.reason_{r}") for r in proposal["reasons"])
        rows.append(
            ft.Card(
                ft.Container(
                    ft.Column(
                        [
                            ft.Text(t("merges.why", reasons=reasons), italic=True),
                            ft.Row([_side(t, kept), ft.Icon(ft.Icons.COMPARE_ARROWS), _side(t, other)], wrap=True),
                            ft.Row(
                                [
                                    ft.Button(
                                        t("merges.keep", name=kept["name"]),
                                        icon=ft.Icons.MERGE,
                                        on_click=lambda _e, p=proposal: act(p["id"], "merge", p["account"]["id"]),
                                    ),
                                    ft.OutlinedButton(
                                        t("merges.keep", name=other["name"]),
                                        on_click=lambda _e, p=proposal: act(p["id"], "merge", p["duplicate"]["id"]),
                                    ),
                                    ft.TextButton(
                                        t("merges.dismiss"),
                                        on_click=lambda _e, p=proposal: act(p["id"], "dismiss", None),
                                    ),
                                ],
                                wrap=True,
                            ),
                        ],
                        spacing=6,
                    ),
                    padding=10,
                )
            )
        )
    return ft.ListView(rows, expand=True, spacing=10, padding=12)
