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


def test_an_owner_asks_for_full_access_explicitly_none_ticked_is_refused(server, owner):
    page = owner.get("/console/settings")
    before = {k.id for k in accounts.list_keys(server.engine, owner.account_id)}
    for scopes in ([], ["profiles:read", "*"]):
        r = owner.post("/console/settings/keys", data={"csrf": _csrf(page.text), "label": "Nothing", "scopes": scopes})
        assert r.status_code == 400 and "pk_" not in r.text, r.text
    assert "Tick the scopes the key needs, or Full access." in owner.post(
        "/console/settings/keys", data={"csrf": _csrf(page.text), "label": "Nothing"}).text  # fmt: skip
    assert {k.id for k in accounts.list_keys(server.engine, owner.account_id)} == before
    r = owner.post("/console/settings/keys", data={"csrf": _csrf(page.text), "label": "All", "scopes": ["*"]})
    assert r.status_code == 200 and 'id="new-key"' in r.text
    assert next(k for k in accounts.list_keys(server.engine, owner.account_id) if k.label == "All").scopes == {"*"}


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


def _settings_form(page_text: str, **changes: str) -> dict[str, str]:
    return {"csrf": _csrf(page_text), **changes}


def test_an_owner_changes_settings_and_the_public_pages_show_the_brand(server, owner):
    from assent.services.accounts import settings
    from assent.services.shared import tokens

    e, account_id = server.engine, owner.account_id
    settings.set_value(e, account_id, "twilio_auth_token", "twilio-secret-1234")
    page = owner.get("/console/settings")
    assert page.status_code == 200 and 'id="account-settings"' in page.text
    assert "twilio-secret-1234" not in page.text  # a secret is never shown back
    r = owner.post("/console/settings/account", data=_settings_form(
        page.text, sender_name="Northwind", postal_address="1 Harbour Way, Portland, OR 97201",
        brand_logo_url="https://cdn.example.com/logo.png", brand_color="#0a7d55", twilio_auth_token=""))  # fmt: skip
    assert r.status_code == 303 and "saved=4" in r.headers["location"]
    values = settings.all_values(e, account_id)
    assert values["brand_color"] == "#0a7d55" and values["sender_name"] == "Northwind"
    with server.engine.connect() as conn:
        assert settings.get(conn, account_id, "twilio_auth_token") == "twilio-secret-1234"  # empty field: kept
    profile_id = base._ada(server, account_id)
    token = tokens.make_token(e, "preferences", {"a": account_id, "p": profile_id})
    prefs = owner.get(f"/p/{token}")
    assert prefs.status_code == 200
    assert '<img class="logo" src="https://cdn.example.com/logo.png" alt="Northwind">' in prefs.text
    assert "background: #0a7d55" in prefs.text and "Northwind · 1 Harbour Way, Portland, OR 97201" in prefs.text


def test_a_bad_setting_is_refused_naming_it_and_nothing_is_saved(server, owner, viewer):
    from assent.services.accounts import settings

    e, account_id = server.engine, owner.account_id
    page = owner.get("/console/settings")
    for name, value in (
        ("brand_color", "red; } body { display:none"),
        ("brand_logo_url", "javascript:alert(1)"),
        ("sms_number", "not a number"),
        ("doi_token_days", "seven"),
        ("jurisdictions", "MARS"),
        ("sender_email", "News <news@brand.example>"),
        ("sender_email", "news@brand.example\r\nBcc: all@example.com"),
        ("sender_email", ""),
    ):
        form = _settings_form(page.text, sender_name="Changed", **{name: value})
        r = owner.post("/console/settings/account", data=form)
        assert r.status_code == 400, (name, r.text[:300])
        assert f'role="alert">{name}:' in r.text
        assert settings.all_values(e, account_id)["sender_name"] == ""  # all or nothing
    token = _csrf(viewer.get("/console/settings").text)
    assert viewer.post("/console/settings/account", data={"csrf": token, "sender_name": "Viewer"}).status_code == 403
    assert settings.all_values(e, account_id)["sender_name"] == ""
    assert "Save settings" not in viewer.get("/console/settings").text


def test_consent_never_lands_on_the_wrong_person_staff_see_that_without_a_twilio_token_sms_takes_only_opt_outs(
    server, owner, viewer
):
    from assent.services.accounts import settings

    for client in (owner, viewer):
        page = client.get("/console/settings").text
        assert 'id="warning-twilio_auth_token"' in page
        assert "No Twilio auth token: the SMS webhook cannot tell Twilio from a forger" in page
        assert "the SMS webhook accepts only opt-outs (STOP) and HELP" in page  # the setting's description
        assert 'aria-describedby="help-twilio_auth_token warning-twilio_auth_token"' in page
    settings.set_value(server.engine, owner.account_id, "twilio_auth_token", "twilio-secret-1234")
    page = owner.get("/console/settings").text
    assert 'id="warning-twilio_auth_token"' not in page and "No Twilio auth token" not in page
