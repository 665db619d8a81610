"""The depth check every API body and NDJSON line passes before a parser sees it: its shortcuts
(quotes dropped in pairs, innermost brackets dropped a pass at a time) answer as the plain count
does, on JSON documents and on any text of brackets, quotes and backslashes."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from assent.services.shared.nesting import MAX_DEPTH, too_deep


def _counted(raw: bytes, limit: int) -> bool:
    """The plain count: strings (escapes removed first) cut out, then every bracket counted."""
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    depth = 0
    for c in b"".join(unescaped.split(b'"')[::2]):
        if c in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif c in b"]}":
            depth -= 1
    return False


texts = st.text(alphabet='[]{}"\\a', max_size=300).map(str.encode)
json_values = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab\n', max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="[]{k", max_size=3), inner),
    max_leaves=60,
)


@settings(max_examples=400)
@given(texts, st.integers(min_value=0, max_value=12))
def test_any_text_of_brackets_quotes_and_backslashes_is_judged_as_the_plain_count(raw, limit):
    assert too_deep(raw, limit) == _counted(raw, limit)


@settings(max_examples=300)
@given(json_values, st.integers(min_value=0, max_value=8), st.integers(min_value=0, max_value=70))
def test_json_documents_are_judged_as_the_plain_count(value, limit, wrap):
    for nested in (value, [value] * 3):
        for _ in range(wrap):
            nested = [{"k": nested}] if wrap % 2 else [[nested]]
        raw = json.dumps(nested).encode()
        assert too_deep(raw, limit) == _counted(raw, limit)
        assert too_deep(raw) == _counted(raw, MAX_DEPTH)


def test_alternating_objects_and_arrays_just_past_the_limit_are_too_deep():
    # One pass drops an innermost "{}" and then the "[]" around it: two levels, never more.
    for depth in (MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2):
        raw = b"".join(b"[" if i % 2 else b"{" for i in range(depth))
        raw += b"".join(b"]" if i % 2 else b"}" for i in reversed(range(depth)))
        assert too_deep(raw) == (depth > MAX_DEPTH)
