"""Sending one webhook: signed as the Standard Webhooks specification says, over a connection that
cannot be turned against the network Assent runs in.

- The body is signed with the endpoint's `whsec_` secret (the `standardwebhooks` package):
  `webhook-id`, `webhook-timestamp` and `webhook-signature` headers.
- The host name is resolved here, every address it resolves to is checked, and the connection
  goes to a checked address (TLS still verifies the name): a name that resolves to a private,
  loopback or link-local address is refused, also when it changed since the URL was set (DNS
  rebinding). Hosts in ASSENT_WEBHOOK_ALLOW_HOSTS skip the address check (and may use http).
- Timeouts on connecting and on every read, at most MAX_RESPONSE bytes of the answer read, no
  redirect followed (a 3xx is a failure).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from .. import __version__
from ..config import settings
from ..domain.webhooks import address_blocked, endpoint_host

MAX_RESPONSE = 64 * 1024
USER_AGENT = f"Assent-Webhooks/{__version__}"


class Refused(Exception):
    """The endpoint may not be reached (its addresses are off limits)."""


def signed_headers(secret: str, message_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers of a message."""
    now = now or datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }


def _addresses(host: str, port: int, allowed: bool) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise OSError(f"cannot resolve {host}: {e.strerror}") from None
    except UnicodeError:  # a name the IDNA codec refuses: an empty label, or one over 63 characters
        raise OSError(f"cannot resolve {host}: not a host name (an empty label, or one over 63 characters)") from None
    found = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allowed:
        for address in found:
            if address_blocked(ipaddress.ip_address(address.split("%")[0])):
                raise Refused(
                    f"{host} resolves to {address}, a private, loopback or link-local address "
                    "(allow the host with ASSENT_WEBHOOK_ALLOW_HOSTS)"
                )
    return found


def _connection(url: str, timeout: float, allowed_hosts: frozenset[str]) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    host = endpoint_host(url)
    allowed = host in allowed_hosts
    if parts.scheme != "https" and not (parts.scheme == "http" and allowed):
        raise Refused("the endpoint must be https (http only to a host in ASSENT_WEBHOOK_ALLOW_HOSTS)")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = _addresses(host, port, allowed)

    def connect(_address: Any, timeout: Any = None, source_address: Any = None) -> socket.socket:
        # The checked addresses only: the name is not resolved a second time.
        error: OSError | None = None
        for address in addresses:
            try:
                return socket.create_connection((address, port), timeout, source_address)
            except OSError as e:
                error = e
        raise error or OSError(f"no address for {host}")

    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn._create_connection = connect  # type: ignore[attr-defined]  # http.client's hook for making the socket
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return conn, target


def send(
    url: str, secret: str, message_id: str, body: str, *, timeout: float, allowed_hosts: frozenset[str]
) -> str | None:
    """POST one signed message; None when the endpoint took it (a 2xx answer), else why not."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signed_headers(secret, message_id, body),
    }
    try:
        conn, target = _connection(url, timeout, allowed_hosts)
    except Refused as e:
        return f"refused: {e}"
    except OSError as e:
        return str(e)
    try:
        conn.request("POST", target, body=body.encode(), headers=headers)
        response = conn.getresponse()
        answer = response.read(MAX_RESPONSE)
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except (OSError, http.client.HTTPException) as e:
        return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    finally:
        conn.close()
    if 200 <= response.status < 300:
        return None
    if 300 <= response.status < 400:
        return f"HTTP {response.status} (redirects are not followed)"
    text = answer[:200].decode("utf-8", "replace").strip()
    return f"HTTP {response.status}" + (f": {text}" if text else "")


def send_configured(url: str, secret: str, message_id: str, body: str) -> str | None:
    """`send` with the installation's settings (ASSENT_WEBHOOK_TIMEOUT, ASSENT_WEBHOOK_ALLOW_HOSTS)."""
    config = settings()
    return send(url, secret, message_id, body, timeout=config.webhook_timeout, allowed_hosts=config.webhook_allow_hosts)
