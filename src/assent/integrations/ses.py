"""Amazon SES notifications delivered by Amazon SNS over HTTP(S).

SNS posts a JSON envelope (`SubscriptionConfirmation`, `Notification`, `UnsubscribeConfirmation`)
signed with RSA: SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA, over the "string to sign"
of the envelope's fields (each name, a newline, its value, a newline, in byte order; which fields
depends on the type). The signing certificate is fetched from `SigningCertURL`, only from an SNS
host over HTTPS, so that a forger cannot point us at a certificate of their own.

A `Notification`'s `Message` is the SES event (`notificationType` for identity notifications,
`eventType` for configuration-set event publishing): Bounce, Complaint, Delivery.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..config import settings
from ..domain.feedback import Feedback, Kind, mailbox

# SNS's own hosts, in every region and in the China partition.
_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
FETCH_TIMEOUT = 10.0
MAX_CERTIFICATE_BYTES = 64 * 1024


class NotAuthentic(Exception):
    """The message cannot be shown to come from SNS: refuse it (403)."""


class Unavailable(Exception):
    """The signing certificate or the confirmation URL could not be reached (try again later)."""


@dataclass(frozen=True, slots=True)
class SnsMessage:
    fields: dict[str, str]  # the envelope's string fields, as sent

    @property
    def type(self) -> str:
        return self.fields.get("Type", "")

    @property
    def message_id(self) -> str:
        return self.fields.get("MessageId", "")

    @property
    def topic_arn(self) -> str:
        return self.fields.get("TopicArn", "")

    @property
    def message(self) -> str:
        return self.fields.get("Message", "")

    @property
    def subscribe_url(self) -> str:
        return self.fields.get("SubscribeURL", "")


def parse_envelope(body: bytes) -> SnsMessage:
    """The SNS envelope of a request body; ValueError when it is not one."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"the body is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    # A JSON null (an absent Subject, say) counts as absent, as AWS's own validators treat it.
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    for name in ("Type", "MessageId", "TopicArn", "Timestamp"):
        if not fields.get(name):
            raise ValueError(f"the SNS message has no {name}")
    if fields["Type"] not in _SIGNED_FIELDS:
        raise ValueError(f"unknown SNS message type {fields['Type']!r}")
    return SnsMessage(fields)


def string_to_sign(message: SnsMessage) -> bytes:
    """AWS's canonical form: name, newline, value, newline for each signed field present."""
    parts = []
    for name in _SIGNED_FIELDS[message.type]:
        value = message.fields.get(name)
        if value is None:
            if name == "Subject":  # the only optional one
                continue
            raise NotAuthentic(f"the {message.type} message has no {name}")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


def trusted_hosts() -> set[str]:
    """Extra hosts allowed to serve certificates and confirmation URLs (read at each use)."""
    return set(settings().sns_trusted_hosts)


def is_trusted_url(url: str, *, certificate: bool = False) -> bool:
    """An SNS URL over HTTPS, or any URL on a configured trusted host (which may use plain HTTP)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    if host in trusted_hosts():
        return parts.scheme in ("http", "https")
    if parts.scheme != "https" or not _SNS_HOST.match(host):
        return False
    return not certificate or parts.path.endswith(".pem")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead off the trusted host: refuse it (urllib raises HTTPError instead).
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _get(url: str, limit: int) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "Assent SNS endpoint"})
    try:
        with _opener.open(request, timeout=FETCH_TIMEOUT) as response:
            data = response.read(limit + 1)
    except OSError as e:  # URLError, HTTPError, timeouts
        raise Unavailable(f"{url}: {e}") from None
    if len(data) > limit:
        raise Unavailable(f"{url}: the answer is too large")
    return data


class Certificates:
    """Signing certificates by URL, fetched once and kept (SNS rotates them rarely, under new URLs)."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.Lock()

    def public_key(self, url: str) -> rsa.RSAPublicKey:
        if not is_trusted_url(url, certificate=True):
            raise NotAuthentic("the signing certificate is not on an SNS host")
        with self._lock:
            key = self._keys.get(url)
        if key is not None:
            return key
        try:
            certificate = x509.load_pem_x509_certificate(_get(url, MAX_CERTIFICATE_BYTES))
        except ValueError:
            raise NotAuthentic("the signing certificate is not a PEM certificate") from None
        now = datetime.now(UTC)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise NotAuthentic("the signing certificate is not valid now")
        public = certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise NotAuthentic("the signing certificate has no RSA key")
        key = public
        with self._lock:
            if len(self._keys) >= self.capacity:
                self._keys.clear()
            self._keys[url] = key
        return key


CERTIFICATES = Certificates()


def authenticate(message: SnsMessage, certificates: Certificates = CERTIFICATES) -> None:
    """Raise NotAuthentic unless SNS signed this message (Unavailable if its certificate can't be had)."""
    version = message.fields.get("SignatureVersion", "")
    algorithm = _HASHES.get(version)
    if algorithm is None:
        raise NotAuthentic(f"unknown SignatureVersion {version!r}")
    try:
        signature = base64.b64decode(message.fields.get("Signature", ""), validate=True)
    except ValueError:
        raise NotAuthentic("the signature is not base64") from None
    if not signature:
        raise NotAuthentic("the message is not signed")
    key = certificates.public_key(message.fields.get("SigningCertURL", ""))
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise NotAuthentic("the signature does not match the message") from None


def confirm_subscription(message: SnsMessage) -> None:
    """Visit the SubscribeURL of an authenticated SubscriptionConfirmation (a GET, as AWS asks)."""
    url = message.subscribe_url
    if not is_trusted_url(url):
        raise NotAuthentic("the SubscribeURL is not on an SNS host")
    _get(url, 1024 * 1024)


def _event_id(sns_message_id: str, address: str) -> str:
    # One SNS message can name several recipients; the address is hashed to keep receipts short
    # and free of personal data.
    return f"{sns_message_id}:{hashlib.sha256(address.strip().lower().encode()).hexdigest()[:32]}"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _items(value: Any) -> list[Any]:
    """A list the event holds, or none: a field of another shape names no recipient."""
    return value if isinstance(value, list) else []


def _bounce_kind(bounce_type: str, sub_type: str) -> Kind:
    if bounce_type == "Permanent":
        # NoEmail: the receiving side says the address does not exist.
        return Kind.INVALID_ADDRESS if sub_type == "NoEmail" else Kind.HARD_BOUNCE
    return Kind.SOFT_BOUNCE  # Transient, and Undetermined (counted, not trusted at once)


def feedback(message: SnsMessage) -> list[Feedback]:
    """The SES events of a Notification. Other SES events (sends, opens, delays, …) give none."""
    try:
        event = json.loads(message.message)
    except json.JSONDecodeError:
        return []  # e.g. the plain-text test notification SES sends when a topic is set
    if not isinstance(event, dict):
        return []
    kind = event.get("notificationType") or event.get("eventType")
    mail = event.get("mail")
    if not isinstance(mail, dict):
        mail = {}
    mail_id = mail.get("messageId") if isinstance(mail.get("messageId"), str) else None
    out: list[Feedback] = []

    def add(kind: Kind, raw: Any, at: Any, note: str | None) -> None:
        address = mailbox(raw)  # SES may give "Name <address>"
        if address:
            out.append(Feedback(kind, address, _event_id(message.message_id, address), mail_id, _time(at), note))

    if kind == "Bounce" and isinstance(event.get("bounce"), dict):
        bounce = event["bounce"]
        bounce_type, sub_type = str(bounce.get("bounceType") or ""), str(bounce.get("bounceSubType") or "")
        for recipient in _items(bounce.get("bouncedRecipients")):
            if not isinstance(recipient, dict):
                continue
            diagnostic = recipient.get("diagnosticCode") or recipient.get("status") or ""
            note = f"{bounce_type}/{sub_type}: {diagnostic}".rstrip(": ")
            add(_bounce_kind(bounce_type, sub_type), recipient.get("emailAddress"), bounce.get("timestamp"), note)
    elif kind == "Complaint" and isinstance(event.get("complaint"), dict):
        complaint = event["complaint"]
        feedback_type = complaint.get("complaintFeedbackType")
        # "not-spam" is the opposite of a complaint; OnAccountSuppressionList only echoes an earlier
        # complaint, and acting on it again would undo a later, explicit re-subscription.
        if feedback_type == "not-spam" or complaint.get("complaintSubType") == "OnAccountSuppressionList":
            return []
        note = f"complaint: {feedback_type or 'unspecified'}"
        for recipient in _items(complaint.get("complainedRecipients")):
            if isinstance(recipient, dict):
                add(Kind.COMPLAINT, recipient.get("emailAddress"), complaint.get("timestamp"), note)
    elif kind == "Delivery" and isinstance(event.get("delivery"), dict):
        delivery = event["delivery"]
        for address in _items(delivery.get("recipients")):
            add(Kind.DELIVERY, address, delivery.get("timestamp"), None)
    return out
