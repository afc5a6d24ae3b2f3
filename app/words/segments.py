"""Words of the segments screen, in French and English (merged by `app.i18n`).

The RFM segments' own names are `segment.<name>` and the stages' `stage.<name>`, in app.i18n."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "segments.title": {"fr": "Segments", "en": "Segments"},
    "segments.intro": {
        "fr": "Vos filtres enregistrés sur votre portefeuille, gardés sur cet appareil seulement.",
        "en": "Your saved filters over your book, kept on this device only.",
    },
    "segments.none": {"fr": "Aucun segment enregistré.", "en": "No saved segment yet."},
    "segments.new": {"fr": "Nouveau segment", "en": "New segment"},
    "segments.edit": {"fr": "Modifier", "en": "Edit"},
    "segments.delete": {"fr": "Supprimer", "en": "Delete"},
    "segments.confirm_delete": {"fr": "Supprimer « {name} »", "en": 'Delete "{name}"'},
    "segments.deleted": {"fr": "Segment « {name} » supprimé.", "en": 'Segment "{name}" deleted.'},
    "segments.saved": {"fr": "Segment « {name} » enregistré.", "en": 'Segment "{name}" saved.'},
    "segments.write": {"fr": "Écrire à ce segment", "en": "E-mail this segment"},
    "segments.members": {"fr": "{count} client(s)", "en": "{count} customer(s)"},
    "segments.live_count": {"fr": "{count} client(s) correspondent", "en": "{count} customer(s) match"},
    "segments.everyone": {"fr": "Tout le portefeuille", "en": "The whole book"},
    "segments.name": {"fr": "Nom du segment", "en": "Segment name"},
    "segments.stages": {"fr": "Étapes", "en": "Stages"},
    "segments.origins": {"fr": "Origines", "en": "Origins"},
    "segments.event": {"fr": "Rencontré à l'événement", "en": "Met at the event"},
    "segments.any_event": {"fr": "Tous", "en": "Any"},
    "segments.towns": {"fr": "Villes (séparées par des virgules)", "en": "Towns (separated by commas)"},
    "segments.products": {"fr": "A acheté l'un de ces produits", "en": "Bought one of these products"},
    "segments.find_product": {"fr": "Chercher un produit (nom ou référence)", "en": "Find a product (name or SKU)"},
    "segments.remove_product": {"fr": "Retirer {name}", "en": "Remove {name}"},
    "segments.rfm": {"fr": "Segments RFM", "en": "RFM segments"},
    "segments.after": {
        "fr": "Dernière commande depuis le (AAAA-MM-JJ)",
        "en": "Last order on or after (YYYY-MM-DD)",
    },
    "segments.before": {
        "fr": "Aucune commande depuis le (AAAA-MM-JJ)",
        "en": "No order since (YYYY-MM-DD)",
    },
    "segments.save": {"fr": "Enregistrer", "en": "Save"},
    "segments.cancel": {"fr": "Annuler", "en": "Cancel"},
    "segments.summary_stages": {"fr": "Étapes : {values}", "en": "Stages: {values}"},
    "segments.summary_origins": {"fr": "Origines : {values}", "en": "Origins: {values}"},
    "segments.summary_event": {"fr": "Événement : {name}", "en": "Event: {name}"},
    "segments.summary_towns": {"fr": "Villes : {values}", "en": "Towns: {values}"},
    "segments.summary_products": {"fr": "{count} produit(s) achetés", "en": "{count} product(s) bought"},
    "segments.summary_rfm": {"fr": "RFM : {values}", "en": "RFM: {values}"},
    "segments.summary_after": {"fr": "commande depuis le {day}", "en": "ordered since {day}"},
    "segments.summary_before": {"fr": "sans commande depuis le {day}", "en": "no order since {day}"},
    "segments.bad.name": {
        "fr": "Donnez au segment un nom qui n'est pas déjà pris (80 caractères au plus).",
        "en": "Give the segment a name not already taken (80 characters at most).",
    },
    "segments.bad.towns": {
        "fr": "Une ville fait au plus 100 caractères ; 50 villes au plus.",
        "en": "A town has at most 100 characters; 50 towns at most.",
    },
    "segments.bad.product_ids": {"fr": "200 produits au plus.", "en": "200 products at most."},
    "segments.bad.last_order_after": {
        "fr": "Écrivez la date de dernière commande comme 2026-01-31 (année-mois-jour).",
        "en": "Write the last order date like 2026-01-31 (year-month-day).",
    },
    "segments.bad.last_order_before": {
        "fr": "Écrivez la date « aucune commande depuis » comme 2026-01-31, après la date de dernière commande.",
        "en": 'Write the "no order since" date like 2026-01-31, after the last order date.',
    },
    "segments.bad.other": {
        "fr": "Ce filtre ne peut pas être lu : {reason}",
        "en": "This filter cannot be read: {reason}",
    },
    "segments.origin.trade_fair": {"fr": "salon", "en": "trade fair"},
    "segments.origin.web": {"fr": "web", "en": "web"},
    "segments.origin.referral": {"fr": "recommandation", "en": "referral"},
    "segments.origin.ad": {"fr": "publicité", "en": "ad"},
    "segments.origin.shop": {"fr": "magasin", "en": "shop"},
    "segments.origin.phone": {"fr": "téléphone", "en": "phone"},
    "segments.origin.field": {"fr": "prospection terrain", "en": "field prospecting"},
    "segments.origin.other": {"fr": "autre", "en": "other"},
}
