"""Type names for SQLAlchemy's results whose columns are not typed one by one.

SQLAlchemy 2.1 types a Row or Select by its column types (`Row[int, str]`); the store reads rows
by column name, so it names them with any number of untyped columns. The aliases are strings, so
nothing of them is evaluated at run time.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy import Row, Select

AnyRow: TypeAlias = "Row[*tuple[Any, ...]]"
AnySelect: TypeAlias = "Select[*tuple[Any, ...]]"
# A cursor's sort key: the values of the ordering columns of one row.
SortKey: TypeAlias = tuple[Any, ...]
