"""Whether the map's tiles can be had: the route shows on a map only when a tile answers, and
as a plain list (with no error) when the network or the tile server is not there.

The answer is kept for a while (`TileCheck`): a rep flicking between days asks once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx

__all__ = ["TILE_CHECK_SECONDS", "USER_AGENT", "TileCheck", "tile_answers"]

#: How long an answer (yes or no) is trusted before asking the tile server again.
TILE_CHECK_SECONDS = 300.0
#: Tile servers ask for an identifying User-Agent (OpenStreetMap's tile usage policy).
USER_AGENT = "Terrain field-sales CRM (https://github.com/terrain-crm)"


def tile_answers(url_template: str, timeout: float = 3.0) -> bool:
    """True when the template's first tile (zoom 0) comes back as an image in time."""
    if not url_template.strip():
        return False
    try:
        url = url_template.replace("{s}", "a").format(z=0, x=0, y=0, r="")
    except (KeyError, IndexError, ValueError):
        return False  # not a {z}/{x}/{y} template
    try:
        answer = httpx.get(url, timeout=timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=True)
    except (httpx.HTTPError, ValueError):
        return False
    return answer.status_code == 200 and answer.headers.get("content-type", "").startswith("image/")


@dataclass
class TileCheck:
    """`tile_answers`, remembered per template for `TILE_CHECK_SECONDS`."""

    seconds: float = TILE_CHECK_SECONDS
    _answers: dict[str, tuple[float, bool]] = field(default_factory=dict)

    def known(self, url_template: str) -> bool | None:
        """The remembered answer, or None when it is unknown or too old."""
        entry = self._answers.get(url_template)
        if entry is None or time.monotonic() - entry[0] > self.seconds:
            return None
        return entry[1]

    def check(self, url_template: str, timeout: float = 3.0) -> bool:
        answer = tile_answers(url_template, timeout)
        self._answers[url_template] = (time.monotonic(), answer)
        return answer
