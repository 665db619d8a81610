"""Klaviyo's `filter=` / `sort=` grammar: every value form, every error, and round-trip properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assent.api.filters import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_DIGITS,
    MAX_LIST,
    OPERATORS,
    Condition,
    FieldRule,
    FilterError,
    Sort,
    check_filter,
    parse_filter,
    parse_sort,
)

IDENTIFIER = FieldRule(frozenset({"any", "equals"}), "string")
MOMENT = FieldRule(frozenset({"greater-than", "less-than"}), "datetime")
# Klaviyo's GET /profiles filterable fields.
PROFILES = {
    "id": IDENTIFIER,
    "email": IDENTIFIER,
    "phone_number": IDENTIFIER,
    "external_id": IDENTIFIER,
    "created": MOMENT,
    "updated": MOMENT,
}
REASON = "subscriptions.email.marketing.suppression.reason"
OTHER = {
    REASON: FieldRule(frozenset({"equals", "any"}), "enum", frozenset({"HARD_BOUNCE", "UNSUBSCRIBE"})),
    "is_active": FieldRule(frozenset({"equals"}), "boolean"),
    "count": FieldRule(frozenset({"equals", "greater-than"}), "number"),
    "tags": FieldRule(frozenset({"contains", "contains-any", "contains-all", "has"}), "string"),
    "name": FieldRule(frozenset({"equals", "contains", "starts-with", "ends-with"}), "string"),
    "updated": FieldRule(frozenset({"any", "greater-or-equal"}), "datetime"),
}


def one(text: str) -> Condition:
    conditions = parse_filter(text)
    assert len(conditions) == 1
    return conditions[0]


def value(text: str) -> object:
    return one(f"equals(f,{text})").value


def error(text: str) -> str:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    return caught.value.detail


def check_error(text: str, allowed: dict[str, FieldRule]) -> str:
    with pytest.raises(FilterError) as caught:
        check_filter(parse_filter(text), allowed)
    return caught.value.detail


# --- values ---------------------------------------------------------------------------------------


def test_double_quoted_string() -> None:
    assert one('equals(email,"a@b.com")') == Condition("equals", "email", "a@b.com")


def test_single_quoted_string() -> None:
    assert one("equals(id,'01ABC')") == Condition("equals", "id", "01ABC")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r'"say \"hi\""', 'say "hi"'),
        (r"'it\'s'", "it's"),
        (r'"back\\slash"', "back\\slash"),
        (r'"trailing\\"', "trailing\\"),
        (r'"\n stays"', r"\n stays"),  # only the quote and backslash are escapes
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        ('"a,b(c)[d]"', "a,b(c)[d]"),
        ('"  padded  "', "  padded  "),
        ('""', ""),
        ('"ünïcödé ✓"', "ünïcödé ✓"),
        ('"2023-03-01"', "2023-03-01"),  # quoted dates stay strings; check_filter converts per field
        ('"true"', "true"),
        ('"42"', "42"),
    ],
)
def test_string_forms(text: str, expected: str) -> None:
    assert value(text) == expected


def test_double_quoted_list() -> None:
    assert one('any(email,["a@b.com","c@d.com"])') == Condition("any", "email", ["a@b.com", "c@d.com"])


def test_sdk_single_quoted_list() -> None:
    assert one("any(email,['a@b.com', 'c@d.com'])") == Condition("any", "email", ["a@b.com", "c@d.com"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[]", []),
        ('[ "a" ]', ["a"]),
        ("[ 'a' , \"b\" ,'c' ]", ["a", "b", "c"]),
        ("[1, 2.5, true, null]", [1, 2.5, True, None]),
        (
            "[2023-03-01, 2023-03-02T12:00:00Z]",
            [datetime(2023, 3, 1, tzinfo=UTC), datetime(2023, 3, 2, 12, tzinfo=UTC)],
        ),
    ],
)
def test_list_forms(text: str, expected: list[object]) -> None:
    assert value(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-03-01T00:00:00Z", datetime(2023, 3, 1, tzinfo=UTC)),
        ("2023-03-01T00:00:00+00:00", datetime(2023, 3, 1, tzinfo=UTC)),
        ("2023-03-01T00:00:00.123456+00:00", datetime(2023, 3, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2023-03-01T00:00:00.5Z", datetime(2023, 3, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        ("2023-03-01", datetime(2023, 3, 1, tzinfo=UTC)),
        ("2023-03-01T09:30:00", datetime(2023, 3, 1, 9, 30, tzinfo=UTC)),  # naive means UTC
        ("2023-03-01T09:30", datetime(2023, 3, 1, 9, 30, tzinfo=UTC)),
        ("2023-03-01T02:00:00+02:00", datetime(2023, 3, 1, tzinfo=UTC)),
        ("2023-03-01T00:00:00-05:30", datetime(2023, 3, 1, 5, 30, tzinfo=UTC)),
    ],
)
def test_datetime_forms(text: str, expected: datetime) -> None:
    parsed = value(text)
    assert parsed == expected
    assert isinstance(parsed, datetime) and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("false", False), ("null", None), ("0", 0), ("42", 42), ("-7", -7), ("2.5", 2.5), ("-0.5", -0.5)],
)
def test_scalar_forms(text: str, expected: object) -> None:
    parsed = value(text)
    assert parsed == expected and type(parsed) is type(expected)


def test_float_with_exponent() -> None:
    assert value("1e3") == 1000.0


@pytest.mark.parametrize(
    "field", ["email", "_kx", "metric_id", "subscriptions.email.marketing.suppression.reason", "x-y", "a1"]
)
def test_field_names(field: str) -> None:
    assert one(f"equals({field},1)").field == field


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_every_operator_parses(op: str) -> None:
    assert one(f'{op}(name,"x")') == Condition(op, "name", "x")


def test_whitespace_around_tokens() -> None:
    text = ' equals ( email , "a@b.com" ) ,\n and( less-than( updated ,2023-04-26T00:00:00Z ) , any(id,[ "1" ,"2" ]) ) '
    assert parse_filter(text) == [
        Condition("equals", "email", "a@b.com"),
        Condition("less-than", "updated", datetime(2023, 4, 26, tzinfo=UTC)),
        Condition("any", "id", ["1", "2"]),
    ]


def test_comma_joined_top_level() -> None:
    assert parse_filter("less-than(updated,2023-04-26T00:00:00Z),greater-than(updated,2023-04-19T00:00:00Z)") == [
        Condition("less-than", "updated", datetime(2023, 4, 26, tzinfo=UTC)),
        Condition("greater-than", "updated", datetime(2023, 4, 19, tzinfo=UTC)),
    ]


def test_nested_and_is_flattened_in_order() -> None:
    text = 'equals(a,1),and(equals(b,2),and(equals(c,3),equals(d,4))),and(equals(e,"5"))'
    assert [(c.field, c.value) for c in parse_filter(text)] == [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", "5")]


def test_conditions_up_to_the_limit() -> None:
    assert len(parse_filter(",".join(f"equals(f{i},{i})" for i in range(MAX_CONDITIONS)))) == MAX_CONDITIONS


def test_list_up_to_the_limit() -> None:
    assert value(repr([str(i) for i in range(MAX_LIST)])) == [str(i) for i in range(MAX_LIST)]


def test_and_nesting_up_to_the_limit() -> None:
    assert parse_filter("and(" * MAX_DEPTH + "equals(a,1)" + ")" * MAX_DEPTH) == [Condition("equals", "a", 1)]


# --- syntax errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the filter is empty"),
        ("   ", "the filter is empty"),
        ('equals(email"x")', "expected ',' after the field name at character 12"),
        ('equals email,"x")', "expected '(' after 'equals' at character 7"),
        ('equals(,"x")', "expected a field name after 'equals(' at character 7"),
        ("equals(email,)", "expected a value at character 13"),
        (
            'equals(email,"x"',
            "expected ')' after the value of 'equals(email,...' at character 16 (the end of the filter)",
        ),
        ('equals(email,"x" "y")', "expected ')' after the value of 'equals(email,...' at character 17"),
        ('equals(email,"x"))', "unbalanced ')' at character 17"),
        (")", "expected an expression such as equals(field,value) at character 0"),
        (
            "and(equals(a,1)",
            "expected ')' at character 15 (the end of the filter); the 'and(' at character 0 is not closed",
        ),
        ('equals(email,"x', "unterminated string at character 13"),
        ("equals(email,'x", "unterminated string at character 13"),
        (r'equals(email,"x\")', "unterminated string at character 13"),
        ('equals(email,"x") junk', "unexpected 'j' at character 18; expected ',' or the end of the filter"),
        ('equals(email,"x");', "unexpected ';' at character 17"),
        (
            'equals(email,"x"),',
            "expected an expression such as equals(field,value) at character 18 (the end of the filter)",
        ),
        (',equals(email,"x")', "expected an expression such as equals(field,value) at character 0"),
        ("and()", "expected an expression such as equals(field,value) at character 4"),
        ("equals(email,foo)", "unquoted value 'foo' at character 13; put strings in quotes, e.g. \"foo\""),
        ("equals(email,a@b.com)", "unquoted value 'a@b.com' at character 13"),
        ("equals(email,True)", "unquoted value 'True'"),
        ("equals(updated,2023-02-30)", "'2023-02-30' is not a valid date or datetime at character 15"),
        ("equals(updated,2023-03-01T25:00:00Z)", "'2023-03-01T25:00:00Z' is not a valid date or datetime"),
        ("any(email,[1,[2]])", "lists cannot be nested at character 13"),
        ("any(email,[1,2)", "expected ',' or ']' at character 14; the list opened at character 10 is not closed"),
        ("any(email,[1 2])", "expected ',' or ']' at character 13; the list opened at character 10 is not closed"),
        ("any(email,[1,])", "expected a value at character 13"),
        # Past Python's 4,300-digit limit int() raised its own ValueError: a 500 on every filtered listing.
        ("greater-than(seq," + "9" * 5000 + ")", f"a number may have at most {MAX_DIGITS} digits at character 17"),
        (
            "any(id,[1,-" + "9" * (MAX_DIGITS + 1) + "])",
            f"a number may have at most {MAX_DIGITS} digits at character 10",
        ),
    ],
)
def test_syntax_errors(text: str, expected: str) -> None:
    assert expected in error(text)


def test_error_detail_is_its_message() -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter("")
    assert str(caught.value) == caught.value.detail == "the filter is empty"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("op", ["or", "not"])
def test_or_and_not_are_rejected_by_name(op: str) -> None:
    detail = error(f'equals(a,1),{op}(equals(email,"x"),equals(email,"y"))')
    assert detail.startswith(f"'{op}(...)' is not supported at character 12")
    assert "only AND is supported" in detail


def test_unknown_operator_lists_the_operators() -> None:
    detail = error('equal(email,"x")')
    assert detail.startswith("unknown operator 'equal' at character 0; use one of: and, any, contains,")
    assert all(op in detail for op in OPERATORS)


def test_too_long_list() -> None:
    detail = error(f"any(email,{[str(i) for i in range(MAX_LIST + 1)]!r})")
    assert detail == f"a list may hold at most {MAX_LIST} values at character 10"


def test_too_many_conditions_at_top_level() -> None:
    text = ",".join(f"equals(f{i},{i})" for i in range(MAX_CONDITIONS + 1))
    assert error(text) == f"a filter may have at most {MAX_CONDITIONS} conditions; this one has {MAX_CONDITIONS + 1}"


def test_too_many_conditions_counts_inside_and() -> None:
    inner = ",".join(f"equals(f{i},{i})" for i in range(MAX_CONDITIONS))
    assert "this one has 11" in error(f"equals(a,1),and({inner})")


def test_and_nested_too_deep() -> None:
    text = "and(" * (MAX_DEPTH + 1) + "equals(a,1)" + ")" * (MAX_DEPTH + 1)
    assert error(text) == f"and(...) may be nested at most {MAX_DEPTH} deep at character {4 * MAX_DEPTH}"


def test_hostile_nesting_is_a_filter_error_not_a_crash() -> None:
    error("and(" * 100_000)


# --- check_filter ---------------------------------------------------------------------------------


def test_check_passes_and_coerces_datetimes() -> None:
    text = 'equals(email,"a@b.com"),greater-than(created,"2023-03-01T00:00:00+02:00"),less-than(updated,"2023-04-01")'
    assert check_filter(parse_filter(text), PROFILES) == [
        Condition("equals", "email", "a@b.com"),
        Condition("greater-than", "created", datetime(2023, 2, 28, 22, tzinfo=UTC)),
        Condition("less-than", "updated", datetime(2023, 4, 1, tzinfo=UTC)),
    ]


def test_check_keeps_unquoted_datetimes() -> None:
    conditions = parse_filter("less-than(updated,2023-04-26T00:00:00Z)")
    assert check_filter(conditions, PROFILES) == conditions


def test_check_coerces_each_datetime_in_a_list() -> None:
    [checked] = check_filter(parse_filter("any(updated,['2023-03-01', 2023-03-02T00:00:00Z])"), OTHER)
    assert checked.value == [datetime(2023, 3, 1, tzinfo=UTC), datetime(2023, 3, 2, tzinfo=UTC)]


def test_check_does_not_mutate_its_input() -> None:
    conditions = parse_filter('greater-than(created,"2023-03-01")')
    check_filter(conditions, PROFILES)
    assert conditions == [Condition("greater-than", "created", "2023-03-01")]


def test_check_any_list_of_strings() -> None:
    conditions = parse_filter("any(email,['a@b.com', 'c@d.com'])")
    assert check_filter(conditions, PROFILES) == conditions


def test_check_unknown_field_lists_the_fields() -> None:
    assert check_error('equals(nickname,"x")', PROFILES) == (
        "'nickname' is not a filterable field here; "
        "filter on one of: created, email, external_id, id, phone_number, updated"
    )


def test_check_wrong_operator_lists_the_operators() -> None:
    assert (
        check_error('contains(email,"x")', PROFILES)
        == "operator 'contains' is not allowed on 'email'; use one of: any, equals"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('any(email,"a@b.com")', "'any' on 'email' needs a list of values, e.g. any(email,[...])"),
        ("any(email,[])", "'any' on 'email' needs at least one value"),
        ('equals(email,["a@b.com"])', "'equals' on 'email' takes a single value, not a list"),
        ("equals(email,42)", "'email' needs a quoted string such as \"value\"; got 42"),
        ("equals(email,null)", "'email' needs a quoted string such as \"value\"; got None"),
        ("equals(id,2023-03-01)", "'id' needs a quoted string such as \"value\"; got 2023-03-01T00:00:00+00:00"),
        ('any(id,["a",1])', "'id' needs a quoted string such as \"value\"; got 1"),
        (
            'greater-than(created,"yesterday")',
            "'created' needs an ISO 8601 date or datetime, e.g. greater-than(created,2023-03-01T00:00:00Z); "
            "got 'yesterday'",
        ),
        ("greater-than(created,1677628800)", "'created' needs an ISO 8601 date or datetime"),
        ('greater-than(created,"20230301")', "'created' needs an ISO 8601 date or datetime"),
    ],
)
def test_check_value_errors_on_profiles(text: str, expected: str) -> None:
    assert expected in check_error(text, PROFILES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f'equals({REASON},"SPAM")', f"'{REASON}' must be one of: HARD_BOUNCE, UNSUBSCRIBE; got 'SPAM'"),
        (f'any({REASON},["UNSUBSCRIBE","spam"])', f"'{REASON}' must be one of: HARD_BOUNCE, UNSUBSCRIBE; got 'spam'"),
        ('equals(is_active,"true")', "'is_active' needs true or false, unquoted, e.g. equals(is_active,true)"),
        ("equals(is_active,1)", "'is_active' needs true or false, unquoted, e.g. equals(is_active,true); got 1"),
        ('equals(count,"3")', "'count' needs a number, unquoted, e.g. equals(count,5); got '3'"),
        ("equals(count,true)", "'count' needs a number, unquoted, e.g. equals(count,5); got True"),
        ('contains-any(tags,"x")', "'contains-any' on 'tags' needs a list of values"),
        ('contains-all(tags,"x")', "'contains-all' on 'tags' needs a list of values"),
        ('contains(tags,["x"])', "'contains' on 'tags' takes a single value, not a list"),
        ('has(tags,["x"])', "'has' on 'tags' takes a single value, not a list"),
        ("any(updated,2023-03-01)", "'any' on 'updated' needs a list of values"),
    ],
)
def test_check_value_errors_by_kind(text: str, expected: str) -> None:
    assert expected in check_error(text, OTHER)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The hint for an unquoted word fits its field: quoting a number or a date is no fix.
        ("greater-than(count,abc)", "'count' needs a number, unquoted, e.g. greater-than(count,5); got unquoted 'abc'"),
        ('greater-than(count,"5")', "'count' needs a number, unquoted, e.g. greater-than(count,5); got '5'"),
        (
            "greater-or-equal(updated,notadate)",
            "'updated' needs an ISO 8601 date or datetime, e.g. greater-or-equal(updated,2023-03-01T00:00:00Z); "
            "got unquoted 'notadate' at character 25",
        ),
        ("any(updated,[2023-03-01,soon])", "e.g. any(updated,[2023-03-01T00:00:00Z]); got unquoted 'soon'"),
        ("equals(is_active,yes)", "'is_active' needs true or false, unquoted, e.g. equals(is_active,true)"),
        (f"equals({REASON},SPAM)", f'HARD_BOUNCE, UNSUBSCRIBE, in quotes, e.g. equals({REASON},"HARD_BOUNCE")'),
        ("equals(name,Jo)", "unquoted value 'Jo' at character 12; put strings in quotes, e.g. \"Jo\""),
        ("equals(nope,Jo)", "unquoted value 'Jo' at character 12; put strings in quotes"),
    ],
)
def test_unquoted_value_hint_fits_the_field_kind(text: str, expected: str) -> None:
    with pytest.raises(FilterError) as caught:
        check_filter(parse_filter(text, OTHER), OTHER)
    assert expected in caught.value.detail


def test_check_passes_each_kind() -> None:
    text = (
        f'equals({REASON},"UNSUBSCRIBE"),equals(is_active,false),greater-than(count,2.5),equals(count,3),'
        'contains-any(tags,["a","b"]),contains-all(tags,[\'c\']),has(tags,"d"),starts-with(name,"Jo"),ends-with(name,"e")'
    )
    conditions = parse_filter(text)
    assert check_filter(conditions, OTHER) == conditions


def test_null_matches_no_kind() -> None:
    for text in ("equals(is_active,null)", "equals(count,null)", f"equals({REASON},null)", "any(updated,[null])"):
        with pytest.raises(FilterError):
            check_filter(parse_filter(text), OTHER)


@pytest.mark.parametrize(
    "make",
    [
        lambda: FieldRule(frozenset({"equals"}), "text"),
        lambda: FieldRule(frozenset({"equal"}), "string"),
        lambda: FieldRule(frozenset({"equals"}), "enum"),
        lambda: FieldRule(frozenset({"equals"}), "string", frozenset({"A"})),
    ],
)
def test_bad_field_rules_are_programming_errors(make: object) -> None:
    with pytest.raises(ValueError) as caught:
        make()  # type: ignore[operator]
    assert not isinstance(caught.value, FilterError)


# --- sort -----------------------------------------------------------------------------------------

SORTS = ("created", "updated", "email")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, Sort("created", False)),
        ("", Sort("created", False)),
        ("  ", Sort("created", False)),
        ("updated", Sort("updated", False)),
        ("-updated", Sort("updated", True)),
        (" -email ", Sort("email", True)),
    ],
)
def test_parse_sort(text: str | None, expected: Sort) -> None:
    assert parse_sort(text, SORTS, default="created") == expected


def test_descending_default() -> None:
    assert parse_sort(None, iter(SORTS), default="-created") == Sort("created", True)


@pytest.mark.parametrize("text", ["nickname", "-nickname", "--created", "created,updated", "+created"])
def test_unknown_sort_lists_the_allowed_values(text: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_sort(text, SORTS, default="created")
    assert caught.value.detail == (
        f"cannot sort by {text!r}; sort by one of: created, email, updated, "
        "optionally prefixed by '-' for descending order"
    )


def test_bad_default_sort_is_a_programming_error() -> None:
    with pytest.raises(ValueError) as caught:
        parse_sort(None, SORTS, default="nickname")
    assert not isinstance(caught.value, FilterError)


# --- properties -----------------------------------------------------------------------------------


@given(field=st.sampled_from(sorted(PROFILES)), text=st.text())
def test_double_quoted_round_trip(field: str, text: str) -> None:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    assert parse_filter(f'equals({field},"{escaped}")') == [Condition("equals", field, text)]


@given(field=st.sampled_from(sorted(PROFILES)), text=st.text())
def test_single_quoted_round_trip(field: str, text: str) -> None:
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    assert parse_filter(f"equals( {field} , '{escaped}' )") == [Condition("equals", field, text)]


# Python's repr escapes only \\ and the quote for printable text, as the grammar does.
@given(texts=st.lists(st.text(st.characters(codec="utf-8")).filter(str.isprintable), max_size=MAX_LIST))
def test_python_repr_list_round_trip(texts: list[str]) -> None:
    conditions = parse_filter(f"any(email,{texts!r})")
    assert conditions == [Condition("any", "email", texts)]
    if texts:
        assert check_filter(conditions, PROFILES) == conditions


@given(moment=st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))])))
def test_datetime_round_trip(moment: datetime) -> None:
    assert value(moment.isoformat()) == moment.astimezone(UTC)


@given(text=st.text() | st.text(alphabet="equals(any,[]\"'\\x1-:TZ) and or"))
def test_anything_parses_or_fails_cleanly(text: str) -> None:
    try:
        conditions = parse_filter(text)
    except FilterError as caught:
        assert caught.detail
    else:
        assert 1 <= len(conditions) <= MAX_CONDITIONS
