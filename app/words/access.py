"""Words of sign-in, sessions and device wipes, in French and English (merged by `app.i18n`)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "login.wiped": {
        "fr": "Cet appareil a été révoqué : ses données ont été effacées. Connectez-vous pour repartir de zéro.",
        "en": "This device was revoked: its data has been erased. Sign in to start afresh.",
    },
    "login.plain_http": {
        "fr": "{url} n'est pas chiffré (http) : le mot de passe et vos clients y passeraient en clair. "
        "Utilisez https, ou cochez la case ci-dessous si c'est voulu.",
        "en": "{url} is not encrypted (http): your password and customers would travel in clear. "
        "Use https, or tick the box below if this is intended.",
    },
    "login.allow_http": {
        "fr": "Autoriser ce serveur sans chiffrement (http)",
        "en": "Allow this server without encryption (http)",
    },
    "login.throttled": {
        "fr": "Trop de mots de passe erronés : réessayez plus tard. ({detail})",
        "en": "Too many wrong passwords: try again later. ({detail})",
    },
    "audit.title": {"fr": "Journal (serveur)", "en": "Log (server)"},
    "audit.show": {"fr": "Qui a consulté ou modifié ce client", "en": "Who read or changed this customer"},
    "audit.none": {"fr": "Rien dans le journal.", "en": "Nothing in the log."},
    "audit.offline": {
        "fr": "Le journal est sur le serveur : il faut être en ligne. ({error})",
        "en": "The log is on the server: you need to be online. ({error})",
    },
    "audit.read": {"fr": "consultation en masse", "en": "bulk read"},
    "audit.change": {"fr": "modification", "en": "change"},
    "audit.delete": {"fr": "suppression", "en": "deletion"},
    "audit.export": {"fr": "export", "en": "export"},
    "audit.import": {"fr": "import", "en": "import"},
    "audit.revoke": {"fr": "révocation", "en": "revocation"},
    "audit.sign_out": {"fr": "déconnexion", "en": "sign-out"},
    "settings.wipe": {"fr": "Effacer cet appareil", "en": "Wipe this device"},
    "settings.wipe_title": {"fr": "Effacer cet appareil ?", "en": "Wipe this device?"},
    "settings.wipe_text": {
        "fr": "Toutes les données de Terrain sur cet appareil (clients, agenda, devis) et la session "
        "seront effacées. Le serveur garde tout ce qui a été synchronisé.",
        "en": "Every piece of Terrain data on this device (customers, agenda, quotes) and the session "
        "will be erased. The server keeps everything that was synced.",
    },
    "settings.wipe_pending": {
        "fr": "{count} modification(s) pas encore envoyée(s) seront perdues : synchronisez d'abord si possible.",
        "en": "{count} change(s) not sent yet will be lost: sync first if you can.",
    },
    "settings.wipe_confirm": {"fr": "Tout effacer", "en": "Erase everything"},
    "settings.cancel": {"fr": "Annuler", "en": "Cancel"},
}
