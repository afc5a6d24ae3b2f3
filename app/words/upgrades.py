"""Words of app and server versions, in French and English (merged by `app.i18n`)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    # The server answered 426 (sync/errors.py: UpdateRequired): the outbox waits for the update.
    "sync.update_required": {
        "fr": "Mettez à jour l'application : le serveur n'accepte plus cette version.",
        "en": "Update the app: the server no longer accepts this version.",
    },
}
