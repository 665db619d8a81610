"""Assent's settings from the environment, typed, in one place.

Every layer may import this module (it imports nothing of Assent's). The environment is parsed
once per distinct set of values, so a test or a server that changes a variable sees the change
without anyone re-reading the environment by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

# Where `assent serve` listens unless told otherwise.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# Set by `assent serve` for its worker processes: the address it listens on, the link base when
# ASSENT_PUBLIC_URL is not set. Not meant to be set by hand.
SERVED_URL_ENV = "ASSENT_SERVED_URL"
DATABASE_URL_ENV = "ASSENT_DATABASE_URL"
PUBLIC_URL_ENV = "ASSENT_PUBLIC_URL"
LEDGER_KEY_ENV = "ASSENT_LEDGER_KEY"  # named in errors: where the checkpoint signing key is looked for
# Set by `assent serve --workers N` for its processes: where they tell each other how busy they are.
CONNECTIONS_DIR_ENV = "ASSENT_CONNECTIONS_DIR"
DEFAULT_DATABASE_URL = "sqlite:///./assent.db"
# Every ASSENT_* variable the product reads (the tests' ASSENT_TEST_* ones are the tests' own).
_NAMES = (
    PUBLIC_URL_ENV,
    SERVED_URL_ENV,
    DATABASE_URL_ENV,
    "ASSENT_SMTP_URL",
    "ASSENT_REDIS_URL",
    "ASSENT_SECRET_KEY",
    "ASSENT_SNS_TRUSTED_HOSTS",
    "ASSENT_RATE_LIMIT_SCALE",
    "ASSENT_SIGNUP_RATE_LIMIT",
    "ASSENT_HANDLER_THREADS",
    "ASSENT_WEBHOOK_ALLOW_HOSTS",
    "ASSENT_WEBHOOK_TIMEOUT",
    "ASSENT_CONSOLE_IDLE_MINUTES",
    "ASSENT_CONSOLE_UPLOAD_DIR",
    LEDGER_KEY_ENV,
    "ASSENT_ERASURE_KEY",
    CONNECTIONS_DIR_ENV,
)


@dataclass(frozen=True, slots=True)
class Settings:
    public_url: str | None  # ASSENT_PUBLIC_URL: where people reach the server (behind a proxy: https)
    served_url: str | None  # the address `assent serve` listens on, when it runs
    database_url: str | None  # ASSENT_DATABASE_URL, as given (checked where an engine is made)
    smtp_url: str | None  # ASSENT_SMTP_URL: smtp://user:pass@host:587 or smtps://…; unset holds email
    redis_url: str | None  # ASSENT_REDIS_URL: where rate-limit counters live (else the database)
    secret_key: str | None  # ASSENT_SECRET_KEY: the pepper for key digests and link signatures
    sns_trusted_hosts: frozenset[str]  # ASSENT_SNS_TRUSTED_HOSTS: extra hosts for SNS certificates
    signup_rate_limit: int  # ASSENT_SIGNUP_RATE_LIMIT: signup posts per client IP a minute (0: none)
    handler_threads: int  # ASSENT_HANDLER_THREADS: threads per server process running handlers
    rate_limit_scale_text: str  # ASSENT_RATE_LIMIT_SCALE as given; see rate_limit_scale
    # ASSENT_WEBHOOK_ALLOW_HOSTS: webhook hosts that may be http and resolve to private addresses
    webhook_allow_hosts: frozenset[str]
    webhook_timeout: float  # ASSENT_WEBHOOK_TIMEOUT: seconds a webhook endpoint has to answer (default 10)
    console_idle_minutes: int = 30  # ASSENT_CONSOLE_IDLE_MINUTES: a console session ends after this idle time
    console_upload_dir: str | None = None  # ASSENT_CONSOLE_UPLOAD_DIR: where console imports keep their files
    ledger_key: str | None = None  # ASSENT_LEDGER_KEY: the Ed25519 private key (PEM file) checkpoints are signed with
    # ASSENT_ERASURE_KEY: the HMAC key of erasure tombstones (else one made for the database once)
    erasure_key: str | None = None
    connections_dir: str | None = None  # set by `assent serve --workers N` (wire/connections.py)

    @property
    def rate_limit_scale(self) -> float:
        """The multiplier of Klaviyo's published limits (default 100; 0 or "off": no limits). A bad
        value is refused where limits are made, so it cannot stop commands that use none."""
        raw = self.rate_limit_scale_text.strip().lower()
        if raw in ("off", "none", ""):
            return 0.0
        try:
            return max(float(raw), 0.0)
        except ValueError:
            raise ValueError(f"ASSENT_RATE_LIMIT_SCALE must be a number or 'off', not {raw!r}") from None

    @property
    def link_base(self) -> str:
        """The scheme, host and port that links in emails, pages and the CLI start with."""
        return self.public_url or self.served_url or listen_url(DEFAULT_HOST, DEFAULT_PORT)

    @property
    def link_base_source(self) -> str:
        if self.public_url:
            return "ASSENT_PUBLIC_URL"
        if self.served_url:
            return "the address assent serve listens on"
        return "assent serve's default address"

    def link_warning(self) -> str | None:
        """Why links built from `link_base` won't work for real recipients, or None."""
        if self.link_base.startswith("https://"):
            return None
        return (
            f"links start with {self.link_base} ({self.link_base_source}), which is not https: mail clients "
            "refuse one-click unsubscribe over http; set ASSENT_PUBLIC_URL to the https address people reach"
        )


def listen_url(host: str, port: int) -> str:
    """The http URL of a listening address (IPv6 in brackets; all interfaces shown as loopback)."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1" if host != "::" else "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def settings() -> Settings:
    return _parse(tuple(os.environ.get(name) for name in _NAMES))


def public_url() -> str | None:
    """settings().public_url from its one variable: what every API request builds its links from,
    without reading all the others."""
    return _public(os.environ.get(PUBLIC_URL_ENV))


@lru_cache(maxsize=8)
def _public(raw: str | None) -> str | None:
    value = (raw or "").strip()
    return value.rstrip("/") if value else None


def _int(raw: str | None, default: int, least: int) -> int:
    try:
        return max(least, int(raw)) if raw is not None else default
    except ValueError:
        return default


@lru_cache(maxsize=8)
def _parse(values: tuple[str | None, ...]) -> Settings:
    public, served, database, smtp, redis, secret, sns, scale, signup, threads, *rest = values
    hook_hosts, hook_timeout, idle, uploads, ledger_key, erasure, connections_dir = rest
    public, served, database, redis = ((v or "").strip() or None for v in (public, served, database, redis))
    return Settings(
        public_url=public and public.rstrip("/"),
        served_url=served and served.rstrip("/"),
        database_url=database,
        smtp_url=smtp or None,
        redis_url=redis,
        secret_key=secret or None,
        sns_trusted_hosts=frozenset(h.strip().lower() for h in (sns or "").split(",") if h.strip()),
        signup_rate_limit=_int(signup, 10, 0),
        handler_threads=_int(threads, 2, 1),
        rate_limit_scale_text="100" if scale is None else scale,
        webhook_allow_hosts=_hosts(hook_hosts),
        webhook_timeout=_seconds(hook_timeout, 10.0),
        console_idle_minutes=_int(idle, 30, 1),
        console_upload_dir=(uploads or "").strip() or None,
        ledger_key=(ledger_key or "").strip() or None,
        erasure_key=(erasure or "").strip() or None,
        connections_dir=connections_dir or None,
    )


def _hosts(raw: str | None) -> frozenset[str]:
    # Host names or addresses, comma separated; IPv6 addresses without brackets.
    return frozenset(h.strip().lower().strip("[]") for h in (raw or "").split(",") if h.strip())


def _seconds(raw: str | None, default: float) -> float:
    try:
        value = float(raw) if raw is not None else default
    except ValueError:
        return default
    return value if 0 < value <= 300 else default
