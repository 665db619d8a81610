"""The link base, self link and query parameters the API works out from the ASGI scope (once per
Host header, once per query string) are what Starlette's request.url and request.query_params give
(a self link's query is those parameters percent-encoded, as links.next encodes them), on random
scopes: odd hosts and ports, no Host header, escaped and unescaped paths, query strings with
repeated names, '#', spaces, controls and non-ASCII bytes; asked twice, so both the first answer
and the remembered one are checked."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from assent.api.app import base_url
from assent.api.operation import query_values, self_path

_pieces = st.sampled_from(["api", "profiles", "01J0ABCDEF", "a b", "?", "#", "\\", "%2F", "é", ":", "[", "]", "//", ""])
paths = st.one_of(
    st.lists(_pieces, max_size=5).map(lambda parts: "/" + "/".join(parts)),
    st.text(max_size=20).map(lambda t: "/" + t),
    st.text(max_size=10),
)
_query_chars = st.sampled_from(
    [b"a", b"=", b"&", b"%5B", b"[", b"]", b"+", b"#", b" ", b"\t", b"\xc3\xa9", b"\xff", b"%"]
)
queries = st.one_of(
    st.sampled_from([b"", b"additional-fields%5Bprofile%5D=subscriptions", b"a=1&a=2", b"fields[profile]=email,x"]),
    st.lists(_query_chars, max_size=12).map(b"".join),
)
hosts = st.one_of(
    st.none(),
    st.sampled_from([b"127.0.0.1:8000", b"example.com", b"[::1]:8080", b"example.com:99999", b"a/b", b"x?y", b""]),
    st.binary(max_size=12),
)
servers = st.one_of(st.none(), st.tuples(st.sampled_from(["127.0.0.1", "::1", "example.com"]), st.integers(1, 65535)))


def _scope(scheme: str, host: bytes | None, server: Any, path: str, query: bytes) -> dict[str, Any]:
    headers = [(b"accept", b"*/*")] + ([] if host is None else [(b"host", host)])
    return {"type": "http", "method": "GET", "scheme": scheme, "server": server, "path": path,
            "query_string": query, "headers": headers}  # fmt: skip


def _outcome(f: Any, request: Request) -> tuple[str, Any]:
    try:
        return "ok", f(request)
    except Exception as e:  # Starlette's own failure on a hostile scope must stay the same failure
        return "error", type(e)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["http", "https"]), hosts, servers, paths, queries)
def test_links_and_query_from_the_scope_are_starlettes(scheme, host, server, path, query) -> None:
    scope = _scope(scheme, host, server, path, query)
    expected_url = _outcome(lambda r: r.url, Request(scope))
    expected_query = _outcome(lambda r: {name: r.query_params.get(name) for name in r.query_params}, Request(scope))
    for _ in range(2):
        request = Request(scope)
        if expected_url[0] == "ok":
            url = expected_url[1]
            assert base_url(request) == f"{url.scheme}://{url.netloc}"
            query = urlencode(request.query_params.multi_items())
            assert self_path(request) == url.path + (f"?{query}" if query else "")
        else:
            assert _outcome(self_path, request) == expected_url
        assert _outcome(query_values, request) == expected_query
