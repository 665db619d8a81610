"""The recorder: the one unit of work every ledger write goes through.

A use case opens it (which takes the account's write lock before anything is read), works out its
profiles' events with the domain's transitions, and hands them over with the states they lead
to. The recorder appends the events to the ledger, writes the projection and runs the hooks, all
in the same transaction; what must wait for the commit (waking the outbox) runs once it is done.

Hooks are registered here, in HOOKS, and nowhere else: the double opt-in confirmation email and
the webhook deliveries (services/webhooks/queue.py) today, the outbound change stream later. No
other module touches the ledger's appender (tests/web/test_recorder.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import NoResultFound

from ...domain import Channel, ConsentEvent, EventType, ProfileState
from ...store import projection
from ...store.db import commit_now, pipeline, write_transaction
from ...store.ledger import EncodedEvent, LedgerAppender, Read, encode
from .errors import NotFound

# The hooks' modules are imported when a hook first has work: a command that writes no event (a
# re-import of an unchanged file), or sends no confirmation (any file import), never loads them.


@dataclass(frozen=True, slots=True)
class Recorded:
    """One profile's events and the state they lead to; `encoded`, when given, holds the events in
    the ledger's canonical form, worked out ahead (before the lock) by a bulk path."""

    profile_id: str
    state: ProfileState
    events: Sequence[ConsentEvent]
    encoded: Sequence[EncodedEvent] | None = None


class Precomputed(Protocol):
    """A new profile whose events and projection rows were worked out ahead (file imports do it in
    worker processes): its events arrive encoded, its projection as rows."""

    profile_id: str
    events: list[EncodedEvent]
    projection: dict[str, list[Any]]


@dataclass(frozen=True, slots=True)
class Written:
    """What one record() call appended: `precomputed`'s events, in order, then `recorded`'s, with
    ledger seqs from `first_seq` on."""

    account_id: str
    first_seq: int
    recorded: Sequence[Recorded]
    precomputed: Sequence[Precomputed]
    # Hooks' look-ups made with the lock (Hook.ahead), by hook name: each answers when called.
    looked_up: Mapping[str, Callable[[], Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hook:
    """Work that follows a write: `in_transaction` runs before the commit and returns whether
    there is something for `after_commit` to do once the transaction has committed."""

    name: str
    in_transaction: Callable[[Connection, Written], bool]
    after_commit: Callable[[], None]
    # A look-up `in_transaction` needs, made with the account's lock when a Recorder sends its
    # look-ups with the lock (its `ahead`; on PostgreSQL in the lock's round trip): given the
    # connection and account, it returns what answers it (db.later), found in Written.looked_up.
    ahead: Callable[[Connection, str], Callable[[], Any]] | None = None


def _queue_confirmations(conn: Connection, written: Written) -> bool:
    # An email double opt-in request gets its confirmation email in the same transaction, so it
    # is sent only if the request commits.
    from ..consent import confirmations

    changes = [(r.profile_id, r.state, r.events) for r in written.recorded]
    return bool(changes) and confirmations.queue(conn, written.account_id, changes) > 0


def _wake_outbox() -> None:
    from . import outbox

    outbox.wake()


def _queue_webhooks(conn: Connection, written: Written) -> bool:
    # Each event is queued for every enabled webhook of its topic, in the same transaction, so a
    # delivery exists exactly when its event does.
    from ..webhooks import queue as webhook_queue

    looked_up = written.looked_up.get(WEBHOOKS.name)
    enabled = looked_up() if looked_up is not None else None
    queued = webhook_queue.enqueue(
        conn, written.account_id, written.first_seq, written.recorded, written.precomputed, enabled
    )
    return queued > 0


def _enabled_webhooks(conn: Connection, account_id: str) -> Callable[[], Any]:
    from ...store import webhooks as webhook_store

    return webhook_store.enabled_later(conn, account_id)


def _wake_webhook_deliverers() -> None:
    from ..webhooks import delivery

    delivery.wake()


CONFIRMATIONS = Hook("confirmations", _queue_confirmations, _wake_outbox)  # the outbox sends them once committed
# The webhook deliverers send theirs once committed; the enabled webhooks are looked up with the lock
# when the recorder sends look-ups with it.
WEBHOOKS = Hook("webhooks", _queue_webhooks, _wake_webhook_deliverers, ahead=_enabled_webhooks)

# Every hook, in the order they run.
HOOKS: tuple[Hook, ...] = (CONFIRMATIONS, WEBHOOKS)
# A file import sends no confirmation emails, but its changes go out to webhooks like any other.
WITHOUT_CONFIRMATIONS: tuple[Hook, ...] = (WEBHOOKS,)


class Recorder:
    """Records one account's consent changes inside the caller's write transaction.

    Creating it takes the account's write lock (the ledger head, SELECT … FOR UPDATE), so it comes
    first in a transaction: appends of one account never interleave, and what is read afterwards
    cannot change underneath. `hooks` are the registered ones unless a use case says otherwise."""

    def __init__(
        self,
        conn: Connection,
        account_id: str,
        *,
        hooks: Sequence[Hook] = HOOKS,
        ahead: Callable[[Connection], Any] | None = None,
        before_lock: Callable[[Connection], None] | None = None,
    ) -> None:
        # `ahead(conn)` makes the caller's look-ups that must follow the lock (db.later and the
        # store's *_later functions): on PostgreSQL they go out in one round trip with the lock,
        # and what it returns is kept as `self.ahead`. `before_lock(conn)` writes what needs no
        # lock (rows nobody else can touch yet) in the same transaction, sent in that round trip
        # ahead of the lock: the lock is not held while the server writes them.
        try:
            with pipeline(conn) if ahead is not None else nullcontext():
                if before_lock is not None:
                    before_lock(conn)
                self._ledger = LedgerAppender(conn, account_id)
                self.ahead = ahead(conn) if ahead is not None else None
                # The hooks' look-ups go with the caller's (only then: an ordinary write that
                # records nothing asks nothing).
                self._looked_up = {
                    h.name: h.ahead(conn, account_id) for h in hooks if ahead is not None and h.ahead is not None
                }
            self._ledger.load()
        except NoResultFound:
            raise NotFound("account", "no such account", account_id) from None
        self.conn = conn
        self.account_id = account_id
        self._hooks = hooks
        self._pending: list[Hook] = []  # hooks with work to do after the commit

    @property
    def seq(self) -> int:
        """The account's last ledger seq, as far as this unit of work has written."""
        return self._ledger.seq

    def record(
        self,
        changes: Iterable[Recorded],
        *,
        fresh: Collection[str] = (),
        precomputed: Sequence[Precomputed] = (),
        projection_rows: projection.Rows | None = None,
        summarized: Collection[str] = (),
        first: Callable[[], None] | None = None,
        commit: bool = False,
    ) -> int:
        """Append the changes' events (in order) to the ledger, replace their profiles' projection
        and run the hooks' in-transaction part; returns how many events were written.

        The profiles rows themselves are the caller's (they exist before this is called, or
        `first` writes them, before anything else); `fresh` names profiles created in this
        transaction, which have no projection to replace yet; `projection_rows`, when given, are
        the recorded states' projection rows, made ahead; `summarized` names profiles whose
        consent summaries the caller wrote with their rows.

        With `commit`, the transaction is committed here (its owner then has nothing left to
        commit, and nothing more may be written in it). On PostgreSQL the writes are then sent
        with the COMMIT in one round trip (db.pipeline), so the account's lock is held for that
        one round trip; the hooks' in-transaction part runs first (it reads as it goes), before
        any of this call's writes is sent. An error of any write (a unique key taken by `first`'s
        rows) comes out of this call, and the transaction is rolled back by its owner.

        `precomputed`'s events come first, in order, from `seq` + 1 on: a caller that inserted
        those profiles' rows in this transaction knows each one's last seq as it wrote them (a file
        import keeps it with the row's digest)."""
        recorded = [c for c in changes if c.events]
        first_seq = self._ledger.seq + 1
        for p in precomputed:
            for e in p.events:
                self._ledger.add_encoded(p.profile_id, e)
        for c in recorded:
            if c.encoded is None:
                self._ledger.add(c.profile_id, c.events)
            else:
                for e in c.encoded:
                    self._ledger.add_encoded(c.profile_id, e)
        batch = Written(self.account_id, first_seq, recorded, precomputed, self._looked_up)
        pipelined = commit and self.conn.dialect.name != "sqlite"
        if pipelined and self._ledger.rows:
            self._run_hooks(batch)
        with pipeline(self.conn) if pipelined else nullcontext():
            if first is not None:
                first()
            written = self._ledger.flush()
            projection.write(
                self.conn,
                self.account_id,
                {c.profile_id: c.state for c in recorded},
                fresh=fresh,
                rows=projection_rows,
                summarized=summarized,
            )
            if precomputed:
                rows = projection.empty_rows()
                for p in precomputed:
                    for table, table_rows in p.projection.items():
                        rows[table] += table_rows
                projection.insert(self.conn, rows)
            if commit:
                commit_now(self.conn)
        if written and not pipelined:
            self._run_hooks(batch)
        return written

    def _run_hooks(self, batch: Written) -> None:
        for hook in self._hooks:
            if hook.in_transaction(self.conn, batch) and hook not in self._pending:
                self._pending.append(hook)

    def committed(self) -> None:
        """Run the after-commit part of the hooks that had work; the transaction's owner calls it."""
        pending, self._pending = self._pending, []
        for hook in pending:
            hook.after_commit()


@contextmanager
def recording(
    engine: Engine,
    account_id: str,
    *,
    hooks: Sequence[Hook] = HOOKS,
    ahead: Callable[[Connection], Any] | None = None,
    before_lock: Callable[[Connection], None] | None = None,
) -> Iterator[Recorder]:
    """A write transaction with the account's recorder (`ahead` and `before_lock` as Recorder takes
    them); after-commit hooks run once it commits (never when it rolls back)."""
    with write_transaction(engine) as conn:
        recorder = Recorder(conn, account_id, hooks=hooks, ahead=ahead, before_lock=before_lock)
        yield recorder
    recorder.committed()


def quiet(changes: Iterable[Recorded]) -> bool:
    """Whether the hooks have nothing to do for these changes when the account has no enabled
    webhook: no email double opt-in request to confirm (what confirmations.queue looks for). Such
    changes may be recorded at once."""
    return not any(
        e.type is EventType.OPTIN_REQUESTED and e.channel is Channel.EMAIL for c in changes for e in c.events
    )


def record_at_once(
    engine: Engine,
    account_id: str,
    changes: Sequence[Recorded],
    *,
    before_lock: Callable[[Connection], None],
    unchanged: tuple[int, Read],
    first: Callable[[Connection], None],
    fresh: Collection[str] = (),
    projection_rows: projection.Rows | None = None,
    summarized: Collection[str] = (),
) -> int:
    """PostgreSQL: record `changes` (quiet ones; their events encoded ahead, or here) in one round trip,
    a transaction sent whole: `before_lock`'s writes, the account's lock, the events appended with
    their chain worked out by the server from the locked head once it has checked that what the
    changes were worked out from (`unchanged`: the seq they were prepared at, and what they read)
    has not changed since, and that the account has no enabled webhook (the hooks are not run),
    then `first`'s writes, the projection, the commit. A failed check fails the transaction. The
    lock is held for the server's own work only: between taking it and committing, nothing waits
    on this process (its turn at the interpreter, its next statement). Returns how many events
    were written; a failed check or write comes out of it, and nothing is written."""
    with write_transaction(engine) as conn:
        with pipeline(conn):
            before_lock(conn)
            ledger = LedgerAppender(conn, account_id)
            # Checked and appended before `first` and the projection write the profiles it reads.
            appended = ledger.append_in_database(
                [(c.profile_id, e) for c in changes for e in _encoded(account_id, c)], unchanged
            )
            first(conn)
            projection.write(
                conn,
                account_id,
                {c.profile_id: c.state for c in changes if c.events},
                fresh=fresh,
                rows=projection_rows,
                summarized=summarized,
            )
            commit_now(conn)
        return appended()


def _encoded(account_id: str, change: Recorded) -> Sequence[EncodedEvent]:
    if change.encoded is not None:
        return change.encoded
    return [encode(account_id, change.profile_id, e) for e in change.events]
