"""The console's settings page: the public id and signup snippet, and API keys created (shown
once, working against the API) and revoked by an owner only."""

from __future__ import annotations

import re

from assent.services.accounts import accounts
from assent.services.console import staff
from tests.api.conftest import make_client
from tests.web import test_console as base
from tests.web.test_console import _csrf, _login, _user

owner, viewer = base.owner, base.viewer  # the signed-in console clients, fixtures of this module too


def test_an_owner_creates_and_revokes_a_key_that_works_on_the_api(server, owner):
    page = owner.get("/console/settings")
    account = accounts.get_account(server.engine, owner.account_id)
    assert page.status_code == 200 and account.public_id in page.text and "company_id=" in page.text
    r = owner.post("/console/settings/keys", data={"csrf": _csrf(page.text), "label": "Shop",
                                                   "scopes": ["profiles:read", "lists:read"]})  # fmt: skip
    assert r.status_code == 200
    secret = re.search(r'id="new-key"[^>]*>(pk_[0-9a-f]+)<', r.text).group(1)
    with make_client(server.base_url, secret) as api:
        assert api.get("/api/profiles").status_code == 200
        assert api.get("/api/lists").status_code == 200
    key = next(k for k in accounts.list_keys(server.engine, owner.account_id) if k.label == "Shop")
    assert key.scopes == {"profiles:read", "lists:read"}
    assert secret not in owner.get("/console/settings").text  # shown once
    revoked = owner.post(f"/console/settings/keys/{key.id}/revoke", data={"csrf": _csrf(r.text)})
    assert revoked.status_code == 303
    assert all(k.id != key.id for k in accounts.list_keys(server.engine, owner.account_id))
    bad = owner.post("/console/settings/keys", data={"csrf": _csrf(r.text), "scopes": "everything"})
    assert bad.status_code == 400 and "unknown scope" in bad.text.lower()


def test_only_an_owner_manages_keys(server, owner, viewer):
    key = accounts.list_keys(server.engine, owner.account_id)[0]
    email, _ = _user(server, owner.account_id, "editor")
    editor = _login(server, owner.account_id, email)
    for c in (viewer, editor):
        token = _csrf(c.get("/console/settings").text)
        assert "Create key" not in c.get("/console/settings").text
        assert c.post("/console/settings/keys", data={"csrf": token}).status_code == 403
        assert c.post(f"/console/settings/keys/{key.id}/revoke", data={"csrf": token}).status_code == 403
    editor.close()
    assert any(k.id == key.id for k in accounts.list_keys(server.engine, owner.account_id))
    assert owner.post(f"/console/settings/keys/{key.id}/revoke", data={}).status_code in (403, 415)
    assert [u.role for u in staff.list_users(server.engine, owner.account_id)].count("owner") == 1
