"""The day's route on a map (flet-map): the start, the stops numbered in driving order, and the
line that joins them. Shown only once the tiles are known to answer (`app.tiles`)."""

from __future__ import annotations

import flet as ft
import flet_map as fm

from app.agenda import DayRoute
from app.i18n import Translator

__all__ = ["MAP_HEIGHT", "route_map"]

MAP_HEIGHT = 300


def _pin(label: ft.Control, identifier: str, color: str) -> ft.Control:
    return ft.Semantics(
        content=ft.Container(
            label,
            bgcolor=color,
            border_radius=14,
            alignment=ft.Alignment.CENTER,
        ),
        identifier=identifier,
    )


def route_map(
    t: Translator,
    route: DayRoute,
    start: tuple[float, float] | None,
    tile_url: str,
    end: tuple[float, float] | None = None,
) -> ft.Control:
    """The stops of `route` (in its order) from `start` (None: no start known) to `end` (None:
    back to the start) over the tiles of `tile_url`; the camera fits them all."""
    points = [(v.lat, v.lon) for v in route.stops if v.lat is not None and v.lon is not None]
    line = [start, *points, end or start] if start is not None else points
    markers = [
        fm.Marker(
            content=_pin(
                ft.Text(str(n), color=ft.Colors.WHITE, weight=ft.FontWeight.BOLD, size=12),
                f"map-stop-{v.id}",
                ft.Colors.TEAL_700,
            ),
            coordinates=fm.MapLatitudeLongitude(lat, lon),
        )
        for n, (v, (lat, lon)) in enumerate(zip(route.stops, points, strict=False), start=1)
    ]
    if start is not None and end is not None:
        markers.insert(
            0,
            fm.Marker(
                content=_pin(
                    ft.Icon(ft.Icons.HOME, color=ft.Colors.WHITE, size=16), "map-end", ft.Colors.BLUE_GREY_700
                ),
                coordinates=fm.MapLatitudeLongitude(*end),
            ),
        )
    if start is not None:
        markers.insert(
            0,
            fm.Marker(
                content=_pin(
                    ft.Icon(ft.Icons.HOME, color=ft.Colors.WHITE, size=16), "map-start", ft.Colors.BLUE_GREY_700
                ),
                coordinates=fm.MapLatitudeLongitude(*start),
            ),
        )
    coordinates = [fm.MapLatitudeLongitude(lat, lon) for lat, lon in line if lat is not None and lon is not None]
    return ft.Semantics(
        label=t("today.map"),
        identifier="route-map",
        content=ft.Container(
            fm.Map(
                layers=[
                    fm.TileLayer(url_template=tile_url, user_agent_package_name="app.terrain.crm"),
                    fm.PolylineLayer(
                        polylines=[fm.PolylineMarker(coordinates=coordinates, color=ft.Colors.TEAL_400, stroke_width=4)]
                    ),
                    fm.MarkerLayer(markers=markers),
                ],
                initial_center=coordinates[0] if coordinates else fm.MapLatitudeLongitude(46.6, 2.4),
                initial_camera_fit=fm.CameraFit(coordinates=coordinates, padding=ft.Padding.all(36))
                if len(coordinates) > 1
                else None,
            ),
            height=MAP_HEIGHT,
            border_radius=8,
            clip_behavior=ft.ClipBehavior.HARD_EDGE,
        ),
    )
