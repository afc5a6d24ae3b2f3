"""Every setting is documented in one place: the settings table of README.md.

A field of ServerSettings (read as `TERRAIN_<FIELD>`) and every `TERRAIN_*` variable that the
server, the sync engine or the app reads must have a row in that table; the test suite's and
dev.py's own variables must at least be named in README.md.
"""

from __future__ import annotations

import re
from pathlib import Path

from server.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
NAME = re.compile(r"\bTERRAIN_[A-Z0-9]+(?:_[A-Z0-9]+)*\b")


def _table_names() -> set[str]:
    """The variables named in the first cell of a README table row."""
    names: set[str] = set()
    for line in README.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def _used_in(*places: str) -> dict[str, set[str]]:
    """Each `TERRAIN_*` name found in the Python files of `places`, with the files naming it."""
    found: dict[str, set[str]] = {}
    for place in places:
        target = ROOT / place
        for path in [target] if target.is_file() else sorted(target.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for name in NAME.findall(path.read_text(encoding="utf-8")):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_server_setting_has_a_row() -> None:
    table = _table_names()
    prefix = str(ServerSettings.model_config.get("env_prefix", "")).upper()
    assert prefix == "TERRAIN_"
    missing = sorted({f"{prefix}{field.upper()}" for field in ServerSettings.model_fields} - table)
    assert not missing, f"ServerSettings fields without a row in README.md's settings table: {missing}"


def test_every_variable_the_code_reads_has_a_row() -> None:
    used = _used_in("app", "views", "sync", "server")
    assert "TERRAIN_ENCRYPT_REPLICA" in used  # the search finds what it should
    missing = {name: files for name, files in used.items() if name not in _table_names()}
    assert not missing, f"TERRAIN_* variables without a row in README.md's settings table: {missing}"


def test_the_test_suites_variables_are_named() -> None:
    used = _used_in("tests", "dev.py")
    assert "TERRAIN_TEST_PG" in used
    missing = {name: files for name, files in used.items() if not re.search(rf"`{name}`", README)}
    assert not missing, f"TERRAIN_* variables of the tests or dev.py not named in README.md: {missing}"
