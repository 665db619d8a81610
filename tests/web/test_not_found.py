"""An unknown address is answered in the caller's own form: a page for a person's browser (the
console and the public pages), a JSON:API error for the API and plain text for the webhooks."""

from __future__ import annotations

import httpx
import pytest

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize("path", ["/console/no-such-page", "/preferences/x/y/z", "/nowhere", "/"])
def test_unknown_page_address_is_an_html_page(server, path: str) -> None:
    r = httpx.get(server.base_url + path, headers=BROWSER)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "Page not found" in r.text
    assert r.headers["cache-control"] == "no-store"


def test_wrong_method_on_a_page_is_an_html_page(server) -> None:
    r = httpx.delete(server.base_url + "/console/login", headers=BROWSER)
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("text/html")
    assert "This page cannot do that" in r.text


@pytest.mark.parametrize("path", ["/api/no-such-endpoint", "/api", "/client/nothing-here"])
def test_unknown_api_address_is_a_json_api_error(server, path: str) -> None:
    # Even when a browser asks: the API's paths always answer in JSON:API.
    for headers in (BROWSER, {}):
        r = httpx.get(server.base_url + path, headers=headers)
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/vnd.api+json")
        assert r.json()["errors"][0]["code"] == "not_found"


def test_an_unknown_page_address_without_a_browser_is_a_json_api_error(server) -> None:
    r = httpx.get(server.base_url + "/console/no-such-page", headers={"Accept": "application/json"})
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"
