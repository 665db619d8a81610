"""Who may be exported beyond messages: ad audiences (Meta, Google) and direct mail.

Pure rules, each the twin of an SQL expression in store/audiences.py (a test holds them equal).
A profile left out gets every reason that applies, in the order below; counts use the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from .channels import Channel, ConsentStatus, Purpose, SuppressionReason
from .decisions import Reason, Send, decide
from .state import ProfileState

# Where personal data may be used for advertising only with consent: the EU and EEA (GDPR,
# ePrivacy), the United Kingdom (UK GDPR, PECR) and Switzerland (revFADP). ISO 3166-1 alpha-2.
CONSENT_REGIONS: Mapping[str, str] = {
    "AT": "AUSTRIA", "BE": "BELGIUM", "BG": "BULGARIA", "HR": "CROATIA", "CY": "CYPRUS", "CZ": "CZECHIA",
    "DK": "DENMARK", "EE": "ESTONIA", "FI": "FINLAND", "FR": "FRANCE", "DE": "GERMANY", "GR": "GREECE",
    "HU": "HUNGARY", "IE": "IRELAND", "IT": "ITALY", "LV": "LATVIA", "LT": "LITHUANIA", "LU": "LUXEMBOURG",
    "MT": "MALTA", "NL": "NETHERLANDS", "PL": "POLAND", "PT": "PORTUGAL", "RO": "ROMANIA", "SK": "SLOVAKIA",
    "SI": "SLOVENIA", "ES": "SPAIN", "SE": "SWEDEN", "IS": "ICELAND", "LI": "LIECHTENSTEIN", "NO": "NORWAY",
    "GB": "UNITED KINGDOM", "CH": "SWITZERLAND",
}  # fmt: skip
# A profile's `country` as given (code or English name, any case), trimmed and upper-cased.
CONSENT_REGION_NAMES = frozenset(CONSENT_REGIONS) | frozenset(CONSENT_REGIONS.values()) | {"UK", "CZECH REPUBLIC"}


class AdConsent(StrEnum):
    """The account setting `ad_audience_consent`."""

    REGIONAL = "regional"  # consent needed where the law asks for it (CONSENT_REGIONS), elsewhere no opt-out
    EXPLICIT = "explicit"  # marketing consent needed everywhere


class ExportReason(StrEnum):
    """Reasons an export leaves a profile out, beside decide()'s own codes."""

    NO_AD_CONSENT = "NO_AD_CONSENT"
    INCOMPLETE_ADDRESS = "INCOMPLETE_ADDRESS"


MARKETING = ((Channel.EMAIL, Purpose.MARKETING), (Channel.SMS, Purpose.MARKETING))
POSTAL_FIELDS = ("address1", "city", "zip", "country")  # what a postal address needs (address2, region optional)


def needs_consent(country: str | None, default_region: str) -> bool:
    """Whether advertising to a profile from `country` (or, when it has none, the account's
    default region) needs consent under the regional policy."""
    value = (country or "").strip(" ") or default_region
    return value.strip(" ").upper() in CONSENT_REGION_NAMES


def ad_reasons(state: ProfileState, country: str | None, default_region: str, policy: AdConsent) -> tuple[str, ...]:
    """Why a profile may not be in an ad audience (empty: it may). It needs an email or a phone
    number to be matched on; a spam complaint always leaves it out; a marketing opt-out (email or
    SMS) without any marketing consent leaves it out; and where consent is needed (the policy, the
    region) it needs marketing consent on email or SMS."""
    reasons = []
    if state.email is None and state.phone_number is None:
        reasons.append(Reason.NO_ADDRESS.value)
    if SuppressionReason.SPAM_COMPLAINT in state.suppressions:
        reasons.append(Reason.SUPPRESSED_SPAM_COMPLAINT.value)
    statuses = [state.status(c, p) for c, p in MARKETING]
    consented = ConsentStatus.SUBSCRIBED in statuses
    if not consented and ConsentStatus.UNSUBSCRIBED in statuses:
        reasons.append(Reason.UNSUBSCRIBED.value)
    if not consented and (policy is AdConsent.EXPLICIT or needs_consent(country, default_region)):
        reasons.append(ExportReason.NO_AD_CONSENT.value)
    return tuple(reasons)


def ad_basis(state: ProfileState) -> str:
    """What an allowed profile's place in an ad audience rests on."""
    consented = any(state.status(c, p) is ConsentStatus.SUBSCRIBED for c, p in MARKETING)
    return Reason.SUBSCRIBED.value if consented else Reason.NOT_OPTED_OUT.value


def postal_reasons(state: ProfileState, address: Mapping[str, str | None], send: Send) -> tuple[str, ...]:
    """Why a profile may not get direct mail: decide()'s reasons for a postal send, then an
    address missing any of POSTAL_FIELDS (blank counts as missing)."""
    decision = decide(state, send)
    reasons = list(decision.reasons) if not decision.allowed else []
    if any(not (address.get(f) or "").strip(" ") for f in POSTAL_FIELDS):
        reasons.append(ExportReason.INCOMPLETE_ADDRESS.value)
    return tuple(reasons)
