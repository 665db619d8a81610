"""Webhooks, the pure part: the topics a consent event is published under, what an endpoint URL
and the addresses it resolves to may be, and Standard Webhooks secrets.

Topic ids follow Klaviyo's form `event:<integration>.<slug>`. The consent topics per channel and
purpose are Klaviyo's system topics (`event:klaviyo.subscribed_to_email_marketing`, …); what
Klaviyo has no topic for (suppressions, list membership, double opt-in, identifier changes) is
under Assent's own integration, `event:assent.*`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from urllib.parse import urlsplit

from .channels import ALL_CHANNEL_PURPOSES, Channel, ConsentStatus, Purpose
from .errors import DomainError
from .events import ConsentEvent, EventType


def consent_topic(subscribed: bool, channel: Channel, purpose: Purpose) -> str:
    verb = "subscribed_to" if subscribed else "unsubscribed_from"
    return f"event:klaviyo.{verb}_{channel.value}_{purpose.value}"


SUPPRESSED = "event:assent.suppressed"
UNSUPPRESSED = "event:assent.unsuppressed"
LIST_JOINED = "event:assent.list_joined"
LIST_LEFT = "event:assent.list_left"
DOUBLE_OPTIN_REQUESTED = "event:assent.double_optin_requested"
DOUBLE_OPTIN_CONFIRMED = "event:assent.double_optin_confirmed"
DOUBLE_OPTIN_CLOSED = "event:assent.double_optin_closed"  # cancelled, withdrawn, or granted without confirming
IDENTIFIER_CHANGED = "event:assent.identifier_changed"
PROFILE_ERASED = "event:assent.profile_erased"  # delete the person's data downstream too

# Every topic, in the order GET /api/webhook-topics lists them.
TOPICS: tuple[str, ...] = (
    *(consent_topic(s, c, p) for c, p in ALL_CHANNEL_PURPOSES for s in (True, False)),
    SUPPRESSED,
    UNSUPPRESSED,
    LIST_JOINED,
    LIST_LEFT,
    DOUBLE_OPTIN_REQUESTED,
    DOUBLE_OPTIN_CONFIRMED,
    DOUBLE_OPTIN_CLOSED,
    IDENTIFIER_CHANGED,
    PROFILE_ERASED,
)

_BY_TYPE = {
    EventType.SUPPRESSION_ADDED: SUPPRESSED,
    EventType.LIST_SUPPRESSION_ADDED: SUPPRESSED,
    EventType.SUPPRESSION_REMOVED: UNSUPPRESSED,
    EventType.LIST_SUPPRESSION_REMOVED: UNSUPPRESSED,
    EventType.LIST_JOINED: LIST_JOINED,
    EventType.LIST_LEFT: LIST_LEFT,
    EventType.OPTIN_REQUESTED: DOUBLE_OPTIN_REQUESTED,
    EventType.IDENTIFIER_CHANGED: IDENTIFIER_CHANGED,
    EventType.PROFILE_ERASED: PROFILE_ERASED,
}


def topic_of(event: ConsentEvent) -> str | None:
    """The topic a ledger event is published under (None: an event no topic carries).

    A consent change to NEVER_SUBSCRIBED (a reset when the phone number changes) is published as
    an unsubscription: consent is no longer given; the payload's `status` says which."""
    if event.type is EventType.CONSENT_CHANGED:
        if event.channel is None or event.purpose is None:
            return None
        return consent_topic(event.status is ConsentStatus.SUBSCRIBED, event.channel, event.purpose)
    if event.type is EventType.OPTIN_CLOSED:
        return DOUBLE_OPTIN_CONFIRMED if event.outcome == "confirmed" else DOUBLE_OPTIN_CLOSED
    return _BY_TYPE.get(event.type)


def check_topics(topics: list[str], field: str = "webhook-topics") -> tuple[str, ...]:
    """The topics, each once, in the given order; unknown ones and an empty list are refused."""
    if not topics:
        raise DomainError(field, "name at least one topic (GET /api/webhook-topics lists them)")
    known = set(TOPICS)
    for topic in topics:
        if topic not in known:
            raise DomainError(field, "is not a webhook topic (GET /api/webhook-topics lists them)", topic)
    return tuple(dict.fromkeys(topics))


# --- endpoint URLs and the addresses they resolve to ------------------------------------------

MAX_URL_LENGTH = 2000


def endpoint_host(url: str) -> str:
    """The URL's host, lowercased, without brackets ('' when it has none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def check_endpoint_url(url: str, allowed_hosts: frozenset[str], field: str = "endpoint_url") -> str:
    """An endpoint URL Assent may send to: https (http only to a host the operator allows), with a
    host and no credentials; a literal private, loopback or link-local address only if allowed.
    Names are checked again when they are resolved, at connect time (`address_blocked`)."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise DomainError(field, f"must be a URL of at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError:
        raise DomainError(field, "is not a URL", url) from None
    host = endpoint_host(url)
    if parts.scheme not in ("https", "http") or not host:
        raise DomainError(field, "must be an https URL with a host", url)
    if port == 0:
        raise DomainError(field, "names port 0, which nothing listens on", url)
    try:
        # What the resolver does with a name: an empty label or one over 63 characters raises.
        name = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise DomainError(field, "has a host name no resolver can look up (an empty label, or one over 63 "
                          "characters)", url) from None  # fmt: skip
    if not _is_ip(host) and not _HOST_NAME.fullmatch(name):
        # A space, a quote, a comma or '%' in the name: the URL is stored and no resolver finds it.
        raise DomainError(field, "has a host name with a character no host name has (letters, digits, '-' and "
                          "'.' only)", url)  # fmt: skip
    allowed = host in allowed_hosts
    if parts.scheme == "http" and not allowed:
        raise DomainError(field, "must be https (http only to a host in ASSENT_WEBHOOK_ALLOW_HOSTS)", url)
    if parts.username is not None or parts.password is not None:
        raise DomainError(field, "must not carry a user name or password", url)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and address_blocked(literal) and not allowed:
        raise DomainError(field, "names a private, loopback or link-local address", url)
    return url


# A host name as DNS holds it, after IDNA (bücher.example is xn--bcher-kva.example): labels of
# letters, digits, '-' (and '_', which some names carry), a final dot allowed.
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def address_blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is off limits for webhooks unless its host is allowed: anything not
    globally routable (private, loopback, link-local, multicast, reserved, unspecified, CGNAT)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def shown_url(url: str) -> str:
    """The URL as the API shows it: scheme, host and port only (Klaviyo truncates it: a path or
    query may carry a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


# --- Standard Webhooks secrets ----------------------------------------------------------------

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


def check_secret(secret: str, field: str = "secret_key") -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 random bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise DomainError(field, f"must be a Standard Webhooks secret: {SECRET_PREFIX} and base64 of 24 to 64 bytes")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise DomainError(field, f"is not base64 after {SECRET_PREFIX}") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise DomainError(field, f"must decode to {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, not {len(key)}")
    return secret
