"""Group commit: bulk jobs of one account that reach its ledger lock together in one process are
appended as one transaction, each job still answering with its own report once committed. The
per-account hash chain stays one chain, the projection still equals a replay of the ledger, and a
group that cannot be written whole is written job by job, so one job's failure is never another's.
The combiner itself is tested with plain functions; the bulk jobs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from assent.domain import Channel, ConsentStatus, Purpose
from assent.services.consent import bulk
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.bulk import ConsentItem, subscribe_profiles
from assent.services.consent.changes import Locator
from assent.services.profiles import reading as profiles
from assent.services.profiles import writes as profile_writes
from assent.services.shared.combining import Combiner

EMAIL_M = (Channel.EMAIL, Purpose.MARKETING)


def _in_threads(
    calls: Sequence[Callable[[], object]], *, first_leads: tuple[Combiner, object] | None = None
) -> tuple[list[object], list[BaseException]]:
    """Run each call in a thread of its own; with `first_leads` (a combiner and key), the first call
    is at the combiner before the others start."""
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as e:  # noqa: BLE001 — the caller asserts on it
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for i, th in enumerate(threads):
        th.start()
        if i == 0 and first_leads is not None:
            _wait_for(lambda: first_leads[1] in first_leads[0]._queues)  # it leads: its queue exists
    for th in threads:
        th.join(30)
    return results, errors


def _wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "the writes never queued"
        time.sleep(0.001)


def _queued(combiner: Combiner, key, n: int) -> bool:
    queue = combiner._queues.get(key)
    return queue is not None and len(queue) >= n


def _behind_first(
    combiner: Combiner, first: Callable[[], object], others: Sequence[Callable[[], object]], release: threading.Event
) -> None:
    """Run `first` until it leads key "a" (its write then waits for `release`), then each of `others`
    in turn until it has queued behind it; release the first and wait for them all."""
    threads = [threading.Thread(target=first)]
    threads[0].start()
    _wait_for(lambda: "a" in combiner._queues)
    for call in others:
        threads.append(threading.Thread(target=call))
        threads[-1].start()
        _wait_for(lambda: _queued(combiner, "a", len(threads) - 1))
    release.set()
    for th in threads:
        th.join(10)


# --- the combiner ------------------------------------------------------------------------------


def test_writes_that_queue_behind_a_write_are_written_together_and_each_gets_its_own_result():
    release = threading.Event()
    singles: list[int] = []
    groups: list[list[int]] = []

    def write_one(w: int) -> int:
        if w == 0:
            release.wait(10)  # the first write holds "the lock" until the others queue
        singles.append(w)
        return w * 10

    def write_group(ws: Sequence[int]) -> list[int]:
        groups.append(list(ws))
        return [w * 10 for w in ws]

    combiner: Combiner[int, int] = Combiner(write_one, write_group, lambda group, w: True)
    results: list[object] = []
    others = [lambda w=w: results.append((w, combiner.write("a", w))) for w in (1, 2, 3)]
    _behind_first(combiner, lambda: combiner.write("a", 0), others, release)
    assert singles == [0]
    assert [sorted(g) for g in groups] == [[1, 2, 3]]
    assert sorted(results) == [(1, 10), (2, 20), (3, 30)]
    assert combiner._queues == {}  # the last leader ended the account's queue


def test_a_group_that_fails_is_written_one_by_one_and_only_the_failing_write_sees_its_error():
    release = threading.Event()

    def write_one(w: int) -> int:
        if w == 0:
            release.wait(10)
        if w == 2:
            raise ValueError("write 2 is refused")
        return w

    def write_group(ws: Sequence[int]) -> list[int]:
        raise RuntimeError("the group cannot be written whole")

    combiner: Combiner[int, int] = Combiner(write_one, write_group, lambda group, w: True)
    results, errors = [], []

    def call(w: int) -> None:
        try:
            results.append(combiner.write("a", w))
        except ValueError as e:
            errors.append((w, str(e)))

    _behind_first(combiner, lambda: call(0), [lambda w=w: call(w) for w in (1, 2, 3)], release)
    assert sorted(results) == [0, 1, 3]
    assert errors == [(2, "write 2 is refused")]


def test_a_write_that_may_not_join_waits_for_the_next_group_in_order():
    release = threading.Event()
    order: list[list[str]] = []

    def write_one(w: str) -> str:
        if w == "first":
            release.wait(10)
        order.append([w])
        return w

    def write_group(ws: Sequence[str]) -> list[str]:
        order.append(list(ws))
        return list(ws)

    # "b2" touches what "b1" touches: never in one group with it.
    combiner: Combiner[str, str] = Combiner(
        write_one, write_group, lambda group, w: not any(g[0] == w[0] for g in group)
    )
    others = [lambda w=w: combiner.write("a", w) for w in ("b1", "c1", "b2")]
    _behind_first(combiner, lambda: combiner.write("a", "first"), others, release)
    assert order == [["first"], ["b1", "c1"], ["b2"]]


def test_accounts_do_not_share_groups():
    combiner: Combiner[int, int] = Combiner(lambda w: w, lambda ws: list(ws), lambda group, w: True)
    results, errors = _in_threads([lambda k=k: combiner.write(k, k) for k in range(8)])
    assert errors == [] and sorted(results) == list(range(8))  # type: ignore[type-var]


# --- bulk jobs ---------------------------------------------------------------------------------


def _hold_first_job_until_queued(monkeypatch, waiting: int) -> list[int]:
    """The next job to be written alone holds the account's lock until `waiting` more jobs queue
    behind it; returns the sizes of the groups written together."""
    write_one, write_group, sizes = bulk._JOBS._write_one, bulk._JOBS._write_group, []
    held = []

    def holding(job):
        if not held:
            held.append(1)
            _wait_for(lambda: _queued(bulk._JOBS, (job.engine, job.account_id), waiting))
        return write_one(job)

    def grouping(jobs):
        sizes.append(len(jobs))
        return write_group(jobs)

    monkeypatch.setattr(bulk._JOBS, "_write_one", holding)
    monkeypatch.setattr(bulk._JOBS, "_write_group", grouping)
    return sizes


def _job(emails: list[str]) -> list[ConsentItem]:
    return [ConsentItem(None, e, None, (EMAIL_M,)) for e in emails]


def _status(engine, account_id: str, email: str) -> ConsentStatus:
    return profiles.get_profile(engine, account_id, Locator("email", email)).state.consents[EMAIL_M].status


def _consistent(engine, account_id: str) -> None:
    assert ledger.verify(engine, account_id).ok
    assert ledger.rebuild(engine, account_id, check=True).differences == []


def test_jobs_at_the_lock_together_append_one_chain_and_report_each_its_own(engine, account_id, monkeypatch):
    sizes = _hold_first_job_until_queued(monkeypatch, waiting=3)
    jobs = [[f"g{j}.{i}@example.com" for i in range(5 + j)] for j in range(4)]
    calls = [lambda emails=emails: subscribe_profiles(engine, account_id, _job(emails)) for emails in jobs]
    reports, errors = _in_threads(calls, first_leads=(bulk._JOBS, (engine, account_id)))
    assert errors == []
    assert sizes == [3]  # the first alone (it held the lock), the three that queued behind it as one
    by_size = sorted((r.created, r.subscribed, r.events) for r in reports)  # type: ignore[union-attr]
    assert by_size == [(5 + j, 5 + j, 5 + j) for j in range(4)]
    assert all(_status(engine, account_id, e) is ConsentStatus.SUBSCRIBED for emails in jobs for e in emails)
    _consistent(engine, account_id)


def test_jobs_on_the_same_profiles_are_never_grouped_and_the_later_is_worked_out_again(engine, account_id, monkeypatch):
    sizes = _hold_first_job_until_queued(monkeypatch, waiting=2)
    shared = ["same@example.com"]
    calls = [
        lambda: subscribe_profiles(engine, account_id, _job(["first@example.com"])),
        lambda: subscribe_profiles(engine, account_id, _job(shared)),
        lambda: subscribe_profiles(engine, account_id, _job(shared + ["other@example.com"])),
    ]
    reports, errors = _in_threads(calls, first_leads=(bulk._JOBS, (engine, account_id)))
    assert errors == []
    assert sizes == []  # the two jobs on the same profile went one after the other
    created = sorted(r.created for r in reports)  # type: ignore[union-attr]
    assert created in ([1, 1, 1], [0, 1, 2])  # the later of the two found the profile the other made
    assert profiles.get_profile(engine, account_id, Locator("email", "same@example.com")) is not None
    _consistent(engine, account_id)


def test_a_group_whose_identifier_was_taken_in_between_is_written_job_by_job(engine, account_id, monkeypatch):
    sizes = _hold_first_job_until_queued(monkeypatch, waiting=2)
    write_group = bulk._JOBS._write_group

    def taken_first(jobs):
        # Another writer gives the second job's new email to a profile before the group is written.
        profile_writes.create_profile(engine, account_id, profile_writes.ProfileInput({"email": "taken@example.com"}))
        return write_group(jobs)

    monkeypatch.setattr(bulk._JOBS, "_write_group", taken_first)
    calls = [
        lambda: subscribe_profiles(engine, account_id, _job(["lead@example.com"])),
        lambda: subscribe_profiles(engine, account_id, _job(["free@example.com"])),
        lambda: subscribe_profiles(engine, account_id, _job(["taken@example.com"])),
    ]
    reports, errors = _in_threads(calls, first_leads=(bulk._JOBS, (engine, account_id)))
    assert errors == []
    assert sizes == [2] or sizes == []  # grouped, then refused whole (or the two never met at the lock)
    assert sorted((r.created, r.updated) for r in reports) == [(0, 1), (1, 0), (1, 0)]  # type: ignore[union-attr]
    for email in ("lead@example.com", "free@example.com", "taken@example.com"):
        assert _status(engine, account_id, email) is ConsentStatus.SUBSCRIBED
    _consistent(engine, account_id)


@pytest.mark.parametrize("threads", [6])
def test_many_jobs_at_once_keep_one_chain(engine, account_id, threads):
    emails = [[f"m{t}.{j}.{i}@example.com" for i in range(20)] for t in range(threads) for j in range(3)]

    def run(t: int) -> None:
        for j in range(3):
            subscribe_profiles(engine, account_id, _job(emails[t * 3 + j]))

    _, errors = _in_threads([lambda t=t: run(t) for t in range(threads)])
    assert errors == []
    assert all(_status(engine, account_id, e) is ConsentStatus.SUBSCRIBED for job in emails for e in job)
    _consistent(engine, account_id)


def test_jobs_changing_the_same_stored_profile_go_one_after_the_other(engine, account_id, monkeypatch):
    # Each was worked out from the profile as stored: written as one, the second would overwrite
    # the first's change in the projection.
    profile_writes.create_profile(engine, account_id, profile_writes.ProfileInput({"email": "p@example.com"}))
    sizes = _hold_first_job_until_queued(monkeypatch, waiting=2)
    sms = (Channel.SMS, Purpose.MARKETING)
    calls = [
        lambda: subscribe_profiles(engine, account_id, _job(["first@example.com"])),
        lambda: subscribe_profiles(engine, account_id, _job(["p@example.com"])),
        lambda: subscribe_profiles(engine, account_id, [ConsentItem(None, "p@example.com", "+14155550123", (sms,))]),
    ]
    _, errors = _in_threads(calls, first_leads=(bulk._JOBS, (engine, account_id)))
    assert errors == []
    assert sizes == []
    state = profiles.get_profile(engine, account_id, Locator("email", "p@example.com")).state
    assert state.consents[EMAIL_M].status is ConsentStatus.SUBSCRIBED
    assert state.consents[sms].status is ConsentStatus.SUBSCRIBED
    _consistent(engine, account_id)
