"""An API operation: its path, scopes, limits and body type, and the handler that serves it.
The same table builds the routes and the OpenAPI document."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from ..services.accounts.accounts import ApiKey
from ..services.shared.paging import PagePosition
from ..wire.errors import ApiError, invalid
from . import paging
from .filters import Condition, FieldRule, FilterError, Sort, check_filter, parse_filter, parse_sort


@dataclass(frozen=True, slots=True)
class Param:
    """A query parameter, for the OpenAPI document."""

    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True, slots=True)
class Lean:
    """How a GET operation answers its plain requests on the lean path: `plan` reads the query's
    values (the last of each name) into what `answer` needs, or None where the general path must
    answer (a 400 to give, or a case the lean path does not take); `answer` makes the 200's body
    from (engine, key, path parameters, plan, link base, self link), raising what a handler raises
    (an ApiError, a DomainError) to give an error document instead."""

    plan: Callable[[dict[str, str]], Any]
    answer: Callable[[Engine, ApiKey, dict[str, str], Any, str, str], bytes]


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # Klaviyo's path, without a trailing slash; served with and without one
    operation_id: str
    handler: Callable[[Call], Response]  # runs in a worker thread: it may block on the database
    scopes: tuple[str, ...]
    burst: int  # Klaviyo's limits per second and per minute
    steady: int
    summary: str
    body: type | None = None  # the msgspec Struct the request body decodes into
    status: int = 200
    params: tuple[Param, ...] = ()
    also: tuple[int, ...] = ()  # other 2xx statuses it answers with the same document (e.g. 200 on update)
    response: type | None = None  # the document type of a 2xx body, for the OpenAPI document
    tag: str = "Profiles"
    # Whether this request may be answered on the event loop, without a handler thread, where the
    # database reads in microseconds (SQLite's WAL readers never wait on a writer); e.g. a single
    # profile read or a keyset page on an index, not one that also evaluates segments or may scan.
    inline: Callable[[Request], bool] | None = None
    # A plain, successful GET answered without Starlette's router, Request and Response (see
    # app.LeanReads); any other request to the operation takes the general path.
    lean: Lean | None = None
    # Adds a remedy to the error of a body that does not decode (a common mistake, and what to do
    # instead), keeping its status and pointer; returns the error as it is otherwise.
    explain: Callable[[ApiError], ApiError] | None = None


# A path (the router's decoded one) and a query string that request.url would take as they are:
# printable ASCII, one leading slash, none of the characters it escapes in a path, no '#' (where it
# would split the URL). A self link is made of them without building request.url; anything else
# goes through request.url.
_PLAIN_PATH = re.compile(r'/(?!/)[!"$->@-\[\]-~]*')
_PLAIN_QUERY = re.compile(rb'[!"$-~]*')
# query string -> (the last value of each parameter, as request.query_params.get answers; the query
# part of a self link; whether the query string is plain). Clients repeat a few query strings;
# paging cursors make new ones, so it is cleared when it grows.
_queries: dict[bytes, tuple[dict[str, str], str, bool]] = {}


def _parsed(raw: bytes) -> tuple[dict[str, str], str, bool]:
    found = _queries.get(raw)
    if found is None:
        params = QueryParams(raw)
        # The parameters encoded as links.next encodes them, and as Klaviyo writes its links
        # (`page%5Bsize%5D=5`), whatever escaping the client chose.
        encoded = urlencode(params.multi_items())
        found = (dict(params), f"?{encoded}" if encoded else "", _PLAIN_QUERY.fullmatch(raw) is not None)
        if len(_queries) >= 1024:
            _queries.clear()
        _queries[raw] = found
    return found


def query_values_of(raw: bytes) -> dict[str, str]:
    """query_values of a request with this raw query string."""
    return _parsed(raw)[0]


def query_values(request: Request) -> dict[str, str]:
    """The request's query parameters, the last value of each name (as request.query_params.get
    answers them), parsed once per query string rather than once per request."""
    return _parsed(request.scope["query_string"])[0]


def plain_self_path(path: str, raw_query: bytes) -> str | None:
    """self_path of a request with this (decoded) path and raw query string when both are plain,
    else None."""
    _, tail, plain = _parsed(raw_query)
    return path + tail if plain and _PLAIN_PATH.fullmatch(path) is not None else None


def self_path(request: Request) -> str:
    """A self link without the scheme and host: the path as request.url has it, then the query's
    parameters percent-encoded as links.next has them (`?page%5Bsize%5D=5&page%5Bcursor%5D=…`),
    however the client escaped them."""
    raw = request.scope["query_string"]
    return plain_self_path(request.scope["path"], raw) or request.url.path + _parsed(raw)[1]


def listed(values: dict[str, str], name: str) -> list[str]:
    """A comma-separated query parameter's values, blanks left out."""
    raw = values.get(name)
    return [v.strip() for v in raw.split(",") if v.strip()] if raw else []


@dataclass(slots=True)
class Call:
    """One request, authenticated, as a handler sees it."""

    request: Request
    engine: Engine
    key: ApiKey
    path: dict[str, str]
    body: Any
    base_url: str  # scheme, host and port, without a trailing slash

    @property
    def account_id(self) -> str:
        return self.key.account_id

    def query(self, name: str) -> str | None:
        return query_values(self.request).get(name)

    def listed(self, name: str) -> list[str]:
        return listed(query_values(self.request), name)

    def only(self, params: tuple[Param, ...]) -> None:
        """Refuse a query parameter the listing does not take (400 naming it): ignored, `sort=-seq`
        would give the oldest events to a client that asked for the newest."""
        known = {p.name for p in params}
        for name in query_values(self.request):
            if name not in known:
                takes = ", ".join(sorted(known))
                raise invalid(f"{name} is not a parameter of this listing; it takes {takes}", parameter=name)

    def page_size(self, default: int, maximum: int) -> int:
        raw = self.query("page[size]")
        if raw is None:
            return default
        size = whole_number(raw)
        if size is None:
            raise invalid(f"page[size] must be a whole number from 1 to {maximum}", parameter="page[size]")
        if not 1 <= size <= maximum:
            raise invalid(f"page[size] must be from 1 to {maximum}, not {size}", parameter="page[size]")
        return size

    def cursor(self) -> paging.Cursor | None:
        return paging.read_cursor(self.query("page[cursor]"))

    def filter(self, allowed: dict[str, FieldRule]) -> list[Condition]:
        raw = self.query("filter")
        if raw is None:
            return []
        try:
            return check_filter(parse_filter(raw, allowed), allowed)
        except FilterError as e:
            raise invalid(e.detail, parameter="filter") from None

    def sort(self, allowed: tuple[str, ...], default: str) -> Sort:
        try:
            return parse_sort(self.query("sort"), allowed, default)
        except FilterError as e:
            raise invalid(e.detail, parameter="sort") from None

    def fields(self, resource_type: str) -> list[str] | None:
        return self.listed(f"fields[{resource_type}]") or None

    def checked_fields(self, resource_type: str, allowed: tuple[str, ...]) -> list[str] | None:
        """`fields[resource_type]`, each name one of `allowed` or a dotted path under one; any other
        is a 400 naming the parameter (an unknown name would otherwise give empty attributes)."""
        fields = self.fields(resource_type)
        name = f"fields[{resource_type}]"
        unknown = sorted({f for f in fields or () if f not in allowed and f.partition(".")[0] not in allowed})
        if unknown:
            raise invalid(f"{name} may name {', '.join(allowed)}; not {', '.join(unknown)}", parameter=name)
        return fields

    def additional_fields(self, resource_type: str, allowed: tuple[str, ...]) -> set[str]:
        name = f"additional-fields[{resource_type}]"
        asked = set(self.listed(name))
        unknown = sorted(asked - set(allowed))
        if unknown:
            raise invalid(f"{name} may be {', '.join(allowed)}; not {', '.join(unknown)}", parameter=name)
        return asked

    def include(self, allowed: tuple[str, ...]) -> set[str]:
        asked = set(self.listed("include"))
        unknown = sorted(asked - set(allowed))
        if unknown:
            choices = ", ".join(allowed) if allowed else "nothing here"
            raise invalid(f"include may be {choices}; not {', '.join(unknown)}", parameter="include")
        return asked

    def url(self, path: str, query: dict[str, str] | None = None) -> str:
        tail = f"?{urlencode(query)}" if query else ""
        return f"{self.base_url}{path}{tail}"

    def self_link(self) -> str:
        return self.base_url + self_path(self.request)

    def page_links(self, page: PagePosition) -> dict[str, str]:
        """links.self, links.next and links.prev of a collection, as absolute URLs."""
        url = f"{self.base_url}{self.request.url.path}"
        return page_links(url, self.request.query_params.multi_items(), self.self_link(), page)


def page_links(url: str, params: list[tuple[str, str]], self_link: str, page: PagePosition) -> dict[str, str]:
    """links.self, links.next and links.prev of a collection page at `url` (scheme, host and path)
    asked with query parameters `params` (every one, in order, repeated ones too)."""
    kept = [(k, v) for k, v in params if k != "page[cursor]"]

    def link(cursor: str) -> str:
        return f"{url}?{urlencode([*kept, ('page[cursor]', cursor)])}"

    # At the ends `next`/`prev` are left out: Klaviyo's schema types them as strings, not null.
    links = {"self": self_link}
    if page.has_next and page.last:
        links["next"] = link(paging.write_cursor("n", page.last))
    if page.has_prev and page.first:
        links["prev"] = link(paging.write_cursor("p", page.first))
    return links


def query_page_links(url: str, query: str, self_link: str, page: PagePosition) -> dict[str, str]:
    """page_links of a page asked with the query string `query`: what the links share is worked out
    once per url and query (parsing and encoding the query costs more than a page's cursors)."""
    # Each page's query differs by its cursor alone: the cursor's parameter is left out of the key.
    rest = "&".join(p for p in query.split("&") if not p.startswith(_CURSOR_PARAMETERS))
    prefix = _link_prefix(url, rest)
    links = {"self": self_link}
    if page.has_next and page.last:
        links["next"] = prefix + urlencode([("page[cursor]", paging.write_cursor("n", page.last))])
    if page.has_prev and page.first:
        links["prev"] = prefix + urlencode([("page[cursor]", paging.write_cursor("p", page.first))])
    return links


_CURSOR_PARAMETERS = ("page%5Bcursor%5D=", "page[cursor]=")


@functools.lru_cache(maxsize=1024)
def _link_prefix(url: str, query: str) -> str:
    """What page_links' next and prev links start with, for a page at `url` asked with `query`: the
    query's parameters but the cursor, encoded, then the cursor's (urlencode joins pairs with &)."""
    kept = urlencode([(k, v) for k, v in QueryParams(query).multi_items() if k != "page[cursor]"])
    return f"{url}?{kept}&" if kept else f"{url}?"


def whole_number(raw: str) -> int | None:
    """`raw` as a whole number written in ASCII digits, else None: int() also reads "5_0", " 5" and
    other scripts' digits, which no client means as a page size."""
    return int(raw) if raw.isascii() and raw.isdigit() else None
