"""Bounces, complaints and ESP unsubscribes, over the real server, built as the providers send them.

SES notifications come through SNS: each is signed here with a real RSA key, exactly as AWS signs
(SignatureVersion 1 = SHA1withRSA, 2 = SHA256withRSA over the documented string to sign), and its
signing certificate is served by a local HTTP server, trusted through ASSENT_SNS_TRUSTED_HOSTS.
SendGrid posts are signed with a real ECDSA P-256 key, as the Signed Event Webhook does."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from assent.services.accounts import settings
from assent.services.accounts.accounts import load_account
from assent.store.db import read_transaction

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-feedback"
SUBSCRIBE = "/api/profile-subscription-bulk-create-jobs"


# --- a stand-in for the AWS side: keys, certificates, and the HTTP server that serves them ------


def _certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Aws:
    base: str  # the local server standing in for sns.<region>.amazonaws.com
    key: rsa.RSAPrivateKey  # the key of the certificate served at cert_url
    forger: rsa.RSAPrivateKey  # a key of somebody else
    requests: list[str] = field(default_factory=list)  # paths the local server was asked for

    @property
    def cert_url(self) -> str:
        return f"{self.base}/SimpleNotificationService-test.pem"

    def subscribe_url(self, token: str) -> str:
        return f"{self.base}/?Action=ConfirmSubscription&TopicArn={quote(TOPIC)}&Token={token}"


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = _certificate(key)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 — http.server's naming
            seen.append(self.path)
            if self.path.endswith(".pem"):
                body, kind = pem, "application/x-pem-file"
            else:
                body, kind = b"<ConfirmSubscriptionResponse/>", "text/xml"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    yield Aws(f"http://127.0.0.1:{httpd.server_address[1]}", key, forger, seen)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def trusted(monkeypatch) -> None:
    # The server under test runs in this process, so it sees this at once.
    monkeypatch.setenv("ASSENT_SNS_TRUSTED_HOSTS", "127.0.0.1")


@pytest.fixture
def public_id(api, server) -> str:
    with read_transaction(server.engine) as conn:
        return load_account(conn, api.account_id).public_id


# --- SNS messages, signed as AWS signs them ---------------------------------------------------

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sign(envelope: dict[str, Any], key: rsa.RSAPrivateKey) -> dict[str, Any]:
    names = NOTIFICATION_FIELDS if envelope["Type"] == "Notification" else CONFIRMATION_FIELDS
    text = "".join(f"{name}\n{envelope[name]}\n" for name in names if name in envelope)
    algorithm = hashes.SHA1() if envelope["SignatureVersion"] == "1" else hashes.SHA256()
    signature = key.sign(text.encode(), padding.PKCS1v15(), algorithm)
    return {**envelope, "Signature": base64.b64encode(signature).decode()}


def notification(
    aws: Aws, event: dict[str, Any], *, version: str = "2", topic: str = TOPIC, key: rsa.RSAPrivateKey | None = None,
    cert_url: str | None = None, subject: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    envelope = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": json.dumps(event),
        "Timestamp": _iso(datetime.now(UTC)),
        "SignatureVersion": version,
        "SigningCertURL": cert_url or aws.cert_url,
        "UnsubscribeURL": f"{aws.base}/?Action=Unsubscribe&SubscriptionArn={quote(TOPIC)}:1",
    }
    if subject is not None:
        envelope["Subject"] = subject
    return sign(envelope, key or aws.key)


def confirmation(aws: Aws, *, version: str = "1", subscribe_url: str | None = None) -> dict[str, Any]:
    token = uuid.uuid4().hex
    envelope = {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": token,
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the subscription, visit the "
        "SubscribeURL included in this message.",
        "SubscribeURL": subscribe_url or aws.subscribe_url(token),
        "Timestamp": _iso(datetime.now(UTC)),
        "SignatureVersion": version,
        "SigningCertURL": aws.cert_url,
    }
    return sign(envelope, aws.key)


def _mail(email: str) -> dict[str, Any]:
    return {
        "timestamp": _iso(datetime.now(UTC)),
        "messageId": f"0100{uuid.uuid4().hex}-000000",
        "source": "news@brand.example",
        "destination": [email],
    }


def bounce(
    email: str, bounce_type: str = "Permanent", sub_type: str = "General", *, at: datetime | None = None,
    diagnostic: str = "smtp; 550 5.1.1 user unknown",
) -> dict[str, Any]:  # fmt: skip
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": sub_type,
            "bouncedRecipients": [
                {"emailAddress": email, "action": "failed", "status": "5.1.1", "diagnosticCode": diagnostic}
            ],
            "timestamp": _iso(at or datetime.now(UTC)),
            "feedbackId": uuid.uuid4().hex,
        },
        "mail": _mail(email),
    }


def complaint(email: str) -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": email}],
            "timestamp": _iso(datetime.now(UTC)),
            "feedbackId": uuid.uuid4().hex,
            "complaintFeedbackType": "abuse",
        },
        "mail": _mail(email),
    }


def delivery(email: str, at: datetime) -> dict[str, Any]:
    return {
        "eventType": "Delivery",  # configuration-set event publishing names it eventType
        "delivery": {"timestamp": _iso(at), "recipients": [email], "smtpResponse": "250 2.0.0 OK"},
        "mail": _mail(email),
    }


def post_sns(server, public_id: str, envelope: dict[str, Any]) -> httpx.Response:
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": envelope["Type"],
        "x-amz-sns-message-id": envelope["MessageId"],
        "x-amz-sns-topic-arn": envelope["TopicArn"],
        "User-Agent": "Amazon Simple Notification Service Agent",
    }
    url = f"{server.base_url}/webhooks/email/ses/{public_id}"
    return httpx.post(url, content=json.dumps(envelope).encode(), headers=headers, timeout=30)


# --- reading the result through the API ---------------------------------------------------------


def email_marketing(api, email: str) -> dict[str, Any] | None:
    params = {"filter": f"equals(email,'{email}')", "additional-fields[profile]": "subscriptions"}
    r = api.get("/api/profiles", params=params)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    return data[0]["attributes"]["subscriptions"]["email"]["marketing"] if data else None


def reasons(api, email: str) -> list[str]:
    marketing = email_marketing(api, email)
    return [] if marketing is None else [s["reason"] for s in marketing["suppression"]]


def ledger(api) -> list[dict[str, Any]]:
    r = api.get("/api/consent-events", params={"page[size]": "1000"})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def subscribe(api, email: str) -> None:
    item = {"type": "profile", "attributes": {"email": email, "subscriptions": {"email": {"marketing": {}}}}}
    item["attributes"]["subscriptions"]["email"]["marketing"]["consent"] = "SUBSCRIBED"
    job = {"data": {"type": "profile-subscription-bulk-create-job", "attributes": {"profiles": {"data": [item]}}}}
    r = api.post(SUBSCRIBE, json=job)
    assert r.status_code == 202, r.text


# --- SES through SNS ----------------------------------------------------------------------------


def test_subscription_confirmation_is_confirmed_by_getting_its_subscribe_url(server, api, public_id, aws):
    message = confirmation(aws)
    r = post_sns(server, public_id, message)
    assert r.status_code == 200, r.text
    assert any(message["Token"] in path for path in aws.requests)
    assert ledger(api) == []


def test_subscription_confirmation_pointing_off_sns_is_not_visited(server, public_id, aws):
    message = confirmation(aws, subscribe_url="https://attacker.example/?Action=ConfirmSubscription&Token=x")
    r = post_sns(server, public_id, message)
    assert r.status_code == 403
    assert not any("attacker" in path for path in aws.requests)


@pytest.mark.parametrize("version", ["1", "2"])
def test_permanent_bounce_suppresses_with_hard_bounce_and_keeps_consent(server, api, public_id, aws, version):
    subscribe(api, "gone@example.com")
    event = bounce("gone@example.com")
    r = post_sns(server, public_id, notification(aws, event, version=version, subject="Amazon SES Email Event"))
    assert r.status_code == 200, r.text
    assert r.json() == {"applied": 1, "duplicates": 0, "ignored": 0}
    marketing = email_marketing(api, "gone@example.com")
    assert [s["reason"] for s in marketing["suppression"]] == ["HARD_BOUNCE"]
    assert marketing["consent"] == "SUBSCRIBED"  # suppression and consent are independent
    assert marketing["can_receive_email_marketing"] is False
    (added,) = [e["attributes"] for e in ledger(api) if e["attributes"]["type"] == "suppression.added"]
    assert added["reason"] == "HARD_BOUNCE"
    assert added["context"]["source"] == "ses"
    assert added["context"]["message_id"] == event["mail"]["messageId"]
    assert "550 5.1.1 user unknown" in added["context"]["note"]


def test_address_that_does_not_exist_is_an_invalid_email(server, api, public_id, aws):
    r = post_sns(server, public_id, notification(aws, bounce("nobody@example.com", "Permanent", "NoEmail")))
    assert r.status_code == 200, r.text
    assert reasons(api, "nobody@example.com") == ["INVALID_EMAIL"]


def test_complaint_is_a_spam_complaint_and_an_opt_out(server, api, public_id, aws):
    subscribe(api, "angry@example.com")
    r = post_sns(server, public_id, notification(aws, complaint("angry@example.com")))
    assert r.status_code == 200, r.text
    marketing = email_marketing(api, "angry@example.com")
    assert [s["reason"] for s in marketing["suppression"]] == ["SPAM_COMPLAINT"]
    assert marketing["consent"] == "UNSUBSCRIBED"
    assert marketing["method"] == "SPAM_COMPLAINT"
    changed = [e["attributes"] for e in ledger(api) if e["attributes"]["type"] == "consent.changed"]
    assert changed[-1]["status"] == "UNSUBSCRIBED"
    assert changed[-1]["context"]["source"] == "ses"


def test_bounce_of_an_unknown_address_creates_a_suppressed_profile(server, api, public_id, aws):
    assert email_marketing(api, "stranger@example.com") is None
    post_sns(server, public_id, notification(aws, bounce("stranger@example.com")))
    assert reasons(api, "stranger@example.com") == ["HARD_BOUNCE"]


def test_seven_consecutive_soft_bounces_suppress_as_a_hard_bounce(server, api, public_id, aws):
    start = datetime.now(UTC)
    for i in range(7):
        assert reasons(api, "full@example.com") == []
        event = bounce("full@example.com", "Transient", "MailboxFull", at=start + timedelta(seconds=i))
        assert post_sns(server, public_id, notification(aws, event)).status_code == 200
    assert reasons(api, "full@example.com") == ["HARD_BOUNCE"]
    (added,) = [e["attributes"] for e in ledger(api) if e["attributes"]["type"] == "suppression.added"]
    assert added["context"]["note"].startswith("7 consecutive soft bounces")


def test_a_delivery_resets_the_soft_bounce_count(server, api, public_id, aws):
    start = datetime.now(UTC)
    times = iter(start + timedelta(seconds=i) for i in range(100))

    def soft() -> None:
        event = bounce("flaky@example.com", "Transient", "General", at=next(times))
        assert post_sns(server, public_id, notification(aws, event)).status_code == 200

    for _ in range(6):
        soft()
    assert post_sns(server, public_id, notification(aws, delivery("flaky@example.com", next(times)))).status_code == 200
    for _ in range(6):
        soft()
    assert reasons(api, "flaky@example.com") == []  # 6, a delivery, 6: never 7 in a row
    soft()
    assert reasons(api, "flaky@example.com") == ["HARD_BOUNCE"]


def test_a_late_delivery_does_not_reset_newer_soft_bounces(server, api, public_id, aws):
    settings.set_value(server.engine, api.account_id, "soft_bounce_limit", "2")
    start = datetime.now(UTC)
    first = bounce("late@example.com", "Transient", "General", at=start + timedelta(seconds=10))
    post_sns(server, public_id, notification(aws, first))
    # SNS does not keep order: a delivery from before that bounce arrives after it.
    post_sns(server, public_id, notification(aws, delivery("late@example.com", start)))
    second = bounce("late@example.com", "Transient", "General", at=start + timedelta(seconds=20))
    post_sns(server, public_id, notification(aws, second))
    assert reasons(api, "late@example.com") == ["HARD_BOUNCE"]


def test_soft_bounce_limit_is_the_account_setting(server, api, public_id, aws):
    settings.set_value(server.engine, api.account_id, "soft_bounce_limit", "2")
    post_sns(server, public_id, notification(aws, bounce("two@example.com", "Transient", "MailboxFull")))
    assert reasons(api, "two@example.com") == []
    post_sns(server, public_id, notification(aws, bounce("two@example.com", "Transient", "MailboxFull")))
    assert reasons(api, "two@example.com") == ["HARD_BOUNCE"]


def test_replayed_notification_changes_nothing(server, api, public_id, aws):
    settings.set_value(server.engine, api.account_id, "soft_bounce_limit", "2")
    hard = notification(aws, bounce("once@example.com"))
    soft = notification(aws, bounce("twice@example.com", "Transient", "General"))
    for message in (hard, soft):
        assert post_sns(server, public_id, message).json()["applied"] == 1
    before = ledger(api)
    for message in (hard, soft):
        r = post_sns(server, public_id, message)
        assert r.status_code == 200
        assert r.json() == {"applied": 0, "duplicates": 1, "ignored": 0}
    assert ledger(api) == before
    assert reasons(api, "twice@example.com") == []  # the replayed soft bounce was not counted again


def test_forged_signature_is_refused_and_changes_nothing(server, api, public_id, aws):
    forged = notification(aws, bounce("victim@example.com"), key=aws.forger)
    assert post_sns(server, public_id, forged).status_code == 403
    tampered = notification(aws, bounce("someone@example.com"))
    tampered["Message"] = json.dumps(bounce("victim@example.com"))
    assert post_sns(server, public_id, tampered).status_code == 403
    unsigned = {k: v for k, v in notification(aws, bounce("victim@example.com")).items() if k != "Signature"}
    assert post_sns(server, public_id, unsigned).status_code == 403
    assert email_marketing(api, "victim@example.com") is None
    assert ledger(api) == []


def test_signature_version_must_match_the_hash(server, api, public_id, aws):
    message = notification(aws, bounce("victim@example.com"), version="1")
    message["SignatureVersion"] = "2"  # a SHA1 signature presented as SHA256
    assert post_sns(server, public_id, message).status_code == 403
    assert ledger(api) == []


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://attacker.example/SimpleNotificationService-x.pem",
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",  # not HTTPS
        "https://sns.us-east-1.amazonaws.com.attacker.example/SimpleNotificationService-x.pem",
        "https://sns.us-east-1.amazonaws.com@attacker.example/SimpleNotificationService-x.pem",
    ],
)
def test_certificate_from_an_untrusted_host_is_refused(server, api, public_id, aws, cert_url):
    assert (
        post_sns(server, public_id, notification(aws, bounce("victim@example.com"), cert_url=cert_url)).status_code
        == 403
    )
    assert ledger(api) == []


def test_local_certificate_host_is_trusted_only_when_configured(server, api, public_id, aws, monkeypatch):
    monkeypatch.delenv("ASSENT_SNS_TRUSTED_HOSTS")
    assert post_sns(server, public_id, notification(aws, bounce("victim@example.com"))).status_code == 403
    assert ledger(api) == []


def test_unreachable_certificate_asks_sns_to_retry(server, api, public_id, aws):
    message = notification(
        aws, bounce("later@example.com"), cert_url="http://127.0.0.1:1/SimpleNotificationService-x.pem"
    )
    assert post_sns(server, public_id, message).status_code == 503  # SNS retries a 5xx
    assert ledger(api) == []


def test_body_that_is_not_an_sns_message_is_400(server, api, public_id):
    url = f"{server.base_url}/webhooks/email/ses/{public_id}"
    assert httpx.post(url, content=b"not json").status_code == 400
    assert httpx.post(url, content=b'{"Type": "Notification"}').status_code == 400
    assert ledger(api) == []


def test_other_topics_are_refused_when_the_topic_is_set(server, api, public_id, aws):
    settings.set_value(server.engine, api.account_id, "ses_topic_arn", TOPIC)
    other = notification(aws, bounce("victim@example.com"), topic="arn:aws:sns:us-east-1:999999999999:other")
    assert post_sns(server, public_id, other).status_code == 403
    assert ledger(api) == []
    assert post_sns(server, public_id, notification(aws, bounce("real@example.com"))).status_code == 200
    assert reasons(api, "real@example.com") == ["HARD_BOUNCE"]


def test_webhook_of_an_unknown_account_is_404(server, aws):
    message = notification(aws, bounce("x@example.com"))
    assert post_sns(server, "nosuchacct", message).status_code == 404
    r = httpx.post(f"{server.base_url}/webhooks/email/ses", content=json.dumps(message).encode())
    assert r.status_code == 404
    r = httpx.post(f"{server.base_url}/webhooks/email/sendgrid?company_id=nosuchacct", content=b"[]")
    assert r.status_code == 404


def test_issue_paths_take_the_account_as_company_id(server, api, public_id, aws):
    message = json.dumps(notification(aws, bounce("query@example.com"))).encode()
    r = httpx.post(f"{server.base_url}/webhooks/email/ses", params={"company_id": public_id}, content=message)
    assert r.status_code == 200, r.text
    assert reasons(api, "query@example.com") == ["HARD_BOUNCE"]


def test_webhook_requests_other_than_post_change_nothing(server, api, public_id):
    # The app answers a method a route does not take as an unknown endpoint.
    assert httpx.get(f"{server.base_url}/webhooks/email/ses/{public_id}").status_code in (404, 405)
    assert httpx.get(f"{server.base_url}/webhooks/email/sendgrid/{public_id}").status_code in (404, 405)
    assert ledger(api) == []


# --- SendGrid -----------------------------------------------------------------------------------


def sg_event(email: str, event: str, **extra: Any) -> dict[str, Any]:
    return {
        "email": email,
        "timestamp": int(datetime.now(UTC).timestamp()),
        "smtp-id": f"<{uuid.uuid4().hex}@brand.example>",
        "event": event,
        "category": ["newsletter"],
        "sg_event_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
        "sg_message_id": f"{uuid.uuid4().hex}.filter0001.1234.5678.0",
        **extra,
    }


def post_sendgrid(server, public_id: str, events: list[dict[str, Any]], key: ec.EllipticCurvePrivateKey | None = None,
                  *, body: bytes | None = None) -> httpx.Response:  # fmt: skip
    body = body if body is not None else json.dumps(events).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "SendGrid Event API"}
    if key is not None:
        timestamp = str(int(datetime.now(UTC).timestamp()))
        signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers["X-Twilio-Email-Event-Webhook-Signature"] = base64.b64encode(signature).decode()
        headers["X-Twilio-Email-Event-Webhook-Timestamp"] = timestamp
    return httpx.post(f"{server.base_url}/webhooks/email/sendgrid/{public_id}", content=body, headers=headers)


def sendgrid_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A P-256 key pair, the public half as SendGrid shows it (base64 DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, base64.b64encode(der).decode()


def test_sendgrid_batch_applies_each_kind_of_event(server, api, public_id):
    for email in ("spam@example.com", "unsub@example.com", "group@example.com"):
        subscribe(api, email)
    events = [
        sg_event("processed@example.com", "processed"),
        sg_event("hard@example.com", "bounce", type="bounce", status="5.1.1", reason="550 5.1.1 mailbox unavailable",
                 bounce_classification="Mailbox Unavailable"),
        sg_event("invalid@example.com", "bounce", type="bounce", status="5.1.1", reason="550 no such user",
                 bounce_classification="Invalid Address"),
        sg_event("dropped@example.com", "dropped", reason="Invalid"),
        sg_event("blocked@example.com", "bounce", type="blocked", status="5.7.1", reason="blocked by policy",
                 bounce_classification="Reputation"),
        sg_event("later@example.com", "deferred", response="450 try later", attempt="1"),
        sg_event("spam@example.com", "spamreport"),
        sg_event("unsub@example.com", "unsubscribe"),
        sg_event("group@example.com", "group_unsubscribe", asm_group_id=42),
        sg_event("reader@example.com", "open", useragent="Mozilla/5.0"),
    ]  # fmt: skip
    r = post_sendgrid(server, public_id, events)
    assert r.status_code == 200, r.text
    assert r.json() == {"applied": 7, "duplicates": 0, "ignored": 0}

    assert reasons(api, "hard@example.com") == ["HARD_BOUNCE"]
    assert reasons(api, "invalid@example.com") == ["INVALID_EMAIL"]
    assert reasons(api, "dropped@example.com") == ["INVALID_EMAIL"]
    assert reasons(api, "blocked@example.com") == []  # one soft bounce is counted, not acted on
    spam = email_marketing(api, "spam@example.com")
    assert ([s["reason"] for s in spam["suppression"]], spam["consent"]) == (["SPAM_COMPLAINT"], "UNSUBSCRIBED")
    unsub = email_marketing(api, "unsub@example.com")
    assert (unsub["consent"], unsub["method"], unsub["method_detail"]) == (
        "UNSUBSCRIBED",
        "INTEGRATION",
        "sendgrid unsubscribe",
    )
    group = email_marketing(api, "group@example.com")
    assert (group["consent"], group["method_detail"]) == ("UNSUBSCRIBED", "sendgrid group_unsubscribe 42")
    for untouched in ("processed@example.com", "later@example.com", "reader@example.com"):
        assert email_marketing(api, untouched) is None

    hard = [e["attributes"] for e in ledger(api) if e["attributes"].get("reason") == "HARD_BOUNCE"]
    assert hard[0]["context"]["source"] == "sendgrid"
    assert hard[0]["context"]["message_id"] == events[1]["sg_message_id"]
    assert "550 5.1.1 mailbox unavailable" in hard[0]["context"]["note"]


def test_sendgrid_drop_with_a_reason_that_is_not_text_is_ignored_not_a_server_error(server, api, public_id):
    events = [
        sg_event("odd@example.com", "dropped", reason=["Invalid"]),
        sg_event("odd2@example.com", "dropped", reason={"Bounced Address": 1}),
        sg_event("fine@example.com", "dropped", reason="Invalid"),
    ]
    r = post_sendgrid(server, public_id, events)
    assert r.status_code == 200, r.text
    assert r.json() == {"applied": 1, "duplicates": 0, "ignored": 0}
    assert reasons(api, "fine@example.com") == ["INVALID_EMAIL"]
    assert reasons(api, "odd@example.com") == reasons(api, "odd2@example.com") == []


def test_sendgrid_replayed_events_change_nothing(server, api, public_id):
    events = [
        sg_event("again@example.com", "bounce", type="bounce", bounce_classification="Unclassified"),
        sg_event("again2@example.com", "spamreport"),
    ]
    assert post_sendgrid(server, public_id, events).json()["applied"] == 2
    before = ledger(api)
    r = post_sendgrid(server, public_id, events)
    assert r.json() == {"applied": 0, "duplicates": 2, "ignored": 0}
    assert ledger(api) == before


def test_sendgrid_soft_bounces_count_until_delivered(server, api, public_id):
    settings.set_value(server.engine, api.account_id, "soft_bounce_limit", "3")
    now = int(datetime.now(UTC).timestamp())

    def blocked(at: int) -> dict[str, Any]:
        return sg_event(
            "soft@example.com", "bounce", type="blocked", timestamp=at, bounce_classification="Technical Failure"
        )

    delivered = sg_event("soft@example.com", "delivered", timestamp=now + 2)
    post_sendgrid(server, public_id, [blocked(now), blocked(now + 1), delivered])
    post_sendgrid(server, public_id, [blocked(now + 3), blocked(now + 4)])
    assert reasons(api, "soft@example.com") == []
    post_sendgrid(server, public_id, [blocked(now + 5)])
    assert reasons(api, "soft@example.com") == ["HARD_BOUNCE"]


def test_sendgrid_signature_is_required_once_a_key_is_set(server, api, public_id):
    key, public = sendgrid_key()
    settings.set_value(server.engine, api.account_id, "sendgrid_public_key", public)
    events = [sg_event("signed@example.com", "bounce", type="bounce")]

    assert post_sendgrid(server, public_id, events).status_code == 403  # unsigned
    other, _ = sendgrid_key()
    assert post_sendgrid(server, public_id, events, other).status_code == 403  # someone else's key
    body = json.dumps(events).encode()
    tampered = body.replace(b"signed@", b"victim@")
    timestamp = str(int(datetime.now(UTC).timestamp()))
    signature = base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    r = httpx.post(
        f"{server.base_url}/webhooks/email/sendgrid/{public_id}",
        content=tampered,
        headers={
            "X-Twilio-Email-Event-Webhook-Signature": signature,
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        },
    )
    assert r.status_code == 403
    assert ledger(api) == []

    r = post_sendgrid(server, public_id, events, key)
    assert r.status_code == 200, r.text
    assert reasons(api, "signed@example.com") == ["HARD_BOUNCE"]


def test_sendgrid_unusable_key_refuses_rather_than_accepts(server, api, public_id):
    settings.set_value(server.engine, api.account_id, "sendgrid_public_key", "not-a-key")
    key, _ = sendgrid_key()
    assert post_sendgrid(server, public_id, [sg_event("x@example.com", "spamreport")], key).status_code == 403
    assert ledger(api) == []


def test_sendgrid_without_a_key_takes_unsigned_posts(server, api, public_id):
    r = post_sendgrid(server, public_id, [sg_event("plain@example.com", "spamreport")])
    assert r.status_code == 200
    assert reasons(api, "plain@example.com") == ["SPAM_COMPLAINT"]


def test_sendgrid_post_that_is_not_an_event_array_is_400(server, api, public_id):
    assert post_sendgrid(server, public_id, [], body=b'{"email": "x@example.com"}').status_code == 400
    assert post_sendgrid(server, public_id, [], body=b"not json").status_code == 400
    assert ledger(api) == []


def test_sendgrid_invalid_address_is_skipped_not_retried(server, api, public_id):
    r = post_sendgrid(server, public_id, [sg_event("not an email address", "dropped", reason="Invalid")])
    assert r.status_code == 200
    assert r.json() == {"applied": 0, "duplicates": 0, "ignored": 1}
    assert ledger(api) == []


# --- identity and hostile input, for both providers ----------------------------------------------


def profile_emails(api) -> list[str]:
    r = api.get("/api/profiles", params={"page[size]": "100"})
    assert r.status_code == 200, r.text
    return sorted(p["attributes"]["email"] for p in r.json()["data"])


@pytest.mark.parametrize(
    ("held", "reported"),
    [("bob@example.com", "BOB@Example.COM"), ("bob@example.com", "Bob <bob@example.com>"),
     ("bob@example.com", '"Smith, Bob" <Bob@Example.com>'), ("ida@bücher.de", "ida@xn--bcher-kva.de"),
     ("ida@bücher.de", "IDA@BÜCHER.DE")],
)  # fmt: skip
def test_a_bounce_lands_on_the_profile_of_the_address_however_the_provider_writes_it(
    server, api, public_id, aws, held, reported
):
    subscribe(api, held)
    r = post_sns(server, public_id, notification(aws, bounce(reported)))
    assert r.json() == {"applied": 1, "duplicates": 0, "ignored": 0}
    r = post_sendgrid(server, public_id, [sg_event(reported, "spamreport")])
    assert r.json() == {"applied": 1, "duplicates": 0, "ignored": 0}
    assert reasons(api, held) == ["HARD_BOUNCE", "SPAM_COMPLAINT"]
    assert profile_emails(api) == [held]  # the same person, no second profile


def test_consent_never_lands_on_the_wrong_person_a_name_that_looks_like_an_address_is_not_the_recipient(
    server, api, public_id, aws
):
    # Mail goes to the address in angle brackets; email.utils.parseaddr read the name instead.
    for email in ("name@example.com", "mailbox@example.com"):
        subscribe(api, email)
    post_sns(server, public_id, notification(aws, complaint("name@example.com <mailbox@example.com>")))
    post_sendgrid(server, public_id, [sg_event("name@example.com <mailbox@example.com>", "bounce", type="bounce")])
    assert reasons(api, "mailbox@example.com") == ["HARD_BOUNCE", "SPAM_COMPLAINT"]
    assert reasons(api, "name@example.com") == []
    assert email_marketing(api, "name@example.com")["consent"] == "SUBSCRIBED"


@pytest.mark.parametrize(
    "reported",
    ["bob@example.com, eve@example.com", "x <bob@example.com> y <eve@example.com>", "bob@example.com.",
     "Bob <bob@example.com", "bob@example.com (Bob) <eve@example.com"],
)  # fmt: skip
def test_a_recipient_that_names_no_one_address_is_a_no_op_never_a_guess(server, api, public_id, aws, reported):
    subscribe(api, "bob@example.com")
    before = ledger(api)
    assert post_sns(server, public_id, notification(aws, bounce(reported))).json()["ignored"] == 1
    assert post_sendgrid(server, public_id, [sg_event(reported, "spamreport")]).json()["ignored"] == 1
    assert ledger(api) == before
    assert profile_emails(api) == ["bob@example.com"]


@pytest.mark.parametrize(
    "event",
    [{"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": 5}},
     {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": True}},
     {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": {"a@example.com": 1}}},
     {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": "a@example.com"}},
     {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": 5}]}},
     {"notificationType": "Bounce", "bounce": "Permanent"},
     {"notificationType": "Complaint", "complaint": {"complainedRecipients": 7}},
     {"eventType": "Delivery", "delivery": {"recipients": 9, "timestamp": 12}},
     {"eventType": "Delivery", "delivery": {"recipients": "a@example.com"}},
     [{"notificationType": "Bounce"}], "Bounce", None, 5],
)  # fmt: skip
def test_no_request_reaches_a_500_an_ses_event_of_the_wrong_shape_changes_nothing(server, api, public_id, aws, event):
    r = post_sns(server, public_id, notification(aws, event))
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == 0
    assert ledger(api) == []
    assert profile_emails(api) == []


def test_an_sns_unsubscribe_confirmation_or_a_message_that_is_not_json_changes_nothing(server, api, public_id, aws):
    unsubscribed = {**confirmation(aws), "Type": "UnsubscribeConfirmation"}
    unsubscribed = sign({k: v for k, v in unsubscribed.items() if k != "Signature"}, aws.key)
    visited = len(aws.requests)
    r = post_sns(server, public_id, unsubscribed)
    assert r.status_code == 200, r.text
    assert not [p for p in aws.requests[visited:] if "ConfirmSubscription" in p]  # nothing re-subscribed
    plain = notification(aws, {})
    plain = sign({**{k: v for k, v in plain.items() if k != "Signature"}, "Message": "Successfully validated"}, aws.key)
    assert post_sns(server, public_id, plain).json() == {"applied": 0, "duplicates": 0, "ignored": 0}
    assert ledger(api) == []


def test_no_request_reaches_a_500_a_lone_surrogate_in_a_provider_body_is_refused_whole(server, api, public_id, aws):
    subscribe(api, "fine@example.com")
    before = ledger(api)
    event = bounce("fine@example.com", diagnostic="smtp; 550 \ud800")  # json.dumps writes it as \\ud800
    assert post_sns(server, public_id, notification(aws, event)).status_code == 400
    good = [sg_event(f"good{i}@example.com", "spamreport") for i in range(3)]
    bad = sg_event("fine@example.com", "bounce", type="bounce", reason="550 \udc00")
    r = post_sendgrid(server, public_id, [*good, bad])
    assert r.status_code == 400 and "surrogate" in r.text, r.text
    assert ledger(api) == before  # refused before any event of the batch was applied
    assert post_sendgrid(server, public_id, good).json() == {"applied": 3, "duplicates": 0, "ignored": 0}


def test_a_sendgrid_batch_applies_its_good_events_once_and_skips_the_malformed_ones(server, api, public_id):
    good = [sg_event(f"batch{i}@example.com", "bounce", type="bounce") for i in range(300)]
    malformed: list[Any] = [
        "bounce", 5, None, [], {"event": "bounce"}, {"event": "bounce", "email": 5},
        {"event": "bounce", "email": ["batch0@example.com"]}, sg_event("not an address", "bounce"),
        sg_event("batch1@example.com", ["bounce"]), sg_event("batch2@example.com", "bounce", sg_event_id=None),
    ]  # fmt: skip
    batch = [item for pair in zip(good, malformed * 30, strict=True) for item in pair]
    r = post_sendgrid(server, public_id, batch)
    assert r.status_code == 200, r.text
    # The 300 good ones; the event without an id is keyed by its content, so its 30 copies are one
    # event (applied once, then duplicates); "not an address" is ignored; the rest name no one.
    assert r.json() == {"applied": 301, "duplicates": 29, "ignored": 30}
    written = ledger(api)
    assert len(written) == 300  # batch2 was bounced already by its good event: one suppression
    assert all(reasons(api, f"batch{i}@example.com") == ["HARD_BOUNCE"] for i in (0, 150, 299))
    # SendGrid retries the whole post: nothing is applied twice.
    assert post_sendgrid(server, public_id, batch).json() == {"applied": 0, "duplicates": 330, "ignored": 30}
    assert ledger(api) == written
