"""Words of the follow-up screen (e-mails after an event), in French and English (merged by `app.i18n`)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "followup.title": {"fr": "E-mails de relance", "en": "Follow-up e-mails"},
    "followup.help": {
        "fr": "Relisez chaque e-mail, corrigez-le si besoin, décochez ceux à ne pas envoyer, puis Envoyer.",
        "en": "Read each e-mail, change it if need be, untick those not to send, then Send.",
    },
    "followup.nothing": {
        "fr": "Aucune relance à écrire : chaque personne a déjà eu la sienne ou n'a pas d'adresse e-mail.",
        "en": "No follow-up to write: everyone has had theirs or has no e-mail address.",
    },
    "followup.to": {"fr": "À : {name} <{address}> · {account}", "en": "To: {name} <{address}> · {account}"},
    "followup.language_fr": {"fr": "en français", "en": "in French"},
    "followup.language_en": {"fr": "en anglais", "en": "in English"},
    "followup.include": {"fr": "Envoyer à {name}", "en": "Send to {name}"},
    "followup.subject": {"fr": "Objet", "en": "Subject"},
    "followup.body": {"fr": "Message", "en": "Message"},
    "followup.send": {"fr": "Envoyer", "en": "Send"},
    "followup.none_ticked": {
        "fr": "Cochez au moins un e-mail à envoyer.",
        "en": "Tick at least one e-mail to send.",
    },
    "followup.queued": {
        "fr": "{count} e-mail(s) prêt(s) à partir : ils partent dès que le réseau est là.",
        "en": "{count} e-mail(s) queued: they leave as soon as the network is back.",
    },
    "followup.queued_one": {"fr": "En attente d'envoi", "en": "Waiting to be sent"},
    "followup.status_queued": {"fr": "en attente d'envoi", "en": "waiting to be sent"},
    "followup.status_sent": {"fr": "envoyé", "en": "sent"},
    "followup.status_failed": {"fr": "non envoyé : {reason}", "en": "not sent: {reason}"},
    "followup.held_title": {
        "fr": "Sans relance possible (à ne pas écrire par e-mail)",
        "en": "Not to be e-mailed",
    },
    "followup.held": {
        "fr": "{name} <{address}> · {account} : {reason}",
        "en": "{name} <{address}> · {account}: {reason}",
    },
    "followup.held_no_email_consent": {"fr": "pas de consentement e-mail", "en": "no e-mail consent"},
}
