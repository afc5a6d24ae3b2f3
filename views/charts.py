"""Revenue charts (flet-charts), shared by the customer card and the dashboard."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import flet as ft
import flet_charts as fch

from app.i18n import Translator

__all__ = ["monthly_bars"]


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten at or above `value`: a round axis top."""
    if value <= 0:
        return 1
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def monthly_bars(
    t: Translator, months: Sequence[tuple[date, int]], currency: str, identifier: str, height: int = 180
) -> ft.Control:
    """One bar per month (its first day, net amount in minor units); every third month is labelled.

    The chart carries a text summary for screen readers (and browser tests): first and last
    month, and the best one."""
    values = [amount for _month, amount in months]
    top = max(values, default=0)
    groups = [
        fch.BarChartGroup(
            x=index,
            rods=[
                fch.BarChartRod(
                    to_y=amount / 100,
                    width=8,
                    color=ft.Colors.TEAL,
                    border_radius=2,
                    tooltip=f"{t.month(month)} · {t.money(amount, currency)}",
                )
            ],
        )
        for index, (month, amount) in enumerate(months)
    ]
    labels = [
        fch.ChartAxisLabel(value=index, label=ft.Text(t.month(month), size=10))
        for index, (month, _amount) in enumerate(months)
        if (len(months) - 1 - index) % 3 == 0  # this month, and every third one back
    ]
    chart = fch.BarChart(
        groups=groups,
        bottom_axis=fch.ChartAxis(labels=labels, label_size=24),
        left_axis=fch.ChartAxis(label_size=48),
        max_y=_nice_ceiling(top / 100),
        interactive=True,
        height=height,
        expand=True,
    )
    best = max(months, key=lambda m: m[1]) if months else None
    summary = (
        f"{months[0][0]:%Y-%m} – {months[-1][0]:%Y-%m} · max {best[0]:%Y-%m} {t.money(best[1], currency)}"
        if months and best is not None
        else ""
    )
    return ft.Semantics(content=ft.Container(chart, height=height), identifier=identifier, label=summary)
