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
DEFAULT_DATABASE_URL = "sqlite:///./assent.db"
_NAMES = ("ASSENT_PUBLIC_URL", SERVED_URL_ENV, DATABASE_URL_ENV)


@dataclass(frozen=True, slots=True)
class Settings:
    public_url: str | None  # ASSENT_PUBLIC_URL: where people reach the server (behind a proxy: https)
    served_url: str | None  # the address `assent serve` listens on, when it runs
    database_url: str | None  # ASSENT_DATABASE_URL, as given (checked where an engine is made)

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


@lru_cache(maxsize=8)
def _parse(values: tuple[str | None, ...]) -> Settings:
    public, served, database = ((v or "").strip() or None for v in values)
    return Settings(
        public_url=public and public.rstrip("/"), served_url=served and served.rstrip("/"), database_url=database
    )
