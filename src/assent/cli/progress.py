"""Progress bars on stderr, shown only when it is a terminal (stdout stays clean for --json)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress_bar(total: int | None, label: str) -> Iterator[Callable[..., None] | None]:
    """A progress bar on stderr when it is a terminal (stdout stays clean for --json); nothing when piped.
    The callback takes the number of items done (and ignores anything after it)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n, *_: bar.advance(task, n)


class FileProgress:
    """Progress through a file, as rich shows a download: bytes read of its size, percentage, time
    left, and rows. On stderr when it is a terminal; started once the lines before it are printed."""

    def __init__(self, size: int, label: str) -> None:
        self.size, self.label, self.rows = size, label, 0
        self.bar: Any = None

    def start(self) -> None:
        if not sys.stderr.isatty() or self.bar is not None:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn(self.label), BarColumn(), DownloadColumn(), TaskProgressColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[rows]:,} rows"), console=Console(stderr=True), transient=True,
        )  # fmt: skip
        self.task = self.bar.add_task(self.label, total=self.size, rows=0)
        self.bar.start()

    def __call__(self, rows: int, read: int) -> None:
        self.rows += rows
        if self.bar is not None:
            self.bar.update(self.task, completed=min(read, self.size), rows=self.rows)

    def __enter__(self) -> FileProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


class RowProgress:
    """Progress through rows whose total is known only once the job has started (an export counts
    its audience first): `start(total, done)`, then one call per batch with the rows it wrote. On
    stderr when it is a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def start(self, total: int, done: int = 0) -> None:
        if not sys.stderr.isatty() or self.bar is not None:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=True)  # fmt: skip
        self.task = self.bar.add_task(self.label, total=total, completed=done)
        self.bar.start()

    def __call__(self, rows: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, rows)

    def __enter__(self) -> RowProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
