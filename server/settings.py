"""The central server's settings, read once from `TERRAIN_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServerSettings", "get_settings"]


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TERRAIN_", extra="ignore")

    #: Where the SQLite database and the generated signing key live when nothing else is set.
    server_data_dir: Path = Path(user_data_dir("terrain-server", appauthor=False))
    #: `sqlite:///path` or `postgresql+psycopg://user@host/db`; SQLite in server_data_dir if unset.
    database_url: str = ""
    #: Signs access tokens. Several server processes must share it; generated once if unset.
    secret_key: str = ""
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    #: A quote whose discounts (its lines' and its own) take more than this share off its prices
    #: (basis points: 1500 is 15 %) waits for a manager's approval before it can be sent.
    quote_approval_discount_bp: int = 1500
    #: Sign-ins are refused for a while after this many wrong passwords for one user name, or
    #: from one address, within the window.
    login_failures_per_user: int = 10
    login_failures_per_address: int = 50
    login_window_minutes: int = 15
    #: The largest request body taken (a push of 500 changes is far below); more is a 413.
    max_request_bytes: int = 8 * 1024 * 1024
    pull_page_max: int = 5000
    #: Threads per server process that run requests (each holds a database connection while it
    #: works); more than a handful only wait for Python's interpreter lock.
    request_threads: int = Field(default=8, ge=1, le=200)
    #: PostgreSQL connections each server process keeps open; a request waits (holding no
    #: thread) while all are busy. Mind PostgreSQL's max_connections across processes.
    database_pool_size: int = Field(default=15, ge=1, le=1000)
    pull_page_default: int = 1000
    #: The SMTP server the reps' e-mails leave through; empty: mail is off and e-mails wait.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    #: Upgrade the connection with STARTTLS (port 587), or speak TLS from the start (port 465).
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_seconds: float = 30.0
    #: The sender's address (the rep's name is shown beside it, replies go to the rep's own).
    mail_from: str = ""
    #: How often the server process looks for e-mails to send (a push of e-mails wakes it too).
    mail_interval_seconds: float = 30.0
    #: GET /metrics then needs `Authorization: Bearer <this>`; empty: /metrics is open (scrape it
    #: from inside the network, block it at the proxy).
    metrics_token: str = ""
    #: `terrain-server serve`'s log lines: `json` (one object a line, for a log collector) or `text`
    #: (for a person at a terminal); and from which level (debug, info, warning, error).
    log_format: Literal["json", "text"] = "json"
    log_level: str = "info"

    def resolved_mail_from(self) -> str:
        """The sender's address: MAIL_FROM, else the SMTP user name when it is an address."""
        if self.mail_from:
            return self.mail_from
        if "@" in self.smtp_username:
            return self.smtp_username
        return f"terrain@{self.smtp_host or 'localhost'}"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.server_data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.server_data_dir / 'terrain-server.db'}"

    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        key_file = self.server_data_dir / "secret_key"
        if not key_file.exists():
            import secrets

            self.server_data_dir.mkdir(parents=True, exist_ok=True)
            key_file.touch(mode=0o600)
            key_file.write_text(secrets.token_urlsafe(48))
        return key_file.read_text().strip()


@lru_cache
def get_settings() -> ServerSettings:
    return ServerSettings()
