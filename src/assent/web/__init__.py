"""The staff console, public pages and inbound webhooks: confirm, unsubscribe, preference centre, signup forms, SMS
keywords, bounces and complaints. Server-rendered HTML that works without JavaScript."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.routing import BaseRoute

from ..services.shared.ratelimits import Windows
from . import confirm, console, email_events, preferences, push_tokens, signup, sms, unsubscribe
from .pages import Refused, refused

MODULES = (confirm, unsubscribe, preferences, signup, push_tokens, sms, email_events)


def routes(engine: Engine, windows: Windows) -> list[BaseRoute]:
    """Every page's and webhook's routes; `windows` hold the signup's per-address counters."""
    out: list[BaseRoute] = []
    for module in MODULES:
        out += module.routes(engine, windows) if module in (signup, push_tokens) else module.routes(engine)
    # The staff console; its sign-in attempts are counted in `windows` too.
    return out + console.routes(engine, windows)


# What the composing app registers, so that a refused body is answered the pages' way everywhere.
EXCEPTION_HANDLERS = {Refused: refused}
