"""Group commit: writes of one account that queue for its ledger lock in this process go in together.

An account's appends take turns on its ledger lock (the hash chain is one sequence), and each turn
ends with a commit: on PostgreSQL, a flush of the write-ahead log that the lock is held through. A
write that arrives while another of the process's is at the lock waits in the account's queue;
the one that finds no write ahead of it leads: it takes the queue (as far as its writes go
together) and writes them as one transaction, then hands the lead to the next waiting write, if
any. Nothing waits for company: a write that finds the queue empty goes at once, alone.

Each write still answers only once it is committed, and a group that cannot be written whole
(one of its writes is stale, or fails) is written by each of its members alone, as if it had
never been grouped: one write's failure is never another's.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

W = TypeVar("W")  # one write, as its caller worked it out
R = TypeVar("R")  # what writing it gives back


@dataclass(eq=False, slots=True)
class _Waiting(Generic[W, R]):
    write: W
    done: threading.Event = field(default_factory=threading.Event)
    leads: bool = False  # handed the lead rather than a result
    result: R | None = None
    error: BaseException | None = None

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class Combiner(Generic[W, R]):
    """Writes that arrive together for one key (an account) are written together.

    `write_group(writes)` writes several as one transaction and returns each one's result, or
    raises (then each is written alone); `write_one(write)` writes one by itself. `joins(group,
    write)` says whether a write may join a group (writes that touch the same profiles may not:
    each was worked out from what the other changes)."""

    def __init__(
        self,
        write_one: Callable[[W], R],
        write_group: Callable[[Sequence[W]], Sequence[R]],
        joins: Callable[[Sequence[W], W], bool],
    ) -> None:
        self._write_one = write_one
        self._write_group = write_group
        self._joins = joins
        self._mutex = threading.Lock()
        self._queues: dict[Hashable, deque[_Waiting[W, R]]] = {}  # a key has a queue while a write leads it

    def write(self, key: Hashable, write: W) -> R:
        """Write `write`, with whatever else of `key` is waiting when its turn comes; its result."""
        me: _Waiting[W, R] = _Waiting(write)
        with self._mutex:
            queue = self._queues.get(key)
            leads = queue is None
            if leads:
                queue = self._queues[key] = deque()
            queue.append(me)  # type: ignore[union-attr]
        if not leads:
            me.done.wait()
            if not me.leads:
                return me.outcome()
        self._lead(key)
        return me.outcome()

    def _lead(self, key: Hashable) -> None:
        """Write the group at the head of the queue (the leader's own write is its first), then
        hand the lead to the next write waiting, or end the queue when none is."""
        with self._mutex:
            queue = self._queues[key]
            group = [queue.popleft()]
            while queue and self._joins([w.write for w in group], queue[0].write):
                group.append(queue.popleft())
        try:
            self._write(group)
        finally:
            with self._mutex:
                if queue:
                    queue[0].leads = True
                    queue[0].done.set()
                else:
                    del self._queues[key]

    def _write(self, group: list[_Waiting[W, R]]) -> None:
        try:
            if len(group) > 1 and self._wrote_together(group):
                return
            # Alone: a single write, or a group that could not be written whole (each member's own
            # write then tells its own error, if it has one).
            for w in group:
                try:
                    w.result = self._write_one(w.write)
                except Exception as e:  # handed to the write's own thread, which raises it
                    w.error = e
                w.done.set()
        except BaseException as e:  # an interrupt: no member may wait for ever
            for w in group:
                if not w.done.is_set():
                    w.error = e
                    w.done.set()
            raise

    def _wrote_together(self, group: list[_Waiting[W, R]]) -> bool:
        try:
            results = self._write_group([w.write for w in group])
        except Exception:
            return False
        for w, result in zip(group, results, strict=True):
            w.result = result
            w.done.set()
        return True
