"""Every operation the server answers, gathered from the resource modules, and what runs beside
them (the bulk-job runner)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine

from . import (
    audiences,
    consent,
    consent_texts,
    events,
    imports,
    links,
    lists,
    openapi,
    privacy,
    profiles,
    proofs,
    push_tokens,
    segments,
    sends,
    subscriptions,
    suppressions,
    webhooks,
)
from .operation import Operation

MODULES = (
    profiles,
    subscriptions,
    suppressions,
    imports,
    lists,
    segments,
    events,
    consent,
    consent_texts,
    proofs,
    sends,
    push_tokens,
    links,
    webhooks,
    audiences,
    privacy,
)


def operations() -> list[Operation]:
    return [op for module in MODULES for op in module.OPERATIONS]


def openapi_document(ops: list[Operation]) -> dict[str, Any]:
    return openapi.document(ops)


@asynccontextmanager
async def background(engine: Engine) -> AsyncIterator[None]:
    """Run queued bulk jobs, deliver queued messages and webhooks, and queue each account's daily
    retention erasure while the server runs; stop them (they resume later) when it stops."""
    from ..services.jobs.worker import JobRunner
    from ..services.privacy.retention import RetentionScheduler
    from ..services.shared.background import BackgroundLoop
    from ..services.shared.outbox import Deliverer
    from ..services.webhooks.delivery import Deliverer as WebhookDeliverer

    workers: list[BackgroundLoop] = [
        JobRunner(engine), Deliverer(engine), WebhookDeliverer(engine), RetentionScheduler(engine)
    ]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            await anyio.to_thread.run_sync(functools.partial(worker.stop, 30.0))
