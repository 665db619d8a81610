"""Consent proof bundles: one consent's ledger events with the hash chain from them to a signed
checkpoint, checked offline with nothing but the bundle (and, ideally, the published public key).

The procedure is written out in docs/proof.md so it can be reimplemented; `verify_bundle` is it.
A bundle proves that the events it holds were in the account's ledger, as shown, when the
checkpoint was signed, and that the consent text shown is the one the events recorded. It does
not prove that nothing happened after the checkpoint: a later opt-out is in a later proof."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .chain import checkpoint_from_json, content_hash_text, link_hash, personal_digest, signature_problem

FORMAT = "assent-consent-proof/1"
ROLES = ("request", "confirmation", "consent")
EVENT_FIELDS = ("seq", "profile_id", "occurred_at", "type", "metric", "payload", "personal", "personal_digest",
                "prev_hash", "hash")  # fmt: skip


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = msgspec.json.decode(text)
    return value if isinstance(value, dict) else {}


def _step(event: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Who did what, when and from where, as one event records it."""
    if event is None:
        return None
    payload, personal = _json(event["payload"]), _json(event["personal"])
    context = payload.get("context") or {}
    return {
        "seq": event["seq"], "at": event["occurred_at"], "type": event["type"], "metric": event["metric"],
        "source": context.get("source"), "actor": context.get("actor"), "outcome": payload.get("outcome"),
        "ip": personal.get("ip"), "user_agent": personal.get("user_agent"),
    }  # fmt: skip


def summary(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the bundle's events say, in plain fields: derived from them alone, so a verifier derives
    it again and compares (a bundle cannot claim more than its events hold)."""
    by_role = {e.get("role"): e for e in events}
    consent = by_role.get("consent")
    if consent is None:
        return {}
    payload, personal = _json(consent["payload"]), _json(consent["personal"])
    context = payload.get("context") or {}
    request = _json(by_role["request"]["payload"]) if "request" in by_role else {}
    request_context = request.get("context") or {}
    return {
        "channel": payload.get("channel"), "purpose": payload.get("purpose"), "status": payload.get("status"),
        "consent_timestamp": payload.get("consent_timestamp"), "recorded_at": consent["occurred_at"],
        "method": payload.get("method"), "method_detail": payload.get("method_detail"),
        "custom_method_detail": payload.get("custom_method_detail"), "double_optin": bool(payload.get("double_optin")),
        "list_id": request.get("list_id") or payload.get("list_id"),
        "address": personal.get("email") or personal.get("phone_number"),
        "consent_text_version": context.get("consent_text_version") or request_context.get("consent_text_version"),
        "consent_text_sha256": context.get("consent_text_sha256") or request_context.get("consent_text_sha256"),
        "consent": _step(consent), "request": _step(by_role.get("request")),
        "confirmation": _step(by_role.get("confirmation")),
    }  # fmt: skip


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- verification ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(slots=True)
class ProofVerification:
    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, name: str, problem: str | None, fine: str) -> bool:
        self.checks.append(Check(name, problem is None, problem or fine))
        return problem is None

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
                "warnings": self.warnings}  # fmt: skip


def unwrap(document: Any) -> Any:
    """A bundle as the API serves it (a JSON:API document) or as the CLI writes it."""
    if isinstance(document, dict) and isinstance(document.get("data"), dict) and "attributes" in document["data"]:
        return document["data"]["attributes"]
    return document


def _events(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    events = bundle.get("events")
    if not isinstance(events, list) or not events:
        raise ValueError("events must be a non-empty list")
    for i, e in enumerate(events):
        if not isinstance(e, dict):
            raise ValueError(f"events[{i}] is not an object")
        for name in EVENT_FIELDS:
            kind: tuple[type, ...] = (int,) if name == "seq" else (str,) if name not in ("metric", "personal") else (
                str, type(None))
            if name not in e or not isinstance(e[name], kind) or isinstance(e[name], bool):
                raise ValueError(f"events[{i}].{name} is missing or of the wrong type")
        if e.get("role") not in ROLES:
            raise ValueError(f"events[{i}].role must be one of {', '.join(ROLES)}")
    return events


def _links(bundle: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    chain = bundle.get("chain")
    if not isinstance(chain, dict) or not isinstance(chain.get("prev_hash"), str):
        raise ValueError("chain.prev_hash is missing")
    links = chain.get("links")
    if not isinstance(links, list) or not links:
        raise ValueError("chain.links must be a non-empty list")
    for i, link in enumerate(links):
        ok = isinstance(link, dict) and isinstance(link.get("seq"), int) and not isinstance(link.get("seq"), bool)
        if not ok or not isinstance(link.get("content_hash"), str) or not isinstance(link.get("hash"), str):
            raise ValueError(f"chain.links[{i}] needs seq, content_hash and hash")
    return chain["prev_hash"], links


def verify_bundle(document: Any, trusted_keys: frozenset[str] = frozenset()) -> ProofVerification:
    """Check a bundle with nothing but itself; `trusted_keys` (public keys or key ids, as published)
    pins who must have signed its checkpoint."""
    result = ProofVerification()
    bundle = unwrap(document)
    try:
        if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
            raise ValueError(f"format must be {FORMAT}")
        account_id, profile_id = bundle.get("account_id"), bundle.get("profile_id")
        if not isinstance(account_id, str) or not isinstance(profile_id, str):
            raise ValueError("account_id and profile_id are missing")
        events = _events(bundle)
        prev, links = _links(bundle)
        checkpoint = checkpoint_from_json(bundle.get("checkpoint"))
    except (ValueError, msgspec.DecodeError) as error:
        result.add("bundle", str(error), "")
        return result
    result.add("bundle", None, f"{FORMAT}, {len(events)} events, {len(links)} chain links")

    # 1. Each event's personal data matches its digest, and its content hash is recomputed.
    content: dict[int, str] = {}
    problems = []
    for e in events:
        if e["profile_id"] != profile_id:
            problems.append(f"event {e['seq']} is of another profile")
        if e["personal"] is not None and personal_digest(e["personal"]) != e["personal_digest"]:
            problems.append(f"event {e['seq']}: personal data does not match its digest")
        content[e["seq"]] = content_hash_text(
            account_id, e["profile_id"], e["occurred_at"], e["type"], e["metric"], e["payload"], e["personal_digest"]
        )
    result.add("events", "; ".join(problems) or None, "personal data matches its digests; content hashes recomputed")

    # 2. The chain from the first event to the checkpoint, link by link.
    first = min(content)
    problem = None
    expected, h = first, prev
    hashes: dict[int, str] = {}
    for link in links:
        seq = link["seq"]
        if seq != expected:
            problem = f"chain.links jumps to seq {seq} where {expected} was due"
            break
        if seq in content and content[seq] != link["content_hash"]:
            problem = f"event {seq}'s content does not hash to the chain's content_hash"
            break
        h = link_hash(seq, link["content_hash"], h)
        if h != link["hash"]:
            problem = f"the hash of seq {seq} does not follow from its content and the hash before it"
            break
        hashes[seq], expected = h, seq + 1
    if problem is None:
        missing = sorted(set(content) - set(hashes))
        if missing:
            problem = f"events {missing} are not on the chain"
        elif any(e["hash"] != hashes[e["seq"]] or e["prev_hash"] != hashes.get(e["seq"] - 1, prev) for e in events):
            problem = "an event's hash or prev_hash is not the chain's"
    start = f"the hash before it, {prev[:16]}…" if prev else "the start of the ledger"
    result.add("chain", problem, f"seq {first} to {expected - 1} links up, from {start}")

    # 3. The chain ends at the signed checkpoint, signed by its key (and by a trusted one).
    problem = None
    if checkpoint.account_id != account_id:
        problem = f"the checkpoint is of account {checkpoint.account_id}"
    elif not hashes or max(hashes) != checkpoint.seq or hashes[checkpoint.seq] != checkpoint.head_hash:
        problem = f"the chain does not end at the checkpoint (seq {checkpoint.seq}, head {checkpoint.head_hash[:16]}…)"
    result.add("checkpoint", problem, f"the chain ends at the checkpoint's head, seq {checkpoint.seq}")
    result.add("signature", signature_problem(checkpoint), f"Ed25519 signature by key {checkpoint.key_id[:16]}… holds")
    if trusted_keys:
        trusted = checkpoint.public_key in trusted_keys or checkpoint.key_id in trusted_keys
        result.add("trusted key", None if trusted else f"key {checkpoint.key_id} is not one of the trusted keys",
                   "the checkpoint is signed by a trusted key")  # fmt: skip
    else:
        result.warnings.append(
            f"the signing key was not pinned: compare key id {checkpoint.key_id} with the one the brand published"
        )

    # 4. The consent text is the one the events recorded.
    text = bundle.get("consent_text")
    derived = summary(events)
    recorded = derived.get("consent_text_sha256")
    if isinstance(text, dict) and isinstance(text.get("text"), str):
        digest = text_sha256(text["text"])
        problem = None
        if digest != text.get("sha256"):
            problem = "consent_text.text does not hash to consent_text.sha256"
        elif text.get("version") != derived.get("consent_text_version"):
            problem = "consent_text.version is not the version the events recorded"
        elif recorded is not None and recorded != digest:
            problem = "the events recorded another text (their consent_text_sha256 differs)"
        elif recorded is None:
            result.warnings.append("the events name the version but recorded no digest of its words")
        result.add("consent text", problem, f"the words hash to {digest[:16]}…, as the events recorded")
    elif derived.get("consent_text_version"):
        result.warnings.append(f"consent text version {derived['consent_text_version']} has no stored words")

    # 5. The summary says no more than the events.
    result.add("summary", None if bundle.get("summary") == derived else "summary differs from what the events say",
               "summary matches the events")  # fmt: skip
    return result
