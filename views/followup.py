"""Follow-up e-mails after an event on the screen: one card per lead with the drafted e-mail (in
the lead's language) to read and change, a box to leave it out, and one button that queues the
ticked ones. They leave when the network is back, through the server's SMTP settings. People
who have not agreed to e-mails are listed apart, with the reason, and nothing can be sent to them.

The drafts come from `app.followup`; `send` is the app's (it queues through the device and
returns what went wrong, or None).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import flet as ft

from app.followup import Draft
from app.i18n import Translator

__all__ = ["FollowupCard", "FollowupForm", "followup_page", "held_back_line"]


class FollowupCard:
    """One draft: who it goes to, its subject and text as the rep edits them, and whether to send it."""

    def __init__(self, t: Translator, draft: Draft) -> None:
        self.t, self.draft = t, draft
        name = draft.contact_name or draft.account_name
        self.include = ft.Checkbox(label=t("followup.include", name=name), value=True)
        self.subject = ft.TextField(label=t("followup.subject"), value=draft.subject, max_length=200)
        self.body = ft.TextField(label=t("followup.body"), value=draft.body, multiline=True, min_lines=6, max_lines=20)
        self.state = ft.Text("", size=12, color=ft.Colors.PRIMARY)
        recipient = t("followup.to", name=name, address=draft.to_address, account=draft.account_name)
        language = t(f"followup.language_{draft.language}") if draft.language in ("fr", "en") else draft.language
        self.control = ft.Card(
            content=ft.Container(
                ft.Column(
                    [
                        ft.Semantics(
                            content=ft.Text(f"{recipient} · {language}", weight=ft.FontWeight.BOLD),
                            identifier=f"followup-{draft.contact_id or draft.account_id}",
                        ),
                        self.include,
                        self.subject,
                        self.body,
                        self.state,
                    ],
                    spacing=6,
                ),
                padding=10,
            )
        )

    @property
    def ticked(self) -> bool:
        return bool(self.include.value) and not self.include.disabled

    def edited(self) -> Draft:
        return replace(self.draft, subject=self.subject.value or "", body=self.body.value or "")

    def mark_queued(self) -> None:
        """Queued: nothing more to change here, and it cannot be sent twice from this page."""
        self.include.value = False
        for control in (self.include, self.subject, self.body):
            control.disabled = True
        self.state.value = self.t("followup.queued_one")


def held_back_line(t: Translator, draft: Draft) -> ft.Control:
    """Someone the rep cannot write to, and why (no e-mail consent): no box to tick, no text."""
    name = draft.contact_name or draft.account_name
    reason = t(f"followup.held_{draft.held_back}")
    return ft.Semantics(
        content=ft.Row(
            [
                ft.Icon(ft.Icons.BLOCK, color=ft.Colors.ERROR, size=18),
                ft.Text(
                    t("followup.held", name=name, address=draft.to_address, account=draft.account_name, reason=reason),
                    expand=True,
                ),
            ]
        ),
        identifier=f"followup-held-{draft.contact_id or draft.account_id}",
    )


class FollowupForm:
    def __init__(self, t: Translator, drafts: list[Draft], send: Callable[[list[Draft]], str | None]) -> None:
        self.t, self._send = t, send
        self.cards = [FollowupCard(t, draft) for draft in drafts if not draft.held_back]
        #: The people who cannot be written to (no e-mail consent), shown apart with the reason.
        self.held = [draft for draft in drafts if draft.held_back]
        self.message = ft.Text("")
        self.button = ft.Button(t("followup.send"), icon=ft.Icons.SEND, on_click=lambda _e: self.send())

    def send(self) -> None:
        """Queue the ticked e-mails as edited; say how many, or what went wrong (nothing is queued then)."""
        chosen = [card for card in self.cards if card.ticked]
        if not chosen:
            self.message.value, self.message.color = self.t("followup.none_ticked"), ft.Colors.ERROR
            return
        error = self._send([card.edited() for card in chosen])
        if error:
            self.message.value, self.message.color = error, ft.Colors.ERROR
            return
        for card in chosen:
            card.mark_queued()
        self.message.value, self.message.color = self.t("followup.queued", count=len(chosen)), None
        self.button.disabled = all(card.include.disabled for card in self.cards)

    def controls(self) -> list[ft.Control]:
        held: list[ft.Control] = []
        if self.held:
            held = [
                ft.Text(self.t("followup.held_title"), weight=ft.FontWeight.BOLD),
                *(held_back_line(self.t, draft) for draft in self.held),
            ]
        if not self.cards:
            return [ft.Text(self.t("followup.nothing")), *held]
        # Send and its answer first: with a segment of fifty, nobody scrolls to the end to send.
        return [
            ft.Text(self.t("followup.help")),
            ft.Row([self.button]),
            ft.Semantics(content=self.message, identifier="followup-message"),
            *(card.control for card in self.cards),
            *held,
        ]


def followup_page(
    t: Translator, drafts: list[Draft], send: Callable[[list[Draft]], str | None], back: Callable[[], None]
) -> ft.Control:
    """The drafts to review and send; `send(drafts)` returns an error message, or None once queued."""
    form = FollowupForm(t, drafts, send)

    def go_back(_e: Any) -> None:
        back()

    page = ft.ListView(
        [
            ft.Row([ft.TextButton(t("card.back"), icon=ft.Icons.ARROW_BACK, on_click=go_back)]),
            ft.Text(t("followup.title"), size=20, weight=ft.FontWeight.BOLD),
            *form.controls(),
        ],
        expand=True,
        spacing=10,
        padding=12,
    )
    page.data = form  # the app (and a test) can reach the form behind the page
    return page
