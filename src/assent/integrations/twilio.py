"""Twilio's inbound webhook protocol: the X-Twilio-Signature check and TwiML replies. Pure functions.

The signature is base64(HMAC-SHA1(auth token, URL + every POST parameter's name and value,
sorted by name)), over the URL exactly as Twilio called it, query string included."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape

_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
EMPTY_TWIML = _XML_DECLARATION + "<Response/>"
TWIML_CONTENT_TYPE = "text/xml"
_DEFAULT_PORTS = {"https": 443, "http": 80}
# Characters XML 1.0 cannot carry at all (escaping does not help): a reply holding one would be
# refused by Twilio as malformed TwiML.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The X-Twilio-Signature Twilio sends for a form POST of `params` to `url`."""
    # Sorted by name, then value: repeated names are sorted by value, as Twilio's libraries do.
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """The URL as given, without its port and with the scheme's default port: Twilio signs the
    URL as configured, and a proxy may add or drop a default port on the way (Twilio's own
    validators accept each form)."""
    parts = urlsplit(url)
    variants = [url]
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is not None:
        variants.append(urlunsplit(parts._replace(netloc=prefix + host)))
    elif parts.scheme in _DEFAULT_PORTS:
        netloc = f"{prefix}{host}:{_DEFAULT_PORTS[parts.scheme]}"
        variants.append(urlunsplit(parts._replace(netloc=netloc)))
    return variants


def valid_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None) -> bool:
    """Whether `signature` (the X-Twilio-Signature header) signs this request; a missing one never does."""
    if not signature or not auth_token:
        return False
    params = list(params)
    given = signature.strip().encode()
    # compare_digest: the comparison takes the same time however much of the signature matches.
    return any(
        hmac.compare_digest(compute_signature(auth_token, candidate, params).encode(), given)
        for candidate in url_variants(url)
    )


def twiml(message: str | None) -> str:
    """A TwiML document that replies with `message`, or the empty `<Response/>` (no reply) for None."""
    if not message:
        return EMPTY_TWIML
    return f"{_XML_DECLARATION}<Response><Message>{escape(_NOT_XML.sub('', message))}</Message></Response>"
