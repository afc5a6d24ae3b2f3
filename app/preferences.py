"""The rep's preferences on this device (language, last server), kept beside the replica."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Preferences"]

_FILE = "preferences.json"


@dataclass
class Preferences:
    language: str = "fr"
    time_zone: str = "Europe/Paris"
    last_server_url: str = ""

    @classmethod
    def load(cls, data_dir: Path) -> Preferences:
        try:
            data = json.loads((data_dir / _FILE).read_text())
        except (FileNotFoundError, ValueError):
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and isinstance(v, str)}
        return cls(**known)

    def save(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / _FILE).write_text(json.dumps(asdict(self), indent=2))
