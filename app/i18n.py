"""The app's words in French (the default) and English, and dates and money in the rep's language."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from app.money import format_money

__all__ = ["LANGUAGES", "Translator"]

LANGUAGES = {"fr": "Français", "en": "English"}

_MESSAGES: dict[str, dict[str, str]] = {
    "app.title": {"fr": "Terrain", "en": "Terrain"},
    "nav.accounts": {"fr": "Clients", "en": "Customers"},
    "nav.settings": {"fr": "Réglages", "en": "Settings"},
    "login.title": {"fr": "Connexion", "en": "Sign in"},
    "login.server": {"fr": "Serveur", "en": "Server"},
    "login.user": {"fr": "Utilisateur", "en": "User name"},
    "login.password": {"fr": "Mot de passe", "en": "Password"},
    "login.submit": {"fr": "Se connecter", "en": "Sign in"},
    "login.working": {"fr": "Connexion en cours…", "en": "Signing in…"},
    "login.missing": {
        "fr": "Renseignez le serveur, l'utilisateur et le mot de passe.",
        "en": "Fill in the server, the user name and the password.",
    },
    "login.bad_credentials": {
        "fr": "Nom d'utilisateur ou mot de passe incorrect.",
        "en": "Wrong user name or password.",
    },
    "login.unreachable": {
        "fr": "Impossible de joindre le serveur {url} : vérifiez l'adresse et le réseau.",
        "en": "Cannot reach the server {url}: check the address and the network.",
    },
    "login.bad_url": {
        "fr": "« {url} » n'est pas une adresse de serveur (exemple : https://crm.exemple.fr).",
        "en": '"{url}" is not a server address (for example https://crm.example.com).',
    },
    "login.no_keyring": {
        "fr": "Aucun trousseau sécurisé sur cet appareil : il faudra vous reconnecter au prochain démarrage.",
        "en": "No secure keyring on this device: you will have to sign in again next time.",
    },
    "accounts.search": {"fr": "Rechercher un client", "en": "Search customers"},
    "accounts.empty": {"fr": "Aucun client ne correspond.", "en": "No customer matches."},
    "accounts.none_yet": {
        "fr": "Aucun client sur cet appareil : synchronisez.",
        "en": "No customers on this device yet: sync.",
    },
    "card.back": {"fr": "Retour", "en": "Back"},
    "card.not_found": {"fr": "Ce client n'est pas sur cet appareil.", "en": "This customer is not on this device."},
    "card.identity": {"fr": "Identité", "en": "Identity"},
    "card.contacts": {"fr": "Contacts", "en": "Contacts"},
    "card.orders": {"fr": "Historique d'achats", "en": "Purchase history"},
    "card.invoices": {"fr": "Factures ouvertes", "en": "Open invoices"},
    "card.activities": {"fr": "Échanges récents", "en": "Recent activities"},
    "card.tickets": {"fr": "Réclamations ouvertes", "en": "Open complaints"},
    "card.revenue_12m": {"fr": "CA 12 mois (HT)", "en": "Revenue, 12 months (net)"},
    "card.overdue": {"fr": "Impayés échus", "en": "Overdue"},
    "card.open_amount": {"fr": "Encours", "en": "Outstanding"},
    "card.next_visit": {"fr": "Prochaine visite", "en": "Next visit"},
    "card.no_orders": {"fr": "Aucune commande.", "en": "No orders."},
    "card.no_invoices": {"fr": "Aucune facture ouverte.", "en": "No open invoices."},
    "card.no_activities": {"fr": "Aucun échange.", "en": "No activities."},
    "card.due": {"fr": "échéance {date}", "en": "due {date}"},
    "card.days_late": {"fr": "{days} j de retard", "en": "{days} days late"},
    "card.primary": {"fr": "principal", "en": "primary"},
    "card.stage": {"fr": "Étape", "en": "Stage"},
    "card.order_lines": {"fr": "{count} lignes", "en": "{count} lines"},
    "card.order_line": {"fr": "1 ligne", "en": "1 line"},
    "stage.suspect": {"fr": "Suspect", "en": "Suspect"},
    "stage.lead": {"fr": "Lead", "en": "Lead"},
    "stage.prospect": {"fr": "Prospect", "en": "Prospect"},
    "stage.buyer": {"fr": "Acheteur", "en": "Buyer"},
    "stage.client": {"fr": "Client", "en": "Client"},
    "stage.ambassador": {"fr": "Ambassadeur", "en": "Ambassador"},
    "stage.lost": {"fr": "Perdu", "en": "Lost"},
    "sync.now": {"fr": "Synchroniser", "en": "Sync now"},
    "sync.running": {"fr": "Synchronisation…", "en": "Syncing…"},
    "sync.progress": {"fr": "{records} éléments reçus", "en": "{records} records received"},
    "sync.progress_of": {"fr": "{records} éléments reçus sur {total}", "en": "{records} of {total} records received"},
    "sync.done": {"fr": "Synchronisé {when}", "en": "Synced {when}"},
    "sync.never": {"fr": "Jamais synchronisé", "en": "Never synced"},
    "sync.error": {"fr": "Erreur : {error}", "en": "Error: {error}"},
    "sync.offline": {"fr": "Hors ligne : {error}", "en": "Offline: {error}"},
    "sync.offline_short": {"fr": "Hors ligne", "en": "Offline"},
    "sync.pending": {"fr": "{count} en attente", "en": "{count} pending"},
    "sync.rejected": {"fr": "{count} refusé(s)", "en": "{count} rejected"},
    "sync.conflicts": {"fr": "{count} conflit(s)", "en": "{count} conflicts"},
    "card.notes": {"fr": "Notes", "en": "Notes"},
    "card.save_notes": {"fr": "Enregistrer les notes", "en": "Save notes"},
    "card.saved": {"fr": "Enregistré sur l'appareil", "en": "Saved on this device"},
    "entity.account": {"fr": "Client", "en": "Customer"},
    "entity.contact": {"fr": "Contact", "en": "Contact"},
    "entity.activity": {"fr": "Échange", "en": "Activity"},
    "inbox.conflicts": {"fr": "Conflits à trancher", "en": "Conflicts to settle"},
    "inbox.field": {"fr": "{entity} · champ « {field} »", "en": '{entity} · field "{field}"'},
    "inbox.server_value": {"fr": "Sur le serveur : {value}", "en": "On the server: {value}"},
    "inbox.device_value": {"fr": "Sur cet appareil : {value}", "en": "On this device: {value}"},
    "inbox.keep_server": {"fr": "Garder celle du serveur", "en": "Keep the server's"},
    "inbox.keep_mine": {"fr": "Garder la mienne", "en": "Keep mine"},
    "inbox.rejected": {"fr": "Modifications refusées par le serveur", "en": "Changes the server refused"},
    "inbox.rejected_line": {"fr": "{entity} : {reason}", "en": "{entity}: {reason}"},
    "inbox.dismiss": {"fr": "Abandonner", "en": "Dismiss"},
    "inbox.resend": {"fr": "Renvoyer", "en": "Send again"},
    "sync.sign_in_again": {"fr": "Reconnectez-vous pour synchroniser.", "en": "Sign in again to sync."},
    "settings.language": {"fr": "Langue", "en": "Language"},
    "settings.user": {"fr": "Connecté en tant que {user}", "en": "Signed in as {user}"},
    "settings.server": {"fr": "Serveur : {url}", "en": "Server: {url}"},
    "settings.sign_out": {"fr": "Se déconnecter", "en": "Sign out"},
    "settings.sign_in": {"fr": "Se connecter", "en": "Sign in"},
}


class Translator:
    """Words, dates and amounts for one language and time zone."""

    def __init__(self, language: str = "fr", time_zone: str = "Europe/Paris") -> None:
        self.language = language if language in LANGUAGES else "fr"
        self.zone = ZoneInfo(time_zone)

    def __call__(self, key: str, **values: object) -> str:
        entry = _MESSAGES.get(key)
        if entry is None:
            return key
        return entry[self.language].format(**values)

    def money(self, amount: int, currency: str) -> str:
        return format_money(amount, currency, self.language)

    def number(self, value: int) -> str:
        """A count as people write it: `8 248` in French, `8,248` in English."""
        return format_decimal(value, locale=self.language)

    def day(self, value: date) -> str:
        """A calendar day: `18 nov. 2026`."""
        return format_date(value, format="medium", locale=self.language)

    def moment(self, value: datetime) -> str:
        """A point in time, in the rep's time zone: `18 nov. 2026, 09:30:00`."""
        return format_datetime(value.astimezone(self.zone), format="medium", tzinfo=self.zone, locale=self.language)

    def local_day(self, value: datetime) -> str:
        """The day a point in time falls on, in the rep's time zone."""
        return self.day(value.astimezone(self.zone).date())
