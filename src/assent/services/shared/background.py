"""Work a server does in the background (queued bulk jobs, outbox delivery): one daemon thread per
worker that does a step of work, and waits between steps until woken or its interval passes."""

from __future__ import annotations

import logging
import threading
from collections.abc import MutableSet
from typing import Any


class BackgroundLoop:
    """Subclasses say what one step is (`step`, True when it did work and should go on at once)
    and call `wake()` (through their module) after a commit that queued work, so it starts now."""

    thread_name = "assent-worker"
    failure = "background work failed"  # logged with the traceback; the loop goes on

    def __init__(self, interval: float, registry: MutableSet[Any], log: logging.Logger) -> None:
        self.interval = interval
        self.registry = registry  # the running workers of this kind, that the module's wake() wakes
        self.log = log
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self.registry.add(self)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self, timeout: float) -> None:
        self.registry.discard(self)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before looking: work queued while we look wakes the next wait
            try:
                if self.step():
                    continue
            except Exception:  # noqa: BLE001 — e.g. the database away for a moment: try again later
                self.log.exception(self.failure)
            self._wake.wait(self.interval)
