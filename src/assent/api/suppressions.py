"""(being written)"""

from __future__ import annotations

from .operation import Operation

OPERATIONS: list[Operation] = []
