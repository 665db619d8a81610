"""(being written) Durable bulk jobs."""

from __future__ import annotations

from sqlalchemy import Engine


class JobRunner:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
