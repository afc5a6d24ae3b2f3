"""Words of the pipeline screens, in French and English (merged by `app.i18n`).

The accounts' stages are `stage.<value>` and the opportunities' `code.<value>`, in `app.i18n`."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "pipeline.title": {"fr": "Pipeline", "en": "Pipeline"},
    "pipeline.accounts": {"fr": "Comptes", "en": "Accounts"},
    "pipeline.opportunities": {"fr": "Opportunités", "en": "Opportunities"},
    "pipeline.move": {"fr": "Déplacer {name}", "en": "Move {name}"},
    "pipeline.deal_of": {"fr": "{name} ({account})", "en": "{name} ({account})"},
    "pipeline.days": {"fr": "{days} j dans l'étape", "en": "{days} d in stage"},
    "pipeline.more": {"fr": "… et {count} de plus", "en": "… and {count} more"},
    "pipeline.empty": {"fr": "Aucun", "en": "None"},
    "pipeline.count": {"fr": "{stage} ({count})", "en": "{stage} ({count})"},
    "pipeline.probability": {"fr": "{pct} %", "en": "{pct}%"},
    "pipeline.closes": {"fr": "clôture {day}", "en": "closes {day}"},
    "pipeline.lost_title": {"fr": "Perdu : {name}", "en": "Lost: {name}"},
    "pipeline.lost_reason": {"fr": "Raison de la perte", "en": "Why it was lost"},
    "pipeline.competitor": {"fr": "Concurrent (facultatif)", "en": "Competitor (optional)"},
    "pipeline.reason_needed": {
        "fr": "Dites pourquoi c'est perdu : la raison est obligatoire.",
        "en": "Say why it was lost: the reason is required.",
    },
    "pipeline.lost_to": {"fr": "{reason} · {competitor}", "en": "{reason} · {competitor}"},
    "pipeline.save": {"fr": "Enregistrer", "en": "Save"},
    "pipeline.cancel": {"fr": "Annuler", "en": "Cancel"},
    "pipeline.moved": {"fr": "{name} : {stage}", "en": "{name}: {stage}"},
    "dash.account_cycle": {"fr": "Lead → client (médiane, j)", "en": "Lead to customer (median, days)"},
}
