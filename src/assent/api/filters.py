"""Klaviyo's REST `filter=` and `sort=` query grammar, parsed by hand; no I/O, no web framework.

`parse_filter` turns `equals(email,"a@b.com"),greater-than(updated,2023-03-01T00:00:00Z)` into a
flat AND list of `Condition`s; `check_filter` then holds them to one endpoint's field table and
coerces values to each field's kind. Error offsets are 0-based indexes into the decoded filter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from ..domain.instants import utc

OPERATORS = frozenset(
    {
        "equals",
        "any",
        "greater-than",
        "greater-or-equal",
        "less-than",
        "less-or-equal",
        "contains",
        "contains-any",
        "contains-all",
        "starts-with",
        "ends-with",
        "has",
    }
)
LIST_OPERATORS = frozenset({"any", "contains-any", "contains-all"})
UNSUPPORTED_OPERATORS = frozenset({"or", "not"})
KINDS = frozenset({"string", "datetime", "boolean", "number", "enum"})

MAX_LIST = 100  # Klaviyo's "at most 100 values" for list operators
MAX_CONDITIONS = 10
MAX_DEPTH = 10  # nested and(...): bounds recursion so hostile input gets a FilterError, not a RecursionError
MAX_DIGITS = 100  # an unquoted integer: far past any field's range, far below int()'s own limit (4,300)

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_BARE_END = re.compile(r"[\s,()\[\]\"']")  # an unquoted value runs up to a delimiter or space
# Gate for fromisoformat, which on its own also takes forms Klaviyo doesn't (week dates, 20230301).
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")


class FilterError(ValueError):
    """A filter or sort the client must fix; `detail` is the message for the API error body."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Condition:
    op: str
    field: str
    value: object  # str | int | float | bool | None | datetime (UTC) | list of those


@dataclass(frozen=True, slots=True)
class FieldRule:
    ops: frozenset[str]
    kind: str  # one of KINDS
    choices: frozenset[str] = frozenset()  # for kind == "enum"

    def __post_init__(self) -> None:
        # A bad table is a programming error, so plain ValueError, never a client-facing FilterError.
        if self.kind not in KINDS:
            raise ValueError(f"unknown field kind {self.kind!r}")
        if unknown := self.ops - OPERATORS:
            raise ValueError(f"unknown operators {sorted(unknown)}")
        if (self.kind == "enum") != bool(self.choices):
            raise ValueError("choices are required for, and only for, kind 'enum'")


@dataclass(frozen=True, slots=True)
class Sort:
    field: str
    descending: bool


def parse_datetime(text: str) -> datetime | None:
    """An ISO-8601 date or datetime as tz-aware UTC (naive means UTC), or None if it isn't one."""
    if not _DATETIME.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else utc(moment)  # None: off the calendar in UTC


def parse_filter(text: str, allowed: Mapping[str, FieldRule] | None = None) -> list[Condition]:
    """Parse an already URL-decoded `filter=` value into a flat list of ANDed conditions.

    `allowed`, the endpoint's field table, only shapes hints: an unquoted word is then explained by
    what its field takes (a number, a datetime, true or false) rather than always as a missing quote.
    """
    if not text.strip():
        raise FilterError("the filter is empty")
    conditions = _Parser(text, allowed or {}).filter()
    if len(conditions) > MAX_CONDITIONS:
        raise FilterError(f"a filter may have at most {MAX_CONDITIONS} conditions; this one has {len(conditions)}")
    return conditions


class _Parser:
    def __init__(self, text: str, allowed: Mapping[str, FieldRule]) -> None:
        self.text = text
        self.pos = 0
        self.allowed = allowed

    def filter(self) -> list[Condition]:
        conditions = self._expressions(depth=0)
        self._skip_ws()
        if self.pos < len(self.text):
            if self._peek() == ")":
                self._fail("unbalanced ')'")
            self._fail(f"unexpected {self._peek()!r}", hint="expected ',' or the end of the filter")
        return conditions

    # Shared by the top level and and(...): one or more expressions separated by ','.
    def _expressions(self, depth: int) -> list[Condition]:
        conditions = self._expression(depth)
        while self._accept(","):
            conditions += self._expression(depth)
        return conditions

    def _expression(self, depth: int) -> list[Condition]:
        self._skip_ws()
        start = self.pos
        op = self._name()
        if not op:
            self._fail("expected an expression such as equals(field,value)")
        if op in UNSUPPORTED_OPERATORS:
            self._fail(
                f"'{op}(...)' is not supported",
                start,
                hint="only AND is supported: join conditions with ',' or and(...)",
            )
        if op != "and" and op not in OPERATORS:
            self._fail(f"unknown operator {op!r}", start, hint=f"use one of: and, {', '.join(sorted(OPERATORS))}")
        self._expect("(", f"after '{op}'")
        if op == "and":
            if depth >= MAX_DEPTH:
                self._fail(f"and(...) may be nested at most {MAX_DEPTH} deep", start)
            conditions = self._expressions(depth + 1)
            self._expect(")", hint=f"the 'and(' at character {start} is not closed")
            return conditions
        self._skip_ws()
        field = self._name()
        if not field:
            self._fail(f"expected a field name after '{op}('")
        self._expect(",", "after the field name")
        value = self._value(op, field, in_list=False)
        self._expect(")", f"after the value of '{op}({field},...'")
        return [Condition(op, field, value)]

    def _value(self, op: str, field: str, *, in_list: bool) -> object:
        self._skip_ws()
        char = self._peek()
        if char in ("'", '"'):
            return self._string()
        if char == "[":
            if in_list:
                self._fail("lists cannot be nested")
            return self._list(op, field)
        return self._bare(op, field)

    def _string(self) -> str:
        start, quote = self.pos, self.text[self.pos]
        out: list[str] = []
        i = start + 1
        while i < len(self.text):
            char = self.text[i]
            if char == quote:
                self.pos = i + 1
                return "".join(out)
            # Only the quote and the backslash are escaped; any other backslash stays literal.
            if char == "\\" and i + 1 < len(self.text) and self.text[i + 1] in (quote, "\\"):
                i += 1
                char = self.text[i]
            out.append(char)
            i += 1
        self._fail("unterminated string", start)

    def _list(self, op: str, field: str) -> list[object]:
        start = self.pos
        self.pos += 1
        items: list[object] = []
        self._skip_ws()
        if self._accept("]"):
            return items
        while True:
            items.append(self._value(op, field, in_list=True))
            if len(items) > MAX_LIST:
                self._fail(f"a list may hold at most {MAX_LIST} values", start)
            if self._accept("]"):
                return items
            if not self._accept(","):
                self._fail("expected ',' or ']'", hint=f"the list opened at character {start} is not closed")

    def _bare(self, op: str, field: str) -> object:
        start = self.pos
        end = _BARE_END.search(self.text, start)
        self.pos = end.start() if end else len(self.text)
        token = self.text[start : self.pos]
        if not token:
            self._fail("expected a value")
        if token in ("true", "false"):
            return token == "true"
        if token == "null":
            return None
        if _DATETIME.fullmatch(token):
            if (moment := parse_datetime(token)) is None:
                self._fail(f"{token!r} is not a valid date or datetime", start)
            return moment
        if _INT.fullmatch(token):
            if len(token.lstrip("+-")) > MAX_DIGITS:
                self._fail(f"a number may have at most {MAX_DIGITS} digits", start)
            return int(token)
        if _FLOAT.fullmatch(token):
            return float(token)
        rule = self.allowed.get(field)
        if rule is not None and rule.kind != "string":
            self._fail(f"{field!r} {_needs(op, field, rule)}; got unquoted {token!r}", start)
        self._fail(f"unquoted value {token!r}", start, hint=f'put strings in quotes, e.g. "{token}"')

    def _name(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _NAME_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def _skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _accept(self, char: str) -> bool:
        self._skip_ws()
        if self._peek() == char:
            self.pos += 1
            return True
        return False

    def _expect(self, char: str, context: str = "", *, hint: str = "") -> None:
        if not self._accept(char):
            self._fail(f"expected {char!r} {context}".rstrip(), hint=hint)

    def _fail(self, message: str, at: int | None = None, *, hint: str = "") -> NoReturn:
        at = self.pos if at is None else at
        end = " (the end of the filter)" if at >= len(self.text) else ""
        raise FilterError(f"{message} at character {at}{end}" + (f"; {hint}" if hint else ""))


def check_filter(conditions: list[Condition], allowed: Mapping[str, FieldRule]) -> list[Condition]:
    """Hold conditions to an endpoint's field table; returns them with values coerced to each field's kind."""
    checked = []
    for condition in conditions:
        op, field, value = condition.op, condition.field, condition.value
        rule = allowed.get(field)
        if rule is None:
            raise FilterError(
                f"{field!r} is not a filterable field here; filter on one of: {', '.join(sorted(allowed))}"
            )
        if op not in rule.ops:
            raise FilterError(f"operator {op!r} is not allowed on {field!r}; use one of: {', '.join(sorted(rule.ops))}")
        if op in LIST_OPERATORS:
            if not isinstance(value, list):
                raise FilterError(f"{op!r} on {field!r} needs a list of values, e.g. {op}({field},[...])")
            if not value:
                raise FilterError(f"{op!r} on {field!r} needs at least one value")
            value = [_coerce(op, field, rule, item) for item in value]
        elif isinstance(value, list):
            raise FilterError(f"{op!r} on {field!r} takes a single value, not a list")
        else:
            value = _coerce(op, field, rule, value)
        checked.append(Condition(op, field, value))
    return checked


def _needs(op: str, field: str, rule: FieldRule) -> str:
    """What a field of a non-string kind takes, with an example written the way the grammar wants it."""
    example = {"number": "5", "datetime": "2023-03-01T00:00:00Z", "boolean": "true"}.get(rule.kind)
    if op in LIST_OPERATORS and example:
        example = f"[{example}]"
    if rule.kind == "number":
        return f"needs a number, unquoted, e.g. {op}({field},{example})"
    if rule.kind == "datetime":
        return f"needs an ISO 8601 date or datetime, e.g. {op}({field},{example})"
    if rule.kind == "boolean":
        return f"needs true or false, unquoted, e.g. {op}({field},{example})"
    first = sorted(rule.choices)[0]
    return f'must be one of: {", ".join(sorted(rule.choices))}, in quotes, e.g. {op}({field},"{first}")'


def _coerce(op: str, field: str, rule: FieldRule, value: object) -> object:
    shown = value.isoformat() if isinstance(value, datetime) else repr(value)
    if rule.kind == "datetime":
        if isinstance(value, datetime):
            return value
        if isinstance(value, str) and (moment := parse_datetime(value)) is not None:
            return moment
        raise FilterError(f"{field!r} {_needs(op, field, rule)}; got {shown}")
    if rule.kind in ("string", "enum"):
        if not isinstance(value, str):
            raise FilterError(f'{field!r} needs a quoted string such as "value"; got {shown}')
        if rule.kind == "enum" and value not in rule.choices:
            raise FilterError(f"{field!r} must be one of: {', '.join(sorted(rule.choices))}; got {shown}")
        return value
    if rule.kind == "boolean":
        if not isinstance(value, bool):
            raise FilterError(f"{field!r} {_needs(op, field, rule)}; got {shown}")
        return value
    # number; bool is an int subclass, so it is ruled out explicitly
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FilterError(f"{field!r} {_needs(op, field, rule)}; got {shown}")
    return value


def parse_sort(text: str | None, allowed: Iterable[str], default: str) -> Sort:
    """`created` sorts ascending, `-created` descending; a missing or blank value means `default`."""
    fields = frozenset(allowed)
    if default.removeprefix("-") not in fields:
        raise ValueError(f"default sort {default!r} is not among the allowed fields")
    spec = text.strip() if text and text.strip() else default
    field = spec.removeprefix("-")
    if field not in fields:
        raise FilterError(
            f"cannot sort by {spec!r}; sort by one of: {', '.join(sorted(fields))}, "
            "optionally prefixed by '-' for descending order"
        )
    return Sort(field, spec.startswith("-"))
