"""Words of the followup screens, in French and English (merged by `app.i18n`)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {}
