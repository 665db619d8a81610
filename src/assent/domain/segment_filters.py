"""The filters a segment condition is made of (dates, strings, numbers, booleans, lists, existence),
read from Klaviyo's JSON shapes, and the reader that walks a definition naming where it is.

Every refusal is a DomainError whose field is the dotted path to the offending member (e.g.
`definition.condition_groups.0.conditions.1.filter.operator`), which the API turns into a JSON
pointer: an unsupported filter is a 400 naming it, never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from .errors import DomainError
from .instants import earlier, later

# --- walking the JSON -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class At:
    """A JSON object of the definition and the dotted path to it."""

    value: Mapping[str, Any]
    path: str

    @staticmethod
    def of(value: object, path: str) -> At:
        if not isinstance(value, Mapping):
            raise DomainError(path, "must be an object", type(value).__name__)
        return At(value, path)

    def field(self, name: str) -> str:
        return f"{self.path}.{name}"

    def has(self, name: str) -> bool:
        return self.value.get(name) is not None

    def raw(self, name: str, required: bool = True) -> Any:
        value = self.value.get(name)
        if value is None and required:
            raise DomainError(self.field(name), "is required")
        return value

    def obj(self, name: str) -> At:
        return At.of(self.raw(name), self.field(name))

    def text(self, name: str, choices: tuple[str, ...] | None = None, required: bool = True) -> str:
        value = self.raw(name, required)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise DomainError(self.field(name), "must be a string", value)
        if choices is not None and value not in choices:
            raise DomainError(self.field(name), f"must be one of {', '.join(choices)}", value)
        return value

    def boolean(self, name: str) -> bool:
        value = self.raw(name)
        if not isinstance(value, bool):
            raise DomainError(self.field(name), "must be true or false", value)
        return value

    def integer(self, name: str, low: int = 0, high: int = 100_000) -> int:
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise DomainError(self.field(name), "must be a whole number", value)
        if not low <= value <= high:
            raise DomainError(self.field(name), f"must be from {low} to {high}", value)
        return value

    def number(self, name: str) -> float:
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise DomainError(self.field(name), "must be a number", value)
        if abs(value) > 1e15:
            raise DomainError(self.field(name), "must be at most 1e15 in size", value)
        return float(value)

    def strings(self, name: str, max_items: int = 1000) -> tuple[str, ...]:
        value = self.raw(name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DomainError(self.field(name), "must be a list of strings", value)
        if not value or len(value) > max_items:
            raise DomainError(self.field(name), f"must hold 1 to {max_items} strings", len(value))
        return tuple(value)

    def items(self, name: str, required: bool = True) -> list[At]:
        value = self.raw(name, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise DomainError(self.field(name), "must be a list", type(value).__name__)
        return [At.of(v, f"{self.field(name)}.{i}") for i, v in enumerate(value)]

    def moment(self, name: str) -> datetime:
        value = self.text(name)
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise DomainError(self.field(name), "must be an ISO 8601 date-time", value) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # Klaviyo reads a time without an offset as UTC
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00
            raise DomainError(self.field(name), "is outside the years 1 to 9999 in UTC", value) from None

    def only(self, *names: str) -> None:
        """Refuse members this reader does not know, so nothing a client sends is silently ignored."""
        for key in self.value:
            if key not in names and self.value[key] is not None:
                raise DomainError(self.field(key), "is not a member of this object (not supported)")


# --- dates ------------------------------------------------------------------------------------

Unit = Literal["hour", "day", "week"]
_UNITS: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
MAX_QUANTITY = 100_000


@dataclass(frozen=True, slots=True)
class Bounds:
    """An interval of time; a missing end is open. `strict` ends exclude their instant."""

    low: datetime | None
    high: datetime | None
    low_strict: bool = False
    high_strict: bool = False

    def holds(self, moment: datetime | None) -> bool:
        if moment is None:
            return False
        if self.low is not None and (moment < self.low or (self.low_strict and moment == self.low)):
            return False
        return not (self.high is not None and (moment > self.high or (self.high_strict and moment == self.high)))


@dataclass(frozen=True, slots=True)
class DateFilter:
    """Klaviyo's date filters: static (after, before, between-static), relative to now (in-the-last,
    at-least, in-the-next, between N and M ago) and alltime."""

    operator: str
    date: datetime | None = None
    end: datetime | None = None
    quantity: int = 0
    until: int = 0  # `between`: the far end, in units ago
    unit: Unit = "day"

    def bounds(self, now: datetime) -> Bounds:
        op, step = self.operator, _UNITS[self.unit]
        if op == "after":
            return Bounds(self.date, None, low_strict=True)
        if op == "before":
            return Bounds(None, self.date, high_strict=True)
        if op == "between-static":
            return Bounds(self.date, self.end)
        if op == "in-the-last":
            return Bounds(earlier(now, self.quantity * step), now)
        if op == "at-least":
            return Bounds(None, earlier(now, self.quantity * step))
        if op == "in-the-next":
            return Bounds(now, later(now, self.quantity * step))
        if op == "between":
            return Bounds(earlier(now, self.until * step), earlier(now, self.quantity * step))
        return Bounds(None, None)  # alltime


_STATIC = ("after", "before", "between-static")
_RELATIVE = ("in-the-last", "at-least", "in-the-next", "between")
_UNSUPPORTED_DATES = ("anniversary-last", "anniversary-next", "calendar-month", "anniversary", "anniversary-month")


def date_filter(at: At, alltime: bool = False) -> DateFilter:
    at.text("type", ("date",))
    op = at.text("operator")
    if op in _UNSUPPORTED_DATES:
        raise DomainError(at.field("operator"), "this date operator is not supported by Assent", op)
    allowed = (*_STATIC, *_RELATIVE, *(("alltime",) if alltime else ()))
    if op not in allowed:
        raise DomainError(at.field("operator"), f"must be one of {', '.join(allowed)}", op)
    if op in ("after", "before"):
        at.only("type", "operator", "date")
        return DateFilter(op, date=at.moment("date"))
    if op == "between-static":
        at.only("type", "operator", "start", "end")
        start, end = at.moment("start"), at.moment("end")
        if end < start:
            raise DomainError(at.field("end"), "must not be before start", end.isoformat())
        return DateFilter(op, date=start, end=end)
    if op == "alltime":
        at.only("type", "operator")
        return DateFilter(op)
    unit: Unit = at.text("unit", tuple(_UNITS))  # type: ignore[assignment]  # checked against the choices
    if op == "between":
        at.only("type", "operator", "start", "end", "unit")
        near, far = at.integer("start", 0, MAX_QUANTITY), at.integer("end", 0, MAX_QUANTITY)
        if far < near:
            raise DomainError(at.field("end"), "must not be less than start", far)
        return DateFilter(op, quantity=near, until=far, unit=unit)
    at.only("type", "operator", "quantity", "unit")
    return DateFilter(op, quantity=at.integer("quantity", 0, MAX_QUANTITY), unit=unit)


# --- values -----------------------------------------------------------------------------------

STRING_OPERATORS = (
    "equals", "not-equals", "contains", "not-contains", "starts-with", "not-starts-with", "ends-with", "not-ends-with",
)  # fmt: skip
NUMERIC_OPERATORS = (
    "equals", "not-equals", "greater-than", "greater-than-or-equal", "less-than", "less-than-or-equal",
)  # fmt: skip
LENGTH_OPERATORS = {
    "length-equals": "equals",
    "length-greater-than": "greater-than",
    "length-greater-than-or-equal": "greater-than-or-equal",
    "length-less-than": "less-than",
    "length-less-than-or-equal": "less-than-or-equal",
}


@dataclass(frozen=True, slots=True)
class StringFilter:
    """A string comparison (case-sensitive); it matches only a value that is a string."""

    operator: str
    value: str


@dataclass(frozen=True, slots=True)
class InFilter:
    negated: bool
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NumberFilter:
    """A numeric comparison; it matches only a value that is a number."""

    operator: str
    value: float


@dataclass(frozen=True, slots=True)
class BoolFilter:
    value: bool


@dataclass(frozen=True, slots=True)
class Existence:
    is_set: bool


@dataclass(frozen=True, slots=True)
class ListContains:
    """A list-valued property holds (or not) an element equal to `value` (a string or a number)."""

    negated: bool
    value: str | float


@dataclass(frozen=True, slots=True)
class ListLength:
    operator: str  # a NUMERIC_OPERATORS name
    value: int


@dataclass(frozen=True, slots=True)
class DateValue:
    """A date filter on a value: a column's time, or a property's ISO 8601 text."""

    dates: DateFilter


ValueFilter = StringFilter | InFilter | NumberFilter | BoolFilter | Existence | ListContains | ListLength | DateValue


def compare(operator: str, left: float, right: float) -> bool:
    """NUMERIC_OPERATORS in Python (the evaluator's side of the SQL comparison)."""
    if operator == "equals":
        return left == right
    if operator == "not-equals":
        return left != right
    if operator == "greater-than":
        return left > right
    if operator == "greater-than-or-equal":
        return left >= right
    if operator == "less-than":
        return left < right
    return left <= right


def numeric(at: At) -> NumberFilter:
    at.only("type", "operator", "value")
    at.text("type", ("numeric",))
    return NumberFilter(at.text("operator", NUMERIC_OPERATORS), at.number("value"))


def value_filter(at: At) -> ValueFilter:
    """Any of the filters a profile-property condition takes (the operator tells them apart)."""
    kind = at.text("type", ("string", "numeric", "boolean", "date", "list", "existence"))
    op = at.text("operator")
    if kind == "date":
        return DateValue(date_filter(at))
    if kind == "numeric":
        return numeric(at)
    at.only("type", "operator", "value")
    if kind == "boolean":
        at.text("operator", ("equals",))
        return BoolFilter(at.boolean("value"))
    if kind == "existence":
        return Existence(at.text("operator", ("is-set", "not-set")) == "is-set")
    if kind == "string":
        if op in ("in", "not-in"):
            return InFilter(op == "not-in", at.strings("value"))
        if op in ("regex", "nregex", "phone-country-code-in", "phone-country-code-not-in"):
            raise DomainError(at.field("operator"), "this string operator is not supported by Assent", op)
        op = at.text("operator", STRING_OPERATORS)
        value = at.raw("value", required=False)
        if not isinstance(value, str):
            raise DomainError(at.field("value"), "must be a string", value)
        return StringFilter(op, value)
    if op in LENGTH_OPERATORS:
        return ListLength(LENGTH_OPERATORS[op], at.integer("value", 0, MAX_QUANTITY))
    at.text("operator", ("contains", "not-contains", *LENGTH_OPERATORS))
    value = at.raw("value")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DomainError(at.field("value"), "must be a string or a whole number", value)
    return ListContains(op == "not-contains", value if isinstance(value, str) else float(value))
