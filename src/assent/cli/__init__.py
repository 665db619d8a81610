"""The `assent` command. Human output by default, JSON with --json; bad input exits 1 with one line.

One module per command group; `common` holds the options and output helpers they share, `root` the
top-level group. Commands call services, never the store.

Importing this package loads nothing else (not even typer): an import's worker processes run the
`assent` script again as their parent's main module, and it imports `main` from here."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .decide import VERDICT_EXIT_CODES as VERDICT_EXIT_CODES
    from .root import COMMANDS as COMMANDS
    from .root import app as app
    from .root import load_command as load_command

__all__ = ["COMMANDS", "VERDICT_EXIT_CODES", "app", "load_command", "main"]


def main() -> None:
    from .root import app

    try:
        app()
    finally:
        # The process ends here, so nothing the command loaded needs collecting. The collector's
        # passes over it at interpreter shutdown took a fifth of a second after an import of
        # 100,000 rows (a sixth of its re-import); they skip frozen objects.
        gc.freeze()


def __getattr__(name: str) -> Any:
    if name == "VERDICT_EXIT_CODES":
        from .decide import VERDICT_EXIT_CODES

        return VERDICT_EXIT_CODES
    if name in ("COMMANDS", "app", "load_command"):
        from . import root

        return getattr(root, name)
    raise AttributeError(name)
