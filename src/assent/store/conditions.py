"""Filter operators, as the API names them, to SQL comparisons: one table for every listing."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from sqlalchemy.sql.elements import ColumnElement

Compare = Callable[[ColumnElement[Any], Any], ColumnElement[bool]]

OPERATORS: dict[str, Compare] = {
    "equals": operator.eq,
    "any": lambda column, values: column.in_(list(values)),
    "greater-than": operator.gt,
    "greater-or-equal": operator.ge,
    "less-than": operator.lt,
    "less-or-equal": operator.le,
}
