"""Words about keeping this device's data safe, in French and English (merged by `app.i18n`).

`ENCRYPTION` holds the Settings switch that encrypts the replica at rest; other security words
go in their own dict below it, added to `MESSAGES`."""

from __future__ import annotations

#: The switch "Encrypt this device's data" in Settings (views/encryption.py).
ENCRYPTION: dict[str, dict[str, str]] = {
    "security.encrypt": {
        "fr": "Chiffrer les données de l'appareil",
        "en": "Encrypt this device's data",
    },
    "security.encrypt_help": {
        "fr": "Chiffre les clients gardés sur cet appareil ; la clé reste dans le trousseau sécurisé.",
        "en": "Encrypts the customers kept on this device; the key stays in the secure keyring.",
    },
    "security.encrypt_on_next_start": {
        "fr": "Les données seront chiffrées au prochain démarrage de Terrain.",
        "en": "The data will be encrypted when Terrain next starts.",
    },
    "security.encrypt_off_next_start": {
        "fr": "Les données seront déchiffrées au prochain démarrage de Terrain.",
        "en": "The data will be decrypted when Terrain next starts.",
    },
    "security.encrypt_forced": {
        "fr": "Réglé sur cet appareil par TERRAIN_ENCRYPT_REPLICA.",
        "en": "Set on this device by TERRAIN_ENCRYPT_REPLICA.",
    },
    "security.encrypt_unavailable": {
        "fr": "Le chiffrement des données n'est pas disponible sur cette plateforme.",
        "en": "Encrypting the data is not available on this platform.",
    },
    "security.encrypt_no_keyring_title": {
        "fr": "Aucun trousseau sécurisé",
        "en": "No secure keyring",
    },
    "security.encrypt_no_keyring": {
        "fr": "Cet appareil n'a pas de trousseau sécurisé pour garder la clé de chiffrement. La garder dans un "
        "fichier lisible par vous seul ? Cela protège moins : qui peut lire vos fichiers peut lire la clé.",
        "en": "This device has no secure keyring to keep the encryption key. Keep it in a file only you can "
        "read? That protects less: whoever can read your files can read the key.",
    },
    "security.encrypt_use_file": {
        "fr": "Garder la clé dans un fichier",
        "en": "Keep the key in a file",
    },
    "security.encrypt_cancel": {"fr": "Annuler", "en": "Cancel"},
    "security.encrypt_failed": {
        "fr": "La clé de chiffrement n'a pas pu être gardée : {reason}",
        "en": "The encryption key could not be kept: {reason}",
    },
}

MESSAGES: dict[str, dict[str, str]] = {**ENCRYPTION}
