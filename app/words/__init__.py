"""The app's words by screen, beyond the common ones in `app.i18n`: each module holds a
`MESSAGES` dict of key -> {"fr": ..., "en": ...} that `app.i18n` merges into its own."""
