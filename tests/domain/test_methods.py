"""A consent method is one of Klaviyo's (or an implied basis the decision rules read), whatever its
case; anything else is refused naming the field."""

from __future__ import annotations

import pytest

from assent.domain import DomainError
from assent.domain.methods import METHODS, parse_method
from assent.domain.pack_rules import IMPLIED_METHODS, SOFT_OPT_IN


def test_every_method_the_decision_rules_read_is_known():
    assert IMPLIED_METHODS | {SOFT_OPT_IN} <= METHODS


@pytest.mark.parametrize(
    "given, stored",
    [("casl_implied_purchase", "CASL_IMPLIED_PURCHASE"), (" Soft-Opt-In ", "SOFT_OPT_IN"), ("api", "API"),
     ("one click unsubscribe", "ONE_CLICK_UNSUBSCRIBE")],
)  # fmt: skip
def test_a_method_is_stored_upper_snake_case(given, stored):
    assert parse_method(given) == stored


@pytest.mark.parametrize("given", ["", "SOFT_OPTIN", "CASL_IMPLIED_PURCHASES", "<script>", "API\u0000"])
def test_an_unknown_method_is_refused_naming_the_field(given):
    with pytest.raises(DomainError) as e:
        parse_method(given, "method")
    assert e.value.field == "method"
