"""The app's words in French (the default) and English, and dates and money in the rep's language."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal, format_percent

from app.brief import BriefPoint

if TYPE_CHECKING:
    from app.reminders import ProposedReminder
from app.money import format_money
from app.words import access as access_words
from app.words import followup as followup_words
from app.words import leads as leads_words
from app.words import pipeline as pipeline_words
from app.words import security as security_words
from app.words import segments as segments_words
from app.words import upgrades as upgrades_words

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
    "accounts.products": {"fr": "Produits", "en": "Products"},
    "accounts.in_stock": {"fr": "en stock", "en": "in stock"},
    "accounts.out_of_stock": {"fr": "en rupture", "en": "out of stock"},
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
    "nav.dashboard": {"fr": "Tableau de bord", "en": "Dashboard"},
    "card.tab_overview": {"fr": "Essentiel", "en": "Overview"},
    "card.tab_contacts": {"fr": "Contacts", "en": "Contacts"},
    "card.tab_purchases": {"fr": "Achats", "en": "Purchases"},
    "card.tab_payments": {"fr": "Paiements", "en": "Payments"},
    "card.tab_history": {"fr": "Échanges", "en": "History"},
    "card.tab_deals": {"fr": "Affaires", "en": "Deals"},
    "card.brief": {"fr": "Avant la visite", "en": "Before the visit"},
    "card.brief_empty": {"fr": "Rien de particulier à signaler.", "en": "Nothing in particular to know."},
    "card.chart": {"fr": "CA HT par mois (24 mois)", "en": "Net revenue by month (24 months)"},
    "card.ytd": {"fr": "Depuis le 1er janvier", "en": "Year to date"},
    "card.last_ytd": {"fr": "Même période l'an dernier", "en": "Same period last year"},
    "card.top_products": {"fr": "Produits principaux", "en": "Top products"},
    "card.product_line": {
        "fr": "{orders} commandes · {quantity} unités · dernier achat le {last}",
        "en": "{orders} orders · {quantity} units · last bought {last}",
    },
    "card.payment_terms": {"fr": "Conditions : {days} jours", "en": "Terms: {days} days"},
    "card.credit_limit": {"fr": "Plafond de crédit : {amount}", "en": "Credit limit: {amount}"},
    "card.average_late": {"fr": "Retard moyen (12 mois) : {days} j", "en": "Average days late (12 months): {days}"},
    "card.payments": {"fr": "Derniers règlements", "en": "Latest payments"},
    "card.payment_line": {"fr": "{day} · {method} · facture {invoice}", "en": "{day} · {method} · invoice {invoice}"},
    "card.origin": {"fr": "Origine : {origin}, premier contact le {day}", "en": "Origin: {origin}, first touch {day}"},
    "card.stage_history": {"fr": "Parcours", "en": "Pipeline history"},
    "card.timeline": {"fr": "Tous les échanges", "en": "Every exchange"},
    "card.tickets_all": {"fr": "Réclamations, retours et SAV", "en": "Complaints, returns and after-sales"},
    "card.no_tickets": {"fr": "Aucune réclamation.", "en": "No complaints."},
    "card.campaigns": {"fr": "Campagnes et enquêtes", "en": "Campaigns and surveys"},
    "card.no_campaigns": {"fr": "Aucune réponse.", "en": "No answers."},
    "card.survey_line": {"fr": "{kind} : {score}", "en": "{kind}: {score}"},
    "card.competition": {"fr": "Concurrence", "en": "Competition"},
    "card.competitor": {"fr": "Concurrent : {name}", "en": "Competitor: {name}"},
    "card.contract_end": {"fr": "Fin de contrat : {day}", "en": "Contract ends: {day}"},
    "card.lost_reason": {"fr": "Raison de perte : {reason}", "en": "Lost because: {reason}"},
    "card.no_competitor": {"fr": "Aucun concurrent connu.", "en": "No known competitor."},
    "card.opportunities": {"fr": "Opportunités", "en": "Opportunities"},
    "card.no_opportunities": {"fr": "Aucune opportunité.", "en": "No opportunities."},
    "card.quotes": {"fr": "Devis en cours", "en": "Open quotes"},
    "card.no_quotes": {"fr": "Aucun devis en cours.", "en": "No open quotes."},
    "card.reminders": {"fr": "Rappels", "en": "Reminders"},
    "card.no_reminders": {"fr": "Aucun rappel.", "en": "No reminders."},
    "card.birthday": {"fr": "anniversaire le {day}", "en": "birthday {day}"},
    "card.consent": {"fr": "Accord : {channels}", "en": "Consent: {channels}"},
    "card.no_consent": {"fr": "aucun", "en": "none"},
    "channel.visit": {"fr": "visite", "en": "visit"},
    "channel.phone": {"fr": "téléphone", "en": "phone"},
    "channel.email": {"fr": "e-mail", "en": "e-mail"},
    "channel.sms": {"fr": "SMS", "en": "SMS"},
    "channel.post": {"fr": "courrier", "en": "post"},
    "channel.social": {"fr": "réseaux sociaux", "en": "social media"},
    "method.transfer": {"fr": "virement", "en": "transfer"},
    "method.card": {"fr": "carte", "en": "card"},
    "method.cheque": {"fr": "chèque", "en": "cheque"},
    "method.direct_debit": {"fr": "prélèvement", "en": "direct debit"},
    "method.cash": {"fr": "espèces", "en": "cash"},
    "code.planned": {"fr": "prévue", "en": "planned"},
    "code.checked_in": {"fr": "sur place", "en": "checked in"},
    "code.done": {"fr": "faite", "en": "done"},
    "code.complaint": {"fr": "réclamation", "en": "complaint"},
    "code.return": {"fr": "retour", "en": "return"},
    "code.after_sales": {"fr": "SAV", "en": "after-sales"},
    "code.open": {"fr": "ouvert", "en": "open"},
    "code.in_progress": {"fr": "en cours", "en": "in progress"},
    "code.resolved": {"fr": "résolu", "en": "resolved"},
    "code.closed": {"fr": "clos", "en": "closed"},
    "code.low": {"fr": "basse", "en": "low"},
    "code.normal": {"fr": "normale", "en": "normal"},
    "code.high": {"fr": "haute", "en": "high"},
    "code.urgent": {"fr": "urgente", "en": "urgent"},
    "code.call": {"fr": "appel", "en": "call"},
    "code.email": {"fr": "e-mail", "en": "e-mail"},
    "code.meeting": {"fr": "rendez-vous", "en": "meeting"},
    "code.sms": {"fr": "SMS", "en": "SMS"},
    "code.social": {"fr": "réseaux sociaux", "en": "social"},
    "code.note": {"fr": "note", "en": "note"},
    "code.visit": {"fr": "visite", "en": "visit"},
    "code.in": {"fr": "reçu", "en": "incoming"},
    "code.out": {"fr": "envoyé", "en": "outgoing"},
    "code.qualification": {"fr": "qualification", "en": "qualification"},
    "code.proposal": {"fr": "proposition", "en": "proposal"},
    "code.negotiation": {"fr": "négociation", "en": "negotiation"},
    "code.won": {"fr": "gagnée", "en": "won"},
    "code.lost": {"fr": "perdue", "en": "lost"},
    "code.draft": {"fr": "brouillon", "en": "draft"},
    "code.sent": {"fr": "envoyé", "en": "sent"},
    "code.accepted": {"fr": "accepté", "en": "accepted"},
    "code.refused": {"fr": "refusé", "en": "refused"},
    "code.expired": {"fr": "expiré", "en": "expired"},
    "code.ordered": {"fr": "commandé", "en": "ordered"},
    "code.confirmed": {"fr": "confirmée", "en": "confirmed"},
    "code.delivered": {"fr": "livrée", "en": "delivered"},
    "code.invoiced": {"fr": "facturée", "en": "invoiced"},
    "code.cancelled": {"fr": "annulée", "en": "cancelled"},
    "code.opened": {"fr": "ouvert", "en": "opened"},
    "code.clicked": {"fr": "cliqué", "en": "clicked"},
    "code.registered": {"fr": "inscrit", "en": "registered"},
    "reminder.competitor_contract_end": {
        "fr": "{account} : le contrat avec {competitor} se termine le {ends_on}, faire une offre.",
        "en": "{account}: the contract with {competitor} ends on {ends_on}, make an offer.",
    },
    "reminder.reorder_overdue": {
        "fr": "{account} : pas de commande depuis le {last_order_on} (d'habitude tous les {every_days} j).",
        "en": "{account}: no order since {last_order_on} (usually every {every_days} days).",
    },
    "reminder.quote_expiry": {
        "fr": "{account} : le devis {number} expire le {valid_until}.",
        "en": "{account}: quote {number} expires on {valid_until}.",
    },
    "reminder.overdue_invoice": {
        "fr": "{account} : la facture {number} était due le {due_on}.",
        "en": "{account}: invoice {number} was due on {due_on}.",
    },
    "reminder.birthday": {
        "fr": "{account} : anniversaire de {contact} le {on}.",
        "en": "{account}: {contact}'s birthday on {on}.",
    },
    "nav.today": {"fr": "Aujourd'hui", "en": "Today"},
    "nav.catalogue": {"fr": "Catalogue", "en": "Catalogue"},
    "catalogue.search": {"fr": "Produit (nom, référence, catégorie)", "en": "Product (name, reference, category)"},
    "catalogue.category": {"fr": "Catégorie", "en": "Category"},
    "catalogue.all": {"fr": "Toutes", "en": "All"},
    "catalogue.count": {
        "fr": "{count} produit(s) · prix et stock au {synced}",
        "en": "{count} product(s) · prices and stock as of {synced}",
    },
    "catalogue.none": {"fr": "Aucun produit ne correspond.", "en": "No product matches."},
    "settings.save": {"fr": "Enregistrer", "en": "Save"},
    "settings.home": {"fr": "Domicile (latitude, longitude)", "en": "Home (latitude, longitude)"},
    "settings.bad_home": {
        "fr": "Écrivez la position comme 45.19, 5.72.",
        "en": "Write the position like 45.19, 5.72.",
    },
    "today.no_home": {
        "fr": "Visites dans l'ordre des heures : indiquez votre domicile dans les réglages pour la meilleure tournée.",
        "en": "Visits in time order: set your home in Settings for the best route.",
    },
    "today.previous": {"fr": "Jour précédent", "en": "Previous day"},
    "today.next": {"fr": "Jour suivant", "en": "Next day"},
    "today.week": {"fr": "Semaine", "en": "Week"},
    "today.week_of": {"fr": "Semaine du {day}", "en": "Week of {day}"},
    "today.visits": {"fr": "{count} visite(s)", "en": "{count} visit(s)"},
    "today.due": {"fr": "À faire", "en": "Due"},
    "today.nothing_due": {"fr": "Rien à faire aujourd'hui.", "en": "Nothing due today."},
    "today.route": {"fr": "Tournée", "en": "Route"},
    "today.total": {
        "fr": "{km} km au total, dont {back} km pour rentrer",
        "en": "{km} km in all, {back} km of them back home",
    },
    "today.no_visits": {"fr": "Aucune visite à faire ce jour.", "en": "No visit left that day."},
    "today.appointment": {"fr": "rendez-vous fixe", "en": "fixed appointment"},
    "today.leg": {"fr": "{km} km", "en": "{km} km"},
    "today.check_in": {"fr": "Arrivée", "en": "Check in"},
    "today.confirm_check_in": {"fr": "Confirmer l'arrivée", "en": "Confirm check-in"},
    "today.check_in_at": {"fr": "Arrivée chez {account}", "en": "Check in at {account}"},
    "today.position_help": {"fr": "Position (laisser vide si inconnue) :", "en": "Position (leave blank if unknown):"},
    "today.latitude": {"fr": "Latitude", "en": "Latitude"},
    "today.longitude": {"fr": "Longitude", "en": "Longitude"},
    "today.bad_position": {
        "fr": "Écrivez la position en degrés décimaux, par exemple 45,19.",
        "en": "Write the position in decimal degrees, for example 45.19.",
    },
    "today.checked_in": {"fr": "Arrivée enregistrée.", "en": "Checked in."},
    "today.too_far": {
        "fr": "Arrivée enregistrée à {metres} m de l'adresse du client : vérifiez l'adresse.",
        "en": "Checked in {metres} m from the customer's address: check the address.",
    },
    "today.report": {"fr": "Compte rendu", "en": "Report"},
    "today.report_of": {"fr": "Compte rendu : {account}", "en": "Report: {account}"},
    "today.notes": {"fr": "Ce qui s'est dit", "en": "What was said"},
    "today.outcome": {"fr": "Résultat", "en": "Outcome"},
    "today.next_steps": {"fr": "Prochaines étapes", "en": "Next steps"},
    "today.follow_up": {"fr": "Relance le (AAAA-MM-JJ)", "en": "Follow up on (YYYY-MM-DD)"},
    "today.in_weeks": {"fr": "dans {weeks} sem.", "en": "in {weeks} wk"},
    "today.save_report": {"fr": "Enregistrer", "en": "Save"},
    "today.bad_follow_up": {
        "fr": "Écrivez la date de relance comme 2026-12-31.",
        "en": "Write the follow-up day like 2026-12-31.",
    },
    "today.follow_up_reason": {
        "fr": "Relance après la visite : {next_steps}",
        "en": "Follow up after the visit: {next_steps}",
    },
    "today.open": {"fr": "Ouvrir la fiche", "en": "Open the card"},
    "today.done": {"fr": "Fait", "en": "Done"},
    "today.snooze": {"fr": "Plus tard (demain)", "en": "Later (tomorrow)"},
    "today.plan": {"fr": "Planifier une visite", "en": "Plan a visit"},
    "today.nearby": {"fr": "À proximité", "en": "Nearby"},
    "today.change": {"fr": "Déplacer ou annuler", "en": "Move or cancel"},
    "today.contact_met": {"fr": "Personne rencontrée", "en": "Contact met"},
    "today.products": {"fr": "Produits présentés (chercher)", "en": "Products presented (search)"},
    "today.use_position": {"fr": "Ma position", "en": "My position"},
    "today.locating": {"fr": "Recherche de la position…", "en": "Finding the position…"},
    "today.no_position": {
        "fr": "Cet appareil ne donne pas sa position ({reason}) : tapez-la ou laissez vide.",
        "en": "This device gives no position ({reason}): type it or leave it blank.",
    },
    "today.located": {"fr": "Position de l'appareil : {lat}, {lon}", "en": "The device's position: {lat}, {lon}"},
    "today.from_here": {"fr": "Partir d'ici", "en": "Start from here"},
    "today.from_home": {"fr": "Partir du domicile", "en": "Start from home"},
    "today.no_position_route": {
        "fr": "Position inconnue ({reason}) : la tournée part du domicile.",
        "en": "Position unknown ({reason}): the route starts from home.",
    },
    "today.no_permission": {"fr": "position non autorisée", "en": "location not allowed"},
    "today.locate_timeout": {"fr": "pas de réponse à temps", "en": "no answer in time"},
    "today.map": {"fr": "Carte de la tournée", "en": "Map of the route"},
    "today.home_marker": {"fr": "Départ", "en": "Start"},
    "plan.title": {"fr": "Planifier une visite", "en": "Plan a visit"},
    "plan.find_account": {"fr": "Client (chercher par nom, ville…)", "en": "Customer (search by name, town…)"},
    "plan.contact": {"fr": "Contact", "en": "Contact"},
    "plan.day": {"fr": "Jour (AAAA-MM-JJ)", "en": "Day (YYYY-MM-DD)"},
    "plan.time": {"fr": "Heure", "en": "Time"},
    "plan.length": {"fr": "Durée", "en": "Length"},
    "plan.minutes": {"fr": "{minutes} min", "en": "{minutes} min"},
    "plan.purpose": {"fr": "Objet", "en": "Purpose"},
    "plan.fixed": {
        "fr": "Rendez-vous fixé avec le client (la tournée le garde à son heure)",
        "en": "Appointment agreed with the customer (the route keeps its time)",
    },
    "plan.save": {"fr": "Planifier", "en": "Plan it"},
    "plan.no_account": {"fr": "Choisissez le client à visiter.", "en": "Pick the customer to visit."},
    "plan.bad_day": {"fr": "Écrivez le jour comme 2026-12-31.", "en": "Write the day like 2026-12-31."},
    "plan.bad_time": {"fr": "Écrivez l'heure comme 09:30.", "en": "Write the time like 09:30."},
    "plan.planned": {"fr": "Visite planifiée le {day} à {time}.", "en": "Visit planned on {day} at {time}."},
    "plan.edit_title": {"fr": "Visite : {account}", "en": "Visit: {account}"},
    "plan.move": {"fr": "Déplacer", "en": "Move"},
    "plan.moved": {"fr": "Visite déplacée au {day} à {time}.", "en": "Visit moved to {day} at {time}."},
    "plan.cancel_visit": {"fr": "Annuler la visite", "en": "Cancel the visit"},
    "plan.confirm_cancel": {"fr": "Oui, annuler", "en": "Yes, cancel it"},
    "plan.cancelled": {"fr": "Visite annulée.", "en": "Visit cancelled."},
    "nearby.title": {"fr": "Clients à proximité", "en": "Customers nearby"},
    "nearby.around": {"fr": "Autour de", "en": "Around"},
    "nearby.within": {"fr": "Dans un rayon de", "en": "Within"},
    "nearby.here": {"fr": "Ma position", "en": "Where I am"},
    "nearby.home": {"fr": "Mon domicile", "en": "My home"},
    "nearby.visit": {"fr": "Visite {time} · {account}", "en": "Visit {time} · {account}"},
    "nearby.pick": {"fr": "Choisissez autour de quoi chercher.", "en": "Pick where to look around."},
    "nearby.none": {
        "fr": "Aucun client situé dans ce rayon : élargissez-le.",
        "en": "No placed customer within this distance: widen it.",
    },
    "nearby.reorder": {
        "fr": "commande d'habitude tous les {every_days} j, rien depuis {days_since} j",
        "en": "orders every {every_days} days, nothing for {days_since} days",
    },
    "nearby.opportunity": {
        "fr": "{opportunities} opportunité(s) ouvertes, {amount} pondérés",
        "en": "{opportunities} open opportunities, {amount} weighted",
    },
    "nearby.revenue": {"fr": "{amount} sur {days} j", "en": "{amount} over {days} days"},
    "nearby.last_visit": {"fr": "dernière visite il y a {days_since} j", "en": "last visit {days_since} days ago"},
    "nearby.never_visited": {"fr": "jamais visité", "en": "never visited"},
    "pdf.title": {"fr": "Devis", "en": "Quote"},
    "pdf.provisional": {"fr": "{number} (numéro provisoire)", "en": "{number} (provisional number)"},
    "pdf.issued": {"fr": "Établi le {day}", "en": "Issued on {day}"},
    "pdf.valid_until": {"fr": "Valable jusqu'au {day}", "en": "Valid until {day}"},
    "pdf.reference": {"fr": "Réf. terrain : {number}", "en": "Field ref.: {number}"},
    "pdf.customer": {"fr": "Client", "en": "Customer"},
    "pdf.attention": {"fr": "À l'attention de {name}", "en": "For the attention of {name}"},
    "pdf.sku": {"fr": "Réf.", "en": "Ref."},
    "pdf.description": {"fr": "Désignation", "en": "Description"},
    "pdf.quantity": {"fr": "Qté", "en": "Qty"},
    "pdf.unit_price": {"fr": "PU HT", "en": "Unit price"},
    "pdf.discount": {"fr": "Remise", "en": "Discount"},
    "pdf.vat": {"fr": "TVA", "en": "VAT"},
    "pdf.net": {"fr": "Total HT", "en": "Net"},
    "pdf.vat_rate": {"fr": "Taux de TVA", "en": "VAT rate"},
    "pdf.vat_base": {"fr": "Base HT", "en": "Base"},
    "pdf.vat_amount": {"fr": "Montant TVA", "en": "VAT"},
    "pdf.vat_line": {"fr": "TVA {rate}", "en": "VAT {rate}"},
    "pdf.lines_total": {"fr": "Total des lignes HT", "en": "Lines, before tax"},
    "pdf.quote_discount": {"fr": "Remise sur le devis ({rate})", "en": "Quote discount ({rate})"},
    "pdf.total_net": {"fr": "Total HT", "en": "Total before tax"},
    "pdf.total_vat": {"fr": "Total TVA", "en": "Total VAT"},
    "pdf.total_gross": {"fr": "Total TTC", "en": "Total"},
    "pdf.validity": {
        "fr": "Ce devis est valable jusqu'au {day} ; au-delà, les prix peuvent changer.",
        "en": "This quote is valid until {day}; after that day prices may change.",
    },
    "pdf.terms": {"fr": "Conditions", "en": "Terms"},
    "pdf.signed": {"fr": "Bon pour accord : signé par {name} le {when}", "en": "Accepted: signed by {name} on {when}"},
    "pdf.sign_here": {"fr": "Bon pour accord (date et signature) :", "en": "Accepted (date and signature):"},
    "pdf.capital": {"fr": "capital {capital}", "en": "capital {capital}"},
    "pdf.page": {"fr": "page {page}", "en": "page {page}"},
    "quote.new": {"fr": "Nouveau devis", "en": "New quote"},
    "quote.new_for": {"fr": "Nouveau devis : {account}", "en": "New quote: {account}"},
    "quote.add_product": {"fr": "Ajouter un produit (nom, référence)", "en": "Add a product (name, reference)"},
    "quote.quantity": {"fr": "Quantité", "en": "Quantity"},
    "quote.line_discount": {"fr": "Remise %", "en": "Discount %"},
    "quote.quantity_line": {"fr": "Quantité, ligne {line}", "en": "Quantity, line {line}"},
    "quote.discount_line": {"fr": "Remise %, ligne {line}", "en": "Discount %, line {line}"},
    "quote.discount": {"fr": "Remise sur le devis %", "en": "Quote discount %"},
    "quote.remove": {"fr": "Retirer la ligne", "en": "Remove the line"},
    "quote.empty": {"fr": "Ajoutez un produit.", "en": "Add a product."},
    "quote.totals": {"fr": "Total HT {net} · TVA {tax} · TTC {gross}", "en": "Net {net} · VAT {tax} · Total {gross}"},
    "quote.vat_line": {"fr": "TVA {rate} : {amount}", "en": "VAT {rate}: {amount}"},
    "quote.bad_quantity": {
        "fr": "Ligne {line} : une quantité entière, 1 ou plus.",
        "en": "Line {line}: a whole quantity, 1 or more.",
    },
    "quote.bad_discount": {
        "fr": "Ligne {line} : une remise entre 0 et 100 %.",
        "en": "Line {line}: a discount between 0 and 100 %.",
    },
    "quote.bad_quote_discount": {
        "fr": "La remise sur le devis : entre 0 et 100 %.",
        "en": "The quote discount: between 0 and 100 %.",
    },
    "quote.save": {"fr": "Enregistrer le devis", "en": "Save the quote"},
    "quote.provisional": {"fr": "{number} (provisoire)", "en": "{number} (provisional)"},
    "quote.status_draft": {"fr": "Brouillon", "en": "Draft"},
    "quote.status_sent": {"fr": "Envoyé", "en": "Sent"},
    "quote.status_accepted": {"fr": "Accepté", "en": "Accepted"},
    "quote.status_refused": {"fr": "Refusé", "en": "Refused"},
    "quote.status_expired": {"fr": "Expiré", "en": "Expired"},
    "quote.status_ordered": {"fr": "Commandé", "en": "Ordered"},
    "quote.approval_needed": {
        "fr": "remise à faire valider par un manager",
        "en": "discount awaiting a manager's approval",
    },
    "quote.approval_approved": {"fr": "remise validée", "en": "discount approved"},
    "quote.approval_refused": {"fr": "remise refusée", "en": "discount refused"},
    "quote.signed_by": {"fr": "signé par {name}", "en": "signed by {name}"},
    "quote.quote_discount": {"fr": "Remise sur le devis : {rate}", "en": "Quote discount: {rate}"},
    "quote.send": {"fr": "Marquer envoyé", "en": "Mark as sent"},
    "quote.sign": {"fr": "Faire signer", "en": "Have it signed"},
    "quote.sign_title": {"fr": "Bon pour accord : {total} TTC", "en": "Accept: {total} in all"},
    "quote.sign_help": {
        "fr": "Le client écrit son nom et signe dans le cadre.",
        "en": "The customer writes their name and signs in the box.",
    },
    "quote.signer": {"fr": "Nom du signataire", "en": "Signer's name"},
    "quote.clear": {"fr": "Effacer", "en": "Clear"},
    "quote.accept": {"fr": "Accepter et signer", "en": "Accept and sign"},
    "quote.sign_first": {"fr": "Signez dans le cadre d'abord.", "en": "Sign in the box first."},
    "quote.accepted": {"fr": "Devis accepté et signé.", "en": "Quote accepted and signed."},
    "quote.saved": {"fr": "Devis enregistré.", "en": "Quote saved."},
    "quote.order": {"fr": "Passer la commande", "en": "Place the order"},
    "quote.pdf_failed": {"fr": "Le PDF n'a pas pu être fait : {reason}", "en": "The PDF could not be made: {reason}"},
    "quote.ordered": {
        "fr": "Commande envoyée : le serveur la chiffre à ses prix du jour.",
        "en": "Order sent: the server prices it with today's prices.",
    },
    "outcome.positive": {"fr": "Positif", "en": "Positive"},
    "outcome.neutral": {"fr": "Neutre", "en": "Neutral"},
    "outcome.follow_up": {"fr": "À relancer", "en": "Follow up"},
    "outcome.negative": {"fr": "Négatif", "en": "Negative"},
    "brief.overdue": {
        "fr": "Impayés : {amount} sur {invoices} facture(s), la plus ancienne a {oldest_days} j de retard.",
        "en": "Overdue: {amount} on {invoices} invoice(s), the oldest {oldest_days} days late.",
    },
    "brief.tickets": {
        "fr": "{count} réclamation(s) ouverte(s) : « {subject} », ouverte depuis {days_open} j.",
        "en": '{count} open complaint(s): "{subject}", open for {days_open} days.',
    },
    "brief.competitor": {
        "fr": "Le contrat avec {competitor} se termine le {ends_on} (dans {days} j) : le moment de proposer.",
        "en": "The contract with {competitor} ends on {ends_on} (in {days} days): time to make an offer.",
    },
    "brief.reorder": {
        "fr": "Commande attendue : commande d'habitude tous les {every_days} j, la dernière date de {days_since} j ({last_order_on}).",
        "en": "A reorder is due: usually orders every {every_days} days, the last one was {days_since} days ago ({last_order_on}).",
    },
    "brief.next_steps": {
        "fr": "Suite prévue à la visite du {visited_on} : {next_steps}",
        "en": "Next steps written at the visit of {visited_on}: {next_steps}",
    },
    "brief.birthday": {
        "fr": "Anniversaire de {contact} le {on} (dans {days} j).",
        "en": "{contact}'s birthday on {on} (in {days} days).",
    },
    "brief.stopped": {
        "fr": "N'achète plus : {products}.",
        "en": "Stopped buying: {products}.",
    },
    "brief.stopped_product": {
        "fr": "{name} ({orders} commandes, dernière le {last_on})",
        "en": "{name} ({orders} orders, last on {last_on})",
    },
    "brief.next_best": {
        "fr": "À proposer : {products}, achetés par les clients qui lui ressemblent le plus ({neighbours} comparés).",
        "en": "To offer: {products}, bought by the customers most like it ({neighbours} compared).",
    },
    "brief.next_best_product": {"fr": "{name} ({buyers} clients)", "en": "{name} ({buyers} customers)"},
    "brief.rfm": {
        "fr": "Segment RFM : {segment} (R{r} F{f} M{m} : dernière commande il y a {recency_days} j, {frequency} commande(s) en 12 mois).",
        "en": "RFM segment: {segment} (R{r} F{f} M{m}: last order {recency_days} days ago, {frequency} order(s) in 12 months).",
    },
    "segment.champions": {"fr": "champions", "en": "champions"},
    "segment.loyal": {"fr": "fidèles", "en": "loyal"},
    "segment.new": {"fr": "nouveaux", "en": "new"},
    "segment.at_risk": {"fr": "à risque", "en": "at risk"},
    "segment.hibernating": {"fr": "en sommeil", "en": "hibernating"},
    "segment.potential": {"fr": "potentiels", "en": "potential"},
    "dash.title": {"fr": "Mes chiffres", "en": "My figures"},
    "dash.team": {"fr": "Les chiffres de l'équipe", "en": "The team's figures"},
    "dash.ends_before": {"fr": "La fin de la période précède son début.", "en": "The period ends before it starts."},
    "dash.period": {"fr": "Du {start} au {end}", "en": "From {start} to {end}"},
    "dash.from": {"fr": "Début (AAAA-MM-JJ)", "en": "From (YYYY-MM-DD)"},
    "dash.to": {"fr": "Fin (AAAA-MM-JJ)", "en": "To (YYYY-MM-DD)"},
    "dash.apply": {"fr": "Calculer", "en": "Compute"},
    "dash.bad_period": {
        "fr": "Écrivez chaque date comme 2026-01-31 (année-mois-jour).",
        "en": "Write each date like 2026-01-31 (year-month-day).",
    },
    "dash.revenue": {"fr": "CA HT", "en": "Net revenue"},
    "dash.orders": {"fr": "Commandes", "en": "Orders"},
    "dash.target": {"fr": "Objectif", "en": "Target"},
    "dash.churn": {"fr": "Attrition", "en": "Churn"},
    "dash.acquisition": {"fr": "Acquisition", "en": "Acquisition"},
    "dash.active": {"fr": "Clients actifs au début, à la fin", "en": "Active accounts at start, at end"},
    "dash.active_value": {"fr": "{start} puis {end}", "en": "{start} then {end}"},
    "dash.segment_count": {"fr": "{segment} : {count}", "en": "{segment}: {count}"},
    "dash.close_rate": {"fr": "Taux de transformation", "en": "Close rate"},
    "dash.cycle": {"fr": "Cycle de vente (médiane, j)", "en": "Sales cycle (median, days)"},
    "dash.nps": {"fr": "NPS", "en": "NPS"},
    "dash.ces": {"fr": "CES", "en": "CES"},
    "dash.fcr": {"fr": "Résolution au premier contact", "en": "First-contact resolution"},
    "dash.segments": {"fr": "Segments RFM", "en": "RFM segments"},
    "dash.monthly": {"fr": "CA HT par mois", "en": "Net revenue by month"},
}


for _words in (
    leads_words,
    pipeline_words,
    followup_words,
    segments_words,
    security_words,
    access_words,
    upgrades_words,
):
    _MESSAGES.update(_words.MESSAGES)


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

    def code(self, value: str | None) -> str:
        """A stored code (a ticket's status, an activity's kind...) in words, or as it is when
        this version of the app has no words for it."""
        if not value:
            return ""
        entry = _MESSAGES.get(f"code.{value}")
        return entry[self.language] if entry else value

    def month(self, first_day: date) -> str:
        """A month, short: `nov. 26` in French, `Nov 26` in English."""
        return format_date(first_day, format="MMM yy", locale=self.language)

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

    def km(self, value: float) -> str:
        """A distance with one decimal as people write it: `12,5` in French, `12.5` in English."""
        return format_decimal(value, format="#,##0.0", locale=self.language)

    def percent(self, value: float | None) -> str:
        """A share as people write it (`12,5 %`), or a dash when there is nothing to divide."""
        return "—" if value is None else format_percent(value, format="#,##0.0 %", locale=self.language)

    def rate(self, basis_points: int) -> str:
        """A rate or a discount in basis points as people write it: `20 %`, `5,5 %` (`5.5 %`)."""
        return format_percent(basis_points / 10_000, format="#,##0.# %", locale=self.language)

    def brief_point(self, point: BriefPoint) -> str:
        """One point of the pre-visit brief in words, its amounts and days in this language."""
        facts = dict(point.facts)
        if point.kind == "overdue":
            facts["amount"] = self.money(facts["amount"], facts["currency"])
        elif point.kind == "stopped":
            facts["products"] = ", ".join(
                self("brief.stopped_product", name=p["name"], orders=p["orders"], last_on=self.day(p["last_on"]))
                for p in facts["products"]
            )
        elif point.kind == "next_best":
            facts["products"] = ", ".join(self("brief.next_best_product", **p) for p in facts["products"])
        elif point.kind == "rfm":
            facts["segment"] = self(f"segment.{facts['segment']}")
        for name, value in facts.items():
            if isinstance(value, date):
                facts[name] = self.day(value)
        return self(f"brief.{point.kind}", **facts)

    def reminder_reason(self, proposal: ProposedReminder, account: str) -> str:
        """Why a rule made a reminder, in this language (kept with the reminder, synced)."""
        facts = {k: self.day(v) if isinstance(v, date) else v for k, v in proposal.facts.items()}
        return self(f"reminder.{proposal.rule}", account=account, **facts)

    def clock(self, value: datetime) -> str:
        """The time of day in the rep's time zone: `09:30`."""
        return format_time(value.astimezone(self.zone), format="HH:mm", tzinfo=self.zone, locale=self.language)

    def local_day(self, value: datetime) -> str:
        """The day a point in time falls on, in the rep's time zone."""
        return self.day(value.astimezone(self.zone).date())
