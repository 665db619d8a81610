"""Per-account settings of the consent workflows, each with a default."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine

from ...domain import DomainError, Policy
from ...domain.identity import normalize_phone
from ...domain.jurisdictions import parse_jurisdictions
from ...domain.pack_rules import parse_frequency_caps
from ...store import settings as store
from ...store.db import read_transaction, write_transaction
from ..consent import texts as consent_texts
from .accounts import Account, load_account


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str
    help: str
    secret: bool = False  # never shown back in full
    choices: tuple[str, ...] = ()  # the values it may take, when they are few
    # A whole-number setting's range: beyond it a day count overflows a timedelta, a month count
    # goes before year 1, and the link expiry or erasure cutoff built from it fails.
    bounds: tuple[int, int] | None = None


SETTINGS = {
    s.name: s
    for s in (
        Setting("sender_email", "no-reply@localhost", "From address of the messages Assent sends"),
        Setting("sender_name", "", "From name (default: the account's name)"),
        Setting("postal_address", "", "The brand's postal address, shown on pages and in emails (CAN-SPAM)"),
        Setting("brand_logo_url", "", "An https:// address of the brand's logo, shown at the top of the public pages"),
        Setting("brand_color", "", "The brand's colour as #RRGGBB, for the buttons and links of the public pages"),
        Setting("doi_token_days", "7", "Days a double opt-in confirmation link stays valid", bounds=(1, 365)),
        Setting("sms_number", "", "The SMS number (E.164) inbound texts are sent to; routes them to this account"),
        Setting("sms_join_keyword", "JOIN", "Keyword that subscribes a number to SMS marketing"),
        Setting("sms_reply_stop", "You are unsubscribed and will receive no more messages. Reply START to resubscribe.",
                "Reply to an opt-out keyword (sent once per opt-out)"),
        Setting("sms_reply_start", "You are resubscribed. Reply STOP to unsubscribe, HELP for help.",
                "Reply to START / UNSTOP / YES"),
        Setting("sms_reply_join",
                "Thanks for subscribing! Msg & data rates may apply. Reply STOP to unsubscribe, HELP for help.",
                "Reply to the join keyword"),
        Setting("sms_reply_help", "Reply STOP to unsubscribe. Msg & data rates may apply.", "Reply to HELP / INFO"),
        Setting("twilio_auth_token", "",
                "Twilio auth token: when set, inbound SMS webhooks must carry a valid X-Twilio-Signature; without "
                "it the SMS webhook accepts only opt-outs (STOP) and HELP, and JOIN, START, UNSTOP and YES change "
                "nothing", True),
        Setting("sendgrid_public_key", "",
                "SendGrid event webhook verification key (base64): when set, signatures are checked; without it "
                "anyone who knows the account's public id can post bounces and unsubscribes (withdrawals only)",
                True),
        Setting("ses_topic_arn", "",
                "The SNS topic ARN of SES notifications: when set, other topics are refused; without it any SNS "
                "topic can post bounces and complaints (withdrawals only)"),
        Setting("soft_bounce_limit", "7", "Consecutive soft bounces that suppress an address", bounds=(1, 1000)),
        Setting("signup_consent_text", "",
                "The consent wording of the brand's signup form, shown when a form post must be corrected; a "
                "stored signup_consent_text_version replaces it"),
        Setting("signup_consent_text_version", "",
                "The stored consent text version (POST /api/consent-texts) the corrected signup form shows and "
                "records with the consent given on it; also recorded with SMS marketing consent from a signup "
                "that names no consent_text_version (without it such a signup is refused, and the corrected "
                "form asks for no phone number)"),
        Setting("jurisdictions", "auto",
                "Law packs send decisions apply: auto (from each profile's country), none, or a list such as "
                "GDPR,UWG (GDPR, PECR, UWG, CASL, TCPA; or EU, UK, DE, CA, US); see docs/jurisdictions.md"),
        Setting("frequency_caps", "",
                "Most reported sends per profile a decision allows, e.g. email:marketing=3/1d, sms=2/12h "
                "(a limit from 1 to 10,000 per a window from 1h to 365d; empty: none)"),
        Setting("ad_audience_consent", "regional",
                "Who ad audience exports (Meta, Google) may hold: 'regional' needs marketing consent from "
                "profiles in the EU, EEA, UK and Switzerland and no opt-out elsewhere; 'explicit' needs it everywhere",
                choices=("regional", "explicit")),
        Setting("retention_months", "0",
                "Erase the personal data of profiles inactive (no edit, event or consent change) for this many "
                "months, daily while a server runs or when `assent profiles retention` runs (0: keep them); an "
                "opt-out is kept as a tombstone", bounds=(0, 1200)),
    )
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Look:
    """How a brand shows on its public pages: its name, postal address (CAN-SPAM), logo and colour."""

    brand: str
    postal_address: str = ""
    logo_url: str = ""
    color: str = ""


def look(conn: Connection, account_id: str, account_name: str) -> Look:
    return Look(
        get(conn, account_id, "sender_name") or account_name, get(conn, account_id, "postal_address"),
        get(conn, account_id, "brand_logo_url"), get(conn, account_id, "brand_color"),
    )  # fmt: skip


def _check(name: str) -> Setting:
    if name not in SETTINGS:
        raise DomainError("name", f"settings are {', '.join(SETTINGS)}", name)
    return SETTINGS[name]


def get(conn: Connection, account_id: str, name: str) -> str:
    value = store.get_setting(conn, account_id, name)
    return _check(name).default if value is None else value


def get_int(conn: Connection, account_id: str, name: str) -> int:
    """The setting as a number; its default when what is stored is not one in its range (stored
    before set_value checked the range)."""
    setting = SETTINGS[name]
    try:
        value = int(get(conn, account_id, name))
    except ValueError:
        return int(setting.default)
    if setting.bounds is not None and not setting.bounds[0] <= value <= setting.bounds[1]:
        return int(setting.default)
    return value


def _normalized(conn: Connection, account: Account, name: str, value: str) -> str:
    """`value` as stored, checked (DomainError naming the setting)."""
    setting = _check(name)
    value = value.strip()
    # ASCII digits only: str.isdigit() also takes "²" and other digits int() cannot read.
    if setting.default.isdigit() and not (value.isascii() and value.isdigit()):
        raise DomainError(name, "must be a whole number", value[:40])
    if setting.bounds is not None:
        low, high = setting.bounds
        # Counted in digits first: int() refuses a text of thousands of them with its own error.
        if len(value.lstrip("0")) > len(str(high)) or not low <= int(value) <= high:
            raise DomainError(name, f"must be from {low} to {high}", value[:40])
    if setting.choices and value not in setting.choices:
        raise DomainError(name, f"must be one of {', '.join(setting.choices)}", value)
    if name == "sms_number" and value:  # stored as inbound webhooks name it: E.164
        return normalize_phone(value, account.default_region, field="sms_number")
    if name == "jurisdictions":  # stored as read back: auto, none or the packs' names
        packs = parse_jurisdictions(value)
        return "auto" if packs is None else ",".join(packs) or "none"
    if name == "frequency_caps":
        return ", ".join(cap.label() for cap in parse_frequency_caps(value))
    if name == "signup_consent_text_version" and value and not consent_texts.by_version(conn, account.id, value):
        raise DomainError(name, "is not a stored consent text version (create it first: POST /api/consent-texts "
                          "or assent consent-texts create)", value)  # fmt: skip
    if name == "sender_email" and not _ADDRESS.fullmatch(value):  # the From header's address, alone
        raise DomainError(name, "must be one email address, such as news@brand.example", value[:80])
    if name == "brand_logo_url" and value and not _HTTPS_URL.fullmatch(value):
        raise DomainError(name, "must be an https:// address of an image", value[:80])
    if name == "brand_color" and value and not _COLOR.fullmatch(value):
        raise DomainError(name, "must be a colour as #RRGGBB", value[:20])
    return value


_HTTPS_URL = re.compile(r"https://[^\s\"'<>`]{4,2000}")
_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
# One address with no display name, space or line break ("no-reply@localhost" too).
_ADDRESS = re.compile(r"[^\s@<>()\[\]\",;:\\]{1,64}@[^\s@<>()\[\]\",;:\\]{1,253}")


def set_value(engine: Engine, account_id: str, name: str, value: str) -> None:
    set_values(engine, account_id, {name: value})


def set_values(engine: Engine, account_id: str, values: Mapping[str, str]) -> None:
    """Set several settings at once: every value is checked first, and none is written unless all pass."""
    with write_transaction(engine) as conn:
        account = load_account(conn, account_id)
        checked = {name: _normalized(conn, account, name, value) for name, value in values.items()}
        for name, value in checked.items():
            store.set_setting(conn, account_id, name, value)


def decision_policy(conn: Connection, account_id: str, policy: Policy) -> Policy:
    """The account's policy with its jurisdiction packs and frequency caps (stored values parse:
    `set_value` checked them). A cap stored before its range was checked is read at the nearest
    end of the range, so no count or decision meets a number the databases cannot hold."""
    return replace(
        policy,
        jurisdictions=parse_jurisdictions(get(conn, account_id, "jurisdictions")),
        frequency_caps=parse_frequency_caps(get(conn, account_id, "frequency_caps"), clamp=True),
    )


UNSIGNED_SMS_WARNING = (
    "No Twilio auth token: the SMS webhook cannot tell Twilio from a forger, so it accepts only opt-outs "
    "(STOP and its synonyms) and HELP. JOIN, START, UNSTOP and YES (an SMS double opt-in's confirmation too) "
    "change nothing until the token is set."
)


def setting_warnings(values: Mapping[str, str]) -> dict[str, str]:
    """What staff must know about the settings as they stand (from `all_values`), by setting name."""
    return {} if values.get("twilio_auth_token") else {"twilio_auth_token": UNSIGNED_SMS_WARNING}


def all_values(engine: Engine, account_id: str) -> dict[str, str]:
    """Every setting's value (secrets masked)."""
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        out = {}
        for name, setting in SETTINGS.items():
            value = get(conn, account_id, name)
            out[name] = ("…" + value[-4:] if len(value) > 8 else "set") if setting.secret and value else value
        return out
