"""The GET-one-profile floor: a raw ASGI app, no framework, served by uvicorn with the same settings
as `assent serve` over the same SQLite file in the same run (bench/api_bench.py starts it).

GET /profiles/{id} reads the profile row, its consents and suppressions with the bare sqlite3
driver on the event loop and answers a JSON:API-shaped document encoded by msgspec: the work the
endpoint cannot avoid, without authentication, routing, threads or validation. Not part of the
package and not a way to serve anything.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

import msgspec

_encode = msgspec.json.encode
_PROFILE = "SELECT * FROM profiles WHERE account_id = ? AND id = ?"
_CONSENTS = (
    "SELECT channel, purpose, status, consent_timestamp, method, method_detail, custom_method_detail, double_optin, "
    "last_updated FROM consents WHERE account_id = ? AND profile_id = ?"
)
_SUPPRESSIONS = "SELECT reason, created_at FROM suppressions WHERE account_id = ? AND profile_id = ?"
_HEADERS = [(b"content-type", b"application/vnd.api+json")]
_db: sqlite3.Connection | None = None


def _connection() -> sqlite3.Connection:
    global _db
    if _db is None:
        _db = sqlite3.connect(os.environ["BENCH_FLOOR_DB"], isolation_level=None, check_same_thread=False)
        _db.execute("PRAGMA query_only = ON")
    return _db


def profile_document(db: sqlite3.Connection, account_id: str, profile_id: str) -> dict[str, Any] | None:
    cur = db.execute(_PROFILE, (account_id, profile_id))
    row = cur.fetchone()
    if row is None:
        return None
    names = [d[0] for d in cur.description]
    attributes = dict(zip(names, row, strict=True))
    consents = db.execute(_CONSENTS, (account_id, profile_id)).fetchall()
    suppressions = db.execute(_SUPPRESSIONS, (account_id, profile_id)).fetchall()
    attributes["subscriptions"] = {
        f"{c[0]}.{c[1]}": {"consent": c[2], "timestamp": c[3], "method": c[4], "method_detail": c[5],
                           "custom_method_detail": c[6], "double_optin": c[7], "last_updated": c[8]}
        for c in consents
    }  # fmt: skip
    attributes["suppression"] = [{"reason": r, "timestamp": t} for r, t in suppressions]
    return {"data": {"type": "profile", "id": profile_id, "attributes": attributes}}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    status, body = 404, b"{}"
    if path == "/ready":
        status = 200
    elif path.startswith("/profiles/"):
        doc = profile_document(_connection(), os.environ["BENCH_FLOOR_ACCOUNT"], path[10:].strip("/"))
        if doc is not None:
            status, body = 200, _encode(doc)
    await send({"type": "http.response.start", "status": status,
                "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
