"""A demo account with synthetic profiles in every consent state, to try the CLI on."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Engine

from ...domain import Channel, Proof, Purpose, SuppressionReason
from ..accounts import accounts
from ..consent import changes as consent
from ..consent.changes import Locator
from ..imports import importer as imports
from ..lists import lists
from . import synthetic

DEMO_NAME = "Demo brand"
NEWSLETTER, VIP = "Newsletter", "VIP early access"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    account_id: str
    api_key: str
    newsletter_list_id: str
    vip_list_id: str
    profiles: int
    sample_email: str
    sample_phone: str
    bounced_email: str
    public_id: str = ""
    reused: bool = False  # an earlier demo account, with a new key (the earlier keys still work)

    def as_dict(self) -> dict:
        return asdict(self)


def _samples(n: int) -> tuple[list[str], list[str]]:
    """A profile that gave SMS but not email consent, and one that bounced after subscribing (the
    synthetic rows are the same for every demo account)."""
    few = list(synthetic.rows(min(n, 100), consent_mix=True))
    sample = next((r for r in few if r[10] == "NEVER_SUBSCRIBED" and r[11] == "SUBSCRIBED"), few[0])
    bounced = next((r for r in few if r[10] == "SUBSCRIBED" and r is not sample), few[-1])
    return sample, bounced


def existing_demo(engine: Engine) -> DemoAccount | None:
    """The oldest demo account in the database, with a new API key, or None. API keys are stored
    only as digests, so the earlier key cannot be shown again; it keeps working."""
    for account in accounts.list_accounts(engine):
        if account.name != DEMO_NAME:
            continue
        by_name = {item.name: item for item in lists.all_lists(engine, account.id)}
        if NEWSLETTER not in by_name or VIP not in by_name:
            continue
        n = by_name[NEWSLETTER].profile_count or 0
        sample, bounced = _samples(n)
        key = accounts.create_key(engine, account.id, "*", label="serve --demo")
        return DemoAccount(
            account.id, key.secret, by_name[NEWSLETTER].id, by_name[VIP].id, n, sample[0], sample[1], bounced[0],
            account.public_id, reused=True,
        )  # fmt: skip
    return None


def create_demo(engine: Engine, n: int = 5000, progress: Callable[[int, int], None] | None = None) -> DemoAccount:
    new = accounts.create_account(engine, DEMO_NAME, "US")
    account_id = new.account.id
    newsletter = lists.create_list(engine, account_id, NEWSLETTER)
    vip = lists.create_list(engine, account_id, VIP, double_opt_in=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = synthetic.write_csv(Path(tmp) / "demo.csv", n, consent_mix=True)
        options = imports.ImportOptions(account_id=account_id, list_id=newsletter.id, method_detail="demo import")
        imports.import_profiles(engine, path, options, progress)
    sample, bounced = _samples(n)
    proof = Proof(actor="demo")
    # A hard bounce (suppressed, consent kept) and a pending double opt-in to the VIP list.
    consent.suppress(engine, account_id, Locator("email", bounced[0]), SuppressionReason.HARD_BOUNCE, proof=proof)
    consent.subscribe(
        engine,
        account_id,
        Locator("email", sample[0]),
        [(Channel.EMAIL, Purpose.MARKETING)],
        list_id=vip.id,
        method="FORM",
        method_detail="demo signup",
        proof=proof,
    )
    return DemoAccount(
        account_id, new.api_key, newsletter.id, vip.id, n, sample[0], sample[1], bounced[0], new.account.public_id
    )


def next_steps(demo: DemoAccount, db_flag: str = "") -> str:
    a = f"--account {demo.account_id}{db_flag}"
    return f"""Demo account {demo.account_id} is ready with {demo.profiles} synthetic profiles.
  private API key: {demo.api_key}
  public id (for signup forms): {demo.public_id}
  lists: {demo.newsletter_list_id} (Newsletter, single opt-in), {demo.vip_list_id} (VIP early access, double opt-in)

Try next:
  assent profiles get {a} --email {demo.sample_email}
  assent decide {a} --email {demo.sample_email} --channel email --list {demo.vip_list_id}
  assent consent unsubscribe {a} --phone '{demo.sample_phone}' --channel sms
  assent decide {a} --phone '{demo.sample_phone}' --channel sms --purpose transactional
  assent decide {a} --email {demo.bounced_email} --channel email --json
  assent profiles timeline {a} --email {demo.sample_email}
  assent lists list {a}
  assent ledger verify {a}
  assent ledger rebuild {a} --check
"""
