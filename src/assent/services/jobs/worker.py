"""The bulk job runner: a daemon thread that runs queued jobs (`batches`) while a server runs,
woken at once when a job is queued."""

from __future__ import annotations

import logging
import weakref

from sqlalchemy import Engine

from ..shared.background import BackgroundLoop
from .batches import _Budget, _claim_next, _run_job

log = logging.getLogger("assent.jobs")

POLL_SECONDS = 0.2


_RUNNERS: weakref.WeakSet[JobRunner] = weakref.WeakSet()


def wake(engine: Engine) -> None:
    """Tell this process's runners on `engine` that a job was queued, so it starts at once."""
    for runner in list(_RUNNERS):
        if runner.engine is engine:
            runner.wake()


class JobRunner(BackgroundLoop):
    """Runs queued jobs in a daemon thread while a server runs."""

    thread_name = "assent-jobs"
    failure = "the bulk job runner could not look for work"

    def __init__(self, engine: Engine, poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__(poll_seconds, _RUNNERS, log)
        self.engine = engine
        self._budget = _Budget(None)

    def step(self) -> bool:
        claimed = _claim_next(self.engine)
        if claimed is None:
            return False
        _run_job(self.engine, *claimed, self.stopping, self._budget)
        return True

    def stop(self, timeout: float = 120.0) -> None:
        """Stop after the batch under way (its job is handed back, to resume on the next start)."""
        super().stop(timeout)
