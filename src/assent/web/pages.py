"""Rendering the public pages, and the proof a page request carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from ..domain import Proof

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    # Pages that act on a token must not be framed or cached by shared caches.
    headers = {"X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return templates.TemplateResponse(request, template, context or {}, status_code=status, headers=headers)


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The raw body, or None once it passes `limit` bytes (read no further: these endpoints are
    public, and signatures cover the exact bytes)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def proof_from(request: Request, source: str, **extra: Any) -> Proof:
    """Who did it and from where: the page, the IP and the user agent (personal data, kept apart)."""
    return Proof(
        source=source,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        **extra,
    )
