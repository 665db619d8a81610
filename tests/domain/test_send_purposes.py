"""What a send on each channel can be for, and how a purpose it cannot have is refused."""

from __future__ import annotations

import pytest

from assent.domain import Channel, DomainError, Purpose
from assent.domain.decisions import parse_send_purpose


def test_a_purpose_the_channel_has_not_is_refused_naming_the_field_the_choices_and_the_channel():
    with pytest.raises(DomainError) as refused:
        parse_send_purpose(Channel.EMAIL, "conversational")
    assert str(refused.value) == (
        "purpose: must be one of marketing, transactional for a send on email (got 'conversational')"
    )
    with pytest.raises(DomainError) as refused:
        parse_send_purpose(Channel.SMS, "nope", field="data/attributes/purpose")
    assert str(refused.value).startswith("data/attributes/purpose: must be one of marketing, transactional for a send")


def test_no_purpose_is_marketing_and_a_known_one_is_read_whatever_its_case():
    assert parse_send_purpose(Channel.PUSH, None) is Purpose.MARKETING
    assert parse_send_purpose(Channel.WHATSAPP, " Conversational ") is Purpose.CONVERSATIONAL
