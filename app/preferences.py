"""The rep's preferences on this device (language, last server, geocoder, encryption), kept beside the replica."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Preferences", "badge_mapping", "save_badge_mapping"]

_FILE = "preferences.json"


@dataclass
class Preferences:
    language: str = "fr"
    time_zone: str = "Europe/Paris"
    last_server_url: str = ""
    #: An OpenStreetMap-compatible geocoder (Nominatim protocol) that places accounts' addresses.
    geocoder_url: str = "https://nominatim.openstreetmap.org"
    #: Where the map's tiles come from (an OpenStreetMap-compatible {z}/{x}/{y} template; empty:
    #: no map, the route as a list only). The map shows only when a tile answers.
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    #: Where the rep's day starts and ends, "latitude,longitude" (empty: not said).
    home: str = ""
    #: The event (trade fair) the rep opened on arrival: the leads captured go to it.
    event_id: str = ""
    #: Keep this device's data (the replica) encrypted at rest with SQLCipher, its key in the
    #: secure store (`TERRAIN_ENCRYPT_REPLICA` wins over it). Applied when the app next starts.
    encrypt_replica: bool = False

    def home_position(self) -> tuple[float, float] | None:
        try:
            lat, lon = (float(part) for part in self.home.replace(" ", "").split(","))
        except ValueError:
            return None
        return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else None

    @classmethod
    def load(cls, data_dir: Path) -> Preferences:
        try:
            data = json.loads((data_dir / _FILE).read_text())
        except (FileNotFoundError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        fields = cls.__dataclass_fields__
        known: dict[str, Any] = {
            k: v
            for k, v in data.items()
            if k in fields and isinstance(v, bool if fields[k].type in (bool, "bool") else str)
        }
        return cls(**known)

    def save(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / _FILE).write_text(json.dumps(asdict(self), indent=2))


_MAPPINGS = "badge_mappings.json"


def badge_mapping(data_dir: Path, event_id: str) -> dict[str, str] | None:
    """The badge scanner's column mapping the rep set for this event, if any."""
    try:
        saved = json.loads((data_dir / _MAPPINGS).read_text())
    except (FileNotFoundError, ValueError):
        return None
    found = saved.get(event_id) if isinstance(saved, dict) else None
    if not isinstance(found, dict):
        return None
    return {str(k): str(v) for k, v in found.items()}


def save_badge_mapping(data_dir: Path, event_id: str, mapping: dict[str, str]) -> None:
    """Keep the mapping for the event's next exports (the scanner's columns do not change)."""
    try:
        saved = json.loads((data_dir / _MAPPINGS).read_text())
    except (FileNotFoundError, ValueError):
        saved = {}
    if not isinstance(saved, dict):
        saved = {}
    saved[event_id] = mapping
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / _MAPPINGS).write_text(json.dumps(saved, indent=2))
