"""The SQL of a segment's values: the scope a definition compiles in, time bounds, string filters
and the profile's properties (well-known columns and custom JSON `properties`), per backend.
Every expression here is two-valued: it is false, never NULL, where a value is missing or of
another kind (domain/segment_eval.py: a filter matches only a value of its kind)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Text, and_, case, cast, exists, func, literal, not_, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from ..domain.decisions import Policy
from ..domain.segment_conditions import Definition, ProfileProperty
from ..domain.segment_eval import date_text
from ..domain.segment_filters import (
    BoolFilter,
    Bounds,
    DateValue,
    Existence,
    InFilter,
    ListContains,
    ListLength,
    NumberFilter,
    StringFilter,
    ValueFilter,
)
from .tables import profiles

Bool = ColumnElement[bool]
P = profiles.c
NUMERIC: dict[str, Callable[[Any, Any], Bool]] = {
    "equals": lambda a, b: a == b,
    "not-equals": lambda a, b: a != b,
    "greater-than": lambda a, b: a > b,
    "greater-than-or-equal": lambda a, b: a >= b,
    "less-than": lambda a, b: a < b,
    "less-than-or-equal": lambda a, b: a <= b,
}
_DATE_COLUMNS = {"created": P.created_at, "updated": P.updated_at, "last_event_date": P.last_event_at}


@dataclass(frozen=True, slots=True)
class Scope:
    """What a definition is compiled against: the account, now, its policy, its other segments
    (a group id not among them is a list) and the built-in metrics (id -> the ledger's metric name)."""

    account_id: str
    now: datetime
    dialect: str  # "sqlite" or "postgresql"
    policy: Policy = field(default_factory=Policy)
    segments: Mapping[str, Definition] = field(default_factory=dict)
    ledger_metrics: Mapping[str, str] = field(default_factory=dict)
    zone_groups: Sequence[str] = ()  # every zone list a kept place names (quiet hours: store/places.py)


def within(column: ColumnElement[Any], b: Bounds) -> Bool:
    parts: list[Bool] = [column.is_not(None)]
    if b.low is not None:
        parts.append(column > b.low if b.low_strict else column >= b.low)
    if b.high is not None:
        parts.append(column < b.high if b.high_strict else column <= b.high)
    return and_(*parts)


def column_filter(scope: Scope, column: ColumnElement[Any], f: StringFilter | InFilter) -> Bool:
    """A string filter on a nullable text column: it matches only a value that is set."""
    guard = column.is_not(None)
    if isinstance(f, InFilter):
        hit = column.in_(list(f.values))
        return and_(guard, not_(hit) if f.negated else hit)
    return and_(guard, _string(column, f) if scope.dialect == "sqlite" else _pg_string(column, f))


# --- profile properties -----------------------------------------------------------------------


def _string(value: ColumnElement[Any], f: StringFilter) -> Bool:
    """A string operator over a value known to be a string (never NULL here)."""
    op, x = f.operator, f.value
    if op == "equals":
        return value == x
    if op == "not-equals":
        return value != x
    positive = op.removeprefix("not-")
    if x == "":
        hit: Bool = true()
    elif positive == "contains":
        hit = func.instr(value, x) > 0
    elif positive == "starts-with":
        hit = func.substr(value, 1, len(x)) == x
    else:
        hit = func.substr(value, -len(x)) == x
    return not_(hit) if op.startswith("not-") else hit


def _pg_string(value: ColumnElement[Any], f: StringFilter) -> Bool:
    op, x = f.operator, f.value
    positive = op.removeprefix("not-")
    if op in ("equals", "not-equals") or x == "" or positive == "starts-with":
        return _string(value, f)
    hit: Bool = func.strpos(value, x) > 0 if positive == "contains" else func.right(value, len(x)) == x
    return not_(hit) if op.startswith("not-") else hit


class _Json:
    """One custom property of the profile's JSON `properties`, per backend."""

    def __init__(self, dialect: str, key: str) -> None:
        self.sqlite = dialect == "sqlite"
        if self.sqlite:
            path = f'$."{key}"'  # the domain refuses quotes and backslashes in a property name
            self.path = path
            self.kind = func.coalesce(func.json_type(P.properties, path), "")
            self.value: ColumnElement[Any] = func.json_extract(P.properties, path)
            self.text: ColumnElement[Any] = self.value
        else:
            doc = cast(P.properties, JSONB)
            self.node = doc.op("->")(key)
            self.kind = func.coalesce(func.jsonb_typeof(self.node), "")
            self.text = doc.op("->>", return_type=Text)(key)

    def is_string(self) -> Bool:
        return self.kind == ("text" if self.sqlite else "string")

    def is_number(self) -> Bool:
        return self.kind.in_(["integer", "real"]) if self.sqlite else self.kind == "number"

    def number(self) -> ColumnElement[Any]:
        if self.sqlite:
            return self.value
        return case((self.is_number(), cast(self.text, Float)), else_=None)

    def boolean(self, value: bool) -> Bool:
        if self.sqlite:
            return self.kind == ("true" if value else "false")
        return and_(self.kind == "boolean", self.text == ("true" if value else "false"))

    def is_set(self) -> Bool:
        return and_(self.kind != "", self.kind != "null")

    def is_array(self) -> Bool:
        return self.kind == "array"

    def contains(self, x: str | float) -> Bool:
        if self.sqlite:
            each = func.json_each(P.properties, self.path).table_valued("value", "type")
            kinds = ["text"] if isinstance(x, str) else ["integer", "real"]
            return exists(select(literal(1)).select_from(each).where(each.c.type.in_(kinds), each.c.value == x))
        element = cast(literal(x), Text) if isinstance(x, str) else cast(literal(x), Float)
        return self.node.op("@>")(func.jsonb_build_array(element))

    def length(self) -> ColumnElement[Any]:
        if self.sqlite:
            return func.json_array_length(P.properties, self.path)
        return case((self.is_array(), func.jsonb_array_length(self.node)), else_=None)

    def date_text(self) -> tuple[Bool, ColumnElement[Any]]:
        """(looks like a date, its comparable text) for a string value."""
        v = self.text
        looks = (
            v.op("GLOB")("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*")
            if self.sqlite
            else v.op("~")("^[0-9]{4}-[0-9]{2}-[0-9]{2}")
        )
        norm = case((func.length(v) == 10, v + " 00:00:00"), else_=func.replace(func.substr(v, 1, 19), "T", " "))
        return looks, norm if self.sqlite else norm.collate("C")


def _textwithin(text: ColumnElement[Any], b: Bounds) -> Bool:
    parts: list[Bool] = []
    if b.low is not None:
        low = date_text(b.low)
        parts.append(text > low if b.low_strict else text >= low)
    if b.high is not None:
        high = date_text(b.high)
        parts.append(text < high if b.high_strict else text <= high)
    return and_(true(), *parts)


def _custom(scope: Scope, key: str, f: ValueFilter) -> Bool:
    j = _Json(scope.dialect, key)
    if isinstance(f, Existence):
        return j.is_set() if f.is_set else not_(j.is_set())
    if isinstance(f, StringFilter):
        return and_(j.is_string(), _string(j.text, f) if j.sqlite else _pg_string(j.text, f))
    if isinstance(f, InFilter):
        hit: Bool = j.text.in_(list(f.values))
        return and_(j.is_string(), not_(hit) if f.negated else hit)
    if isinstance(f, NumberFilter):
        return and_(j.is_number(), NUMERIC[f.operator](j.number(), f.value))
    if isinstance(f, BoolFilter):
        return j.boolean(f.value)
    if isinstance(f, ListContains):
        hit = j.contains(f.value)
        return and_(j.is_array(), not_(hit) if f.negated else hit)
    if isinstance(f, ListLength):
        return and_(j.is_array(), NUMERIC[f.operator](j.length(), f.value))
    assert isinstance(f, DateValue)
    looks, text = j.date_text()
    return and_(j.is_string(), looks, _textwithin(text, f.dates.bounds(scope.now)))


def profile_property(scope: Scope, c: ProfileProperty) -> Bool:
    f = c.filter
    if c.key is not None:
        return _custom(scope, c.key, f)
    assert c.field is not None
    if c.field in _DATE_COLUMNS:
        moment = _DATE_COLUMNS[c.field]
        if isinstance(f, Existence):
            return moment.is_not(None) if f.is_set else moment.is_(None)
        assert isinstance(f, DateValue)
        return within(moment, f.dates.bounds(scope.now))
    column: ColumnElement[Any] = getattr(P, c.field)
    if isinstance(f, Existence):
        return column.is_not(None) if f.is_set else column.is_(None)
    assert isinstance(f, StringFilter | InFilter)
    return column_filter(scope, column, f)
