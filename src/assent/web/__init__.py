"""Public pages and inbound webhooks: confirm, unsubscribe, preference centre, signup forms, SMS
keywords, bounces and complaints. Server-rendered HTML that works without JavaScript."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.routing import BaseRoute

from . import confirm, email_events, preferences, signup, sms, unsubscribe
from .pages import Refused, refused

MODULES = (confirm, unsubscribe, preferences, signup, sms, email_events)


def routes(engine: Engine) -> list[BaseRoute]:
    return [route for module in MODULES for route in module.routes(engine)]


# What the composing app registers, so that a refused body is answered the pages' way everywhere.
EXCEPTION_HANDLERS = {Refused: refused}
