"""Sending email over real SMTP: `ASSENT_SMTP_URL` = smtp://user:pass@host:587 (STARTTLS when the
server offers it, required before credentials are sent) or smtps://… (TLS from the start)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from ..config import settings


class MailerError(RuntimeError):
    pass


def send(url: str, message: EmailMessage, timeout: float = 30) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise MailerError("ASSENT_SMTP_URL must look like smtp://user:pass@host:587 or smtps://host:465")
    context = ssl.create_default_context()
    try:
        if parts.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(parts.hostname, parts.port or 465, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=timeout)
        with client:
            client.ehlo()
            if parts.scheme == "smtp" and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            if parts.username:
                if parts.scheme == "smtp" and not isinstance(client.sock, ssl.SSLSocket):
                    raise MailerError("the SMTP server offers no STARTTLS; refusing to send the password in clear")
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as e:
        raise MailerError(f"SMTP delivery failed: {e}") from e


def send_configured(message: EmailMessage) -> str | None:
    """The outbox's sender: `message` sent to ASSENT_SMTP_URL (as set when it is sent); None when
    it went, else why it did not."""
    url = settings().smtp_url
    if not url:
        return "ASSENT_SMTP_URL is not set"
    try:
        send(url, message)
    except MailerError as e:
        return str(e)
    return None
