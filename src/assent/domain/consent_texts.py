"""Consent text versions: the exact words a person saw when they consented.

A version is immutable: its text never changes after it is stored, so a new wording is a new
version. Events record the version's name and the SHA-256 of its text (`consent_text_sha256`
in their context), which puts the words themselves under the ledger's hash chain."""

from __future__ import annotations

import hashlib
import re

from .errors import DomainError

MAX_VERSION = 100
MAX_TEXT = 20_000
MAX_LANGUAGE = 35
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")  # a BCP 47 tag such as en or de-CH


def text_digest(text: str) -> str:
    """SHA-256 (hex) of the text's UTF-8 bytes, exactly as stored: no trimming, no normalising."""
    return hashlib.sha256(text.encode()).hexdigest()


def check_version(version: str) -> str:
    if not 1 <= len(version) <= MAX_VERSION or not _VERSION.fullmatch(version):
        raise DomainError(
            "version",
            f"must be 1 to {MAX_VERSION} letters, digits, '.', '_', ':' or '-', starting with a letter or digit",
            version,
        )
    return version


def check_text(text: str) -> str:
    if not text.strip():
        raise DomainError("text", "must not be empty")
    if len(text) > MAX_TEXT:
        raise DomainError("text", f"must be at most {MAX_TEXT} characters (got {len(text)})")
    return text


def check_language(language: str | None) -> str | None:
    if language is None or language == "":
        return None
    if len(language) > MAX_LANGUAGE or not _LANGUAGE.fullmatch(language):
        raise DomainError("language", "must be a language tag such as en or de-CH", language)
    return language
