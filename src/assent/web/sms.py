"""(being written)"""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.routing import BaseRoute


def routes(engine: Engine) -> list[BaseRoute]:
    return []
