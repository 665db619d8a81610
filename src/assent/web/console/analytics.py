"""The console's analytics page: growth, opt-outs, suppressions, complaint and bounce rates per day
or week, unsubscribe reasons and opt-out rates per message, each chart with its table and a CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...domain import DomainError
from ...services.console import analytics as service
from ...services.shared.clock import utcnow
from . import charts
from .common import guarded, page, refused
from .session import Session

TABLES = ("periods", "reasons", "messages")


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 3)


def _query(request: Request) -> tuple[dict[str, str], date, date]:
    q = request.query_params
    today = utcnow().date()
    asked = {
        "channel": q.get("channel", "email"),
        "every": q.get("every", "day"),
        "from": q.get("from", (today - timedelta(days=29)).isoformat()),
        "to": q.get("to", today.isoformat()),
    }
    try:
        start, end = date.fromisoformat(asked["from"]), date.fromisoformat(asked["to"])
    except ValueError:
        raise DomainError("from", "give dates as YYYY-MM-DD") from None
    return asked, start, end


def _rows(report: service.Report, table: str) -> tuple[list[str], list[list[Any]]]:
    if table == "periods":
        head = ["period", "subscribed", "unsubscribed", "net", "sent", "complaint_rate_pct", "bounce_rate_pct",
                *service.SUPPRESSION_REASONS]  # fmt: skip
        return head, [[p.start.isoformat(), p.subscribed, p.unsubscribed, p.net, p.sent, _pct(p.complaint_rate),
                       _pct(p.bounce_rate), *(p.suppressions.get(r, 0) for r in service.SUPPRESSION_REASONS)]
                      for p in report.periods]  # fmt: skip
    if table == "reasons":
        return ["reason", "text", "optouts"], [[r.reason or "", r.note or "", r.count] for r in report.reasons]
    return ["message_id", "optouts", "sent", "optout_rate_pct"], [
        [m.message_id, m.optouts, m.sent, _pct(m.rate)] for m in report.messages]  # fmt: skip


# A cell that starts with one of these is read as a formula by spreadsheet programs; what the
# public typed (an unsubscribe reason's text) must open as the text it is (OWASP's CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _as_text(value: Any) -> Any:
    """A cell for a spreadsheet: text that would start a formula gets a leading apostrophe."""
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def routes(engine: Engine) -> list[BaseRoute]:
    async def load(request: Request, s: Session) -> tuple[dict[str, str], service.Report]:
        asked, start, end = _query(request)
        found = await anyio.to_thread.run_sync(
            service.report, engine, s.user.account_id, asked["channel"], start, end, asked["every"])  # fmt: skip
        return asked, found

    async def overview(request: Request, s: Session, form: FormData | None) -> Response:
        try:
            asked, report = await load(request, s)
        except DomainError as e:
            asked = {k: request.query_params.get(k, "") for k in ("channel", "every", "from", "to")}
            error = f"{e.message[:1].upper()}{e.message[1:]}."
            return page(request, s, "analytics.html", {"asked": asked, "error": error, "nav": "analytics", "r": None},
                        400)  # fmt: skip
        labels = [p.start.strftime("%b %d") for p in report.periods]
        sup = {r: [p.suppressions.get(r, 0) for p in report.periods] for r in service.SUPPRESSION_REASONS
               if any(p.suppressions.get(r) for p in report.periods)}  # fmt: skip
        line = service.COMPLAINT_LINE * 100
        figures = {
            "growth": charts.bars("New subscriptions and unsubscribes", labels, {
                "Subscribed": [p.subscribed for p in report.periods],
                "Unsubscribed": [p.unsubscribed for p in report.periods]}),
            "net": charts.lines("Net growth", labels, {"Net growth": [p.net for p in report.periods]}),
            "suppressions": charts.bars("Suppressions by reason", labels, sup, stacked=True) if sup else None,
            "rates": charts.lines("Complaint and bounce rates", labels, {
                "Complaint rate": [_pct(p.complaint_rate) for p in report.periods],
                "Bounce rate": [_pct(p.bounce_rate) for p in report.periods],
                "0.3% line": [line for _ in report.periods]}, percent=True),
            "reasons": charts.horizontal("Unsubscribe reasons", [
                (r.reason or "no reason given", r.count) for r in _by_reason(report.reasons)])
            if report.reasons else None,
        }  # fmt: skip
        return page(request, s, "analytics.html", {"asked": asked, "r": report, "figures": figures, "nav": "analytics",
                                                   "reasons_grouped": _by_reason(report.reasons),
                                                   "line": service.COMPLAINT_LINE})  # fmt: skip

    async def download(request: Request, s: Session, form: FormData | None) -> Response:
        table = request.path_params["table"]
        if table not in TABLES:
            return refused(request, s, 404, "No such table", "The tables are periods, reasons and messages.")
        try:
            asked, report = await load(request, s)
        except DomainError as e:
            return refused(request, s, 400, "These dates cannot be read", e.message)
        head, rows = _rows(report, table)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(head)
        writer.writerows([_as_text(v) for v in row] for row in rows)
        name = f"{table}-{asked['channel']}-{report.start}-{report.end}.csv"
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip

    return [
        Route("/console/analytics", guarded(engine, overview)),
        Route("/console/analytics/{table}.csv", guarded(engine, download)),
    ]


def _by_reason(reasons: list[service.Reason]) -> list[service.Reason]:
    """The fixed reasons summed (their free texts apart in the table)."""
    totals: dict[str | None, int] = {}
    for r in reasons:
        totals[r.reason] = totals.get(r.reason, 0) + r.count
    return [service.Reason(k, None, v) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])]
