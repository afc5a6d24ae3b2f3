"""The dashboard: the figures of the book on this device over a period (a rep's accounts, a
manager's team's), against the targets, with the revenue by month as a chart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import flet as ft

from app.i18n import Translator
from views.charts import monthly_bars

__all__ = ["dashboard_view"]


def _tile(label: str, value: str, identifier: str, note: str = "") -> ft.Control:
    return ft.Card(
        content=ft.Container(
            ft.Column(
                [
                    ft.Text(label, size=12),
                    ft.Semantics(content=ft.Text(value, size=18, weight=ft.FontWeight.BOLD), identifier=identifier),
                    *(
                        [ft.Semantics(content=ft.Text(note, size=12), identifier=f"{identifier}-target")]
                        if note
                        else []
                    ),
                ],
                spacing=2,
            ),
            padding=12,
            width=150,  # two side by side on a phone
        )
    )


def _number(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def dashboard_view(
    figures: dict[str, Any] | None,
    t: Translator,
    *,
    start: date,
    end: date,
    title: str,
    error: str | None,
    on_period: Callable[[str, str], None],
) -> ft.Control:
    """`figures` as `Device.figures` gives them; `on_period(from, to)` asks for another period."""
    first = ft.TextField(label=t("dash.from"), value=start.isoformat(), width=170, dense=True)
    last = ft.TextField(label=t("dash.to"), value=end.isoformat(), width=170, dense=True)

    def apply(_e: Any) -> None:
        on_period(first.value or "", last.value or "")

    first.on_submit = last.on_submit = apply
    controls: list[ft.Control] = [
        ft.Semantics(content=ft.Text(title, size=24, weight=ft.FontWeight.BOLD), identifier="dashboard-title"),
        ft.Row([first, last, ft.Button(t("dash.apply"), icon=ft.Icons.REFRESH, on_click=apply)], wrap=True),
    ]
    if error:
        controls.append(ft.Text(error, color=ft.Colors.ERROR))
    if figures is None:
        return ft.ListView(controls, expand=True, spacing=12, padding=12)
    currency = figures["currency"]
    revenue_target = figures.get("revenue_target_amount")
    order_target = figures.get("order_target")
    tiles = [
        _tile(
            t("dash.revenue"),
            t.money(figures["revenue_net_amount"], currency),
            "dash-revenue",
            f"{t('dash.target')} {t.money(revenue_target, currency)} · {t.percent(figures['revenue_vs_target'])}"
            if revenue_target
            else "",
        ),
        _tile(
            t("dash.orders"),
            t.number(figures["orders"]),
            "dash-orders",
            f"{t('dash.target')} {t.number(order_target)} · {t.percent(figures['orders_vs_target'])}"
            if order_target
            else "",
        ),
        _tile(
            t("dash.active"),
            t("dash.active_value", start=figures["active_at_start"], end=figures["active_at_end"]),
            "dash-active",
        ),
        _tile(t("dash.churn"), t.percent(figures["churn_rate"]), "dash-churn"),
        _tile(t("dash.acquisition"), t.percent(figures["acquisition_rate"]), "dash-acquisition"),
        _tile(t("dash.close_rate"), t.percent(figures["close_rate"]), "dash-close-rate"),
        _tile(t("dash.cycle"), _number(figures["sales_cycle_days"]), "dash-cycle"),
        _tile(t("dash.account_cycle"), _number(figures.get("account_cycle_days")), "dash-account-cycle"),
        _tile(t("dash.nps"), _number(figures["nps"]), "dash-nps"),
        _tile(t("dash.ces"), _number(figures["ces"], 1), "dash-ces"),
        _tile(t("dash.fcr"), t.percent(figures["first_contact_resolution"]), "dash-fcr"),
    ]
    segments = figures.get("rfm_segments") or {}
    controls += [
        ft.Row(tiles, wrap=True, vertical_alignment=ft.CrossAxisAlignment.START),
        ft.Text(t("dash.monthly"), size=16, weight=ft.FontWeight.BOLD),
        monthly_bars(
            t,
            [(date.fromisoformat(m["month"] + "-01"), m["net_amount"]) for m in figures["revenue_by_month"]],
            currency,
            "dash-chart",
            220,
        ),
        ft.Text(t("dash.segments"), size=16, weight=ft.FontWeight.BOLD),
        ft.Row(
            [
                ft.Container(
                    ft.Text(t("dash.segment_count", segment=t("segment." + name), count=count)),
                    padding=ft.Padding.symmetric(horizontal=12, vertical=6),
                    border=ft.Border.all(1, ft.Colors.OUTLINE),
                    border_radius=8,
                )
                for name, count in segments.items()
            ],
            wrap=True,
        ),
    ]
    return ft.ListView(controls, expand=True, spacing=12, padding=12)
