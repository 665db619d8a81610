"""Audience resolution equals decide() per profile under the jurisdiction packs and frequency caps.

Hypothesis draws, besides test_audiences.py's population, each profile's whereabouts (country as
a code or a name, US state, time zone, phone numbers of several regions and zone lists), consent
methods and dates around CASL's expiry (6 and 24 months, month ends), reported sends around the
caps' windows, the account's `jurisdictions` and `frequency_caps`, and a send time around DST
changes and the quiet-hours windows' edges; the counts by reason (DEFER apart), the reasons among
others and the allowed stream must be what decide() gives each profile.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, update

from assent.domain import Channel, ChannelConsent, ConsentStatus, Policy, ProfileState, Purpose, Send, Via, decide
from assent.domain.audiences import MARKETING
from assent.domain.jurisdictions import locate, parse_jurisdictions
from assent.domain.pack_rules import add_months, parse_frequency_caps
from assent.domain.segments import parse_definition
from assent.services.accounts import settings as settings_service
from assent.services.audiences import places as place_service
from assent.services.audiences import resolution as audiences
from assent.services.audiences.resolution import AudienceQuery, Source
from assent.services.lists import segments as segment_service
from assent.store import places as place_store
from assent.store import segments as segment_store
from assent.store.db import read_transaction, write_transaction
from assent.store.tables import message_sends, profiles
from tests.store.test_audiences import LISTS, SENDABLE, STATUSES, T0, _write, states

COUNTRIES = ["US", "usa", "DE", "germany", " fr ", "", None, "UK", "GBR", "CA", "Canada", "Switzerland"]
REGIONS = [None, "", "FL", "Florida", "ny", "Oklahoma", "MD", "XX"]
TIMEZONES = [None, "", "America/New_York", "America/Los_Angeles", "Pacific/Honolulu", "Europe/Berlin",
             "Australia/Lord_Howe", "Nowhere/Else"]  # fmt: skip
# Prefixes of phone numbers (four digits follow): Florida, New York, Toronto, Oklahoma, Maryland,
# California, US toll-free (every North American zone), London, Berlin, Paris, an invalid one.
PHONES = ["+1305201", "+1212201", "+1416201", "+1405201", "+1410201", "+1650201", "+1800201", "+4420794",
          "+4930201", "+3314200", "+1555201"]  # fmt: skip
METHODS = ["API", "SOFT_OPT_IN", "CASL_IMPLIED_PURCHASE", "CASL_IMPLIED_INQUIRY", None]
JURISDICTIONS = ["auto", "auto", "TCPA", "none", "GDPR", "UWG", "CASL", "TCPA", "PECR,CASL", "UWG,CASL,TCPA"]
EVERY_CAP = (
    "email:marketing=1/1d, sms=1/12h, sms:transactional=1/1d, push=1/1d, whatsapp=2/2h, "
    "whatsapp:transactional=1/1h, whatsapp:conversational=1/1h, postal=1/7d"
)
CAPS = ["", "sms=2/12h", "email:marketing=1/1d, email:marketing=3/7d", "whatsapp:transactional=1/1h",
        "sms:transactional=1/1d, whatsapp:marketing=2/2h", "push=1/1d", EVERY_CAP, EVERY_CAP]  # fmt: skip
SEND_AGES = [timedelta(minutes=m) for m in (-5, 0, 1, 59, 60, 61, 719, 720, 721, 1439, 1440, 1441, 10079, 10080)]
JITTER = [timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1), timedelta(hours=1),
          -timedelta(hours=1), timedelta(days=1), -timedelta(days=3)]  # fmt: skip


def _transitions(zone: str, start: datetime, days: int = 400) -> list[datetime]:
    """The UTC instants, after `start`, at which `zone`'s offset changes (DST starts and ends)."""
    tz, out = ZoneInfo(zone), []
    t = start.replace(minute=0, second=0, microsecond=0)
    for _ in range(days * 24):
        if t.astimezone(tz).utcoffset() != (t + timedelta(hours=1)).astimezone(tz).utcoffset():
            out.append(t + timedelta(hours=1))
        t += timedelta(hours=1)
    return out


def _anchors() -> list[datetime]:
    """Send times to draw around: on days the clocks change, the quiet-hours windows' edges in
    US zones, and the instants of the change; month ends (CASL's month arithmetic clamps days)."""
    start = datetime.now(UTC) + timedelta(days=2)
    out = []
    for zone in ("America/New_York", "America/Chicago", "America/Los_Angeles"):
        tz = ZoneInfo(zone)
        for change in _transitions(zone, start):
            out.append(change)
            day = change.astimezone(tz).date()
            for hour, minute in ((7, 59), (8, 0), (19, 59), (20, 0), (20, 59), (21, 0), (1, 30)):
                out.append(datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).astimezone(UTC))
    for change in _transitions("Europe/Berlin", start):
        out.append(change)
    month = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for i in range(1, 14):
        end = add_months(month, i) - timedelta(hours=1)  # 23:00 on a month's last day
        out += [end, end - timedelta(hours=12)]
    return out


ANCHORS = _anchors()
places = st.fixed_dictionaries({
    "country": st.sampled_from(COUNTRIES), "region": st.sampled_from(REGIONS),
    "timezone": st.sampled_from(TIMEZONES), "phone": st.sampled_from(PHONES),
})  # fmt: skip
SUB = ConsentStatus.SUBSCRIBED
consent_specs = st.dictionaries(
    st.sampled_from(SENDABLE[:-1]),
    st.tuples(st.sampled_from([SUB, SUB, SUB, *STATUSES]), st.sampled_from(METHODS), st.sampled_from([0, 6, 24, 30]),
              st.sampled_from(JITTER), st.booleans()),
    min_size=2,
    max_size=6,
)  # fmt: skip
# Fewer core denials than test_audiences.py's population, so the packs' rules are reached.
pack_states = st.builds(
    ProfileState,
    suppressions=st.one_of(st.just({}), st.just({}), states.map(lambda s: s.suppressions)),
    list_suppressions=st.one_of(st.just({}), states.map(lambda s: s.list_suppressions)),
    lists=st.dictionaries(st.sampled_from(LISTS), st.just(T0), max_size=2),
    pending=st.one_of(st.just({}), states.map(lambda s: s.pending)),
    email=st.sampled_from([True, True, True, False]),
    phone_number=st.sampled_from([True, True, True, False]),
)
sends_drawn = st.lists(st.tuples(st.sampled_from([*SENDABLE, *MARKETING, *MARKETING]), st.sampled_from(SEND_AGES)),
                       max_size=4)  # fmt: skip
at_drawn = st.tuples(st.sampled_from(ANCHORS), st.sampled_from([timedelta(0), timedelta(minutes=1),
                     -timedelta(minutes=1), timedelta(microseconds=1), timedelta(hours=2)]))  # fmt: skip


def _consents(spec, at: datetime):
    out = {}
    for key, (status, method, months, jitter, double_optin) in spec.items():
        ts = add_months(at, -months) + jitter
        out[key] = ChannelConsent(status, ts, method, None, None, double_optin, ts)
    return out


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(
    population=st.lists(st.tuples(pack_states, places, consent_specs, sends_drawn), max_size=20),
    send=st.tuples(st.sampled_from([*SENDABLE, *MARKETING, *MARKETING]), st.sampled_from(list(Via)),
                   st.sampled_from([None, None, *LISTS]),
                   st.booleans()),
    jurisdictions=st.sampled_from(JURISDICTIONS),
    caps=st.sampled_from(CAPS),
    at=at_drawn,
)  # fmt: skip
def test_audience_sql_equals_decide_under_jurisdiction_packs_and_caps(engine, population, send, jurisdictions, caps,
                                                                      at):  # fmt: skip
    _check(engine, population, send, jurisdictions, caps, at)


sms_consents = st.fixed_dictionaries({(Channel.SMS, Purpose.MARKETING): st.tuples(
    st.sampled_from([SUB, SUB, SUB, ConsentStatus.NEVER_SUBSCRIBED]), st.sampled_from(METHODS),
    st.sampled_from([0, 6, 24]), st.sampled_from(JITTER), st.booleans())})  # fmt: skip


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])  # fmt: skip
@given(
    population=st.lists(st.tuples(pack_states.map(lambda s: s.evolve(phone_number=True)), places, sms_consents,
                                  st.lists(st.tuples(st.just((Channel.SMS, Purpose.MARKETING)),
                                                     st.sampled_from(SEND_AGES)), max_size=3)), max_size=20),
    jurisdictions=st.sampled_from(["auto", "TCPA", "TCPA,CASL"]),
    caps=st.sampled_from(["sms=1/12h", "sms=2/1d, sms=3/7d", ""]),
    at=at_drawn,
)  # fmt: skip
def test_audience_sms_quiet_hours_and_frequency_caps_are_deferred_as_decide_defers(engine, population, jurisdictions,
                                                                                     caps, at):  # fmt: skip
    _check(engine, population, ((Channel.SMS, Purpose.MARKETING), Via.CAMPAIGN, None, False), jurisdictions, caps, at)


def _check(engine, population, send, jurisdictions, caps, at) -> None:
    (channel, purpose), via, list_name, explicit = send
    at = at[0] + at[1]
    drawn = [s.evolve(consents=_consents(spec, at)) for s, _, spec, _ in population]
    where = [{"country": p["country"], "region": p["region"], "timezone": p["timezone"]} for _, p, _, _ in population]
    account_id, ids, states_ = _write(engine, drawn, explicit, where)
    settings_service.set_value(engine, account_id, "jurisdictions", jurisdictions)
    settings_service.set_value(engine, account_id, "frequency_caps", caps)
    policy = Policy(explicit, parse_jurisdictions(jurisdictions), parse_frequency_caps(caps))
    expected_codes: Counter[str] = Counter()
    with_reason: Counter[str] = Counter()
    allowed = set()
    with write_transaction(engine) as conn:
        for i, (pid, (_, place, _, sent)) in enumerate(zip(states_, population, strict=True)):
            state = states_[pid]
            phone = f"{place['phone']}{i:04d}" if state.phone_number else None
            conn.execute(update(profiles).where(profiles.c.account_id == account_id, profiles.c.id == pid)
                         .values(phone_number=phone))  # fmt: skip
            rows = [dict(account_id=account_id, profile_id=pid, channel=c.value, purpose=p.value, message_id=f"m{j}",
                         sent_at=at - age, recorded_at=at) for j, ((c, p), age) in enumerate(sent)]  # fmt: skip
            if rows:
                conn.execute(insert(message_sends), rows)
            recent = tuple(at - age for (c, p), age in sent if (c, p) == (channel, purpose))
            recipient = locate(place["country"], place["region"], place["timezone"], phone)
            s = Send(channel, at, purpose, via, ids.get(list_name) if list_name else None, policy, recipient, recent)
            d = decide(state.evolve(phone_number=phone), s)
            expected_codes[d.reasons[0]] += 1
            for code in d.reasons:
                event(code)
            if d.allowed:
                allowed.add(pid)
            else:
                with_reason.update(d.reasons)

    q = AudienceQuery((Source("all"),), (), channel, purpose, via, ids.get(list_name) if list_name else None, at)
    result = audiences.count(engine, account_id, q)
    assert result.at == at
    got = Counter({r.code: r.count for r in [*result.allowed_by, *result.denied_by, *result.deferred_by] if r.count})
    assert got == +expected_codes
    assert result.deferred == sum(n for c, n in expected_codes.items() if c in ("QUIET_HOURS", "FREQUENCY_CAP"))
    assert result.allowed == len(allowed)
    got_with = {r.code: r.with_reason for r in [*result.denied_by, *result.deferred_by] if r.with_reason}
    assert got_with == dict(with_reason)
    assert [row[0] for row in audiences.allowed(engine, account_id, q)] == sorted(allowed)
    # A segment's assent-can-receive holds exactly the profiles decide() allows (the account's
    # packs and caps read from its settings), and its negation the others.
    condition = {"type": "assent-can-receive", "channel": channel.value, "purpose": purpose.value, "via": via.value,
                 "list_id": ids.get(list_name) if list_name else None}  # fmt: skip
    with read_transaction(engine) as conn:
        scope = segment_service.scope(conn, account_id, at)
        for yes in (True, False):
            definition = parse_definition({"condition_groups": [{"conditions": [{**condition, "can_receive": yes}]}]})
            members = set(conn.execute(segment_store.member_ids(scope, definition)).scalars())
            assert members == (allowed if yes else set(states_) - allowed)


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_audience_sees_a_profile_move_between_jurisdictions(engine):
    """A profile's place is kept for the SQL; when the profile moves, the next answer follows it."""
    state = ProfileState(email=True)  # replaced by an address when written
    account_id, _, states_ = _write(engine, [state], False, [{"country": "US"}])
    q = AudienceQuery((Source("all"),), (), Channel.EMAIL, Purpose.MARKETING)
    assert [r.code for r in audiences.count(engine, account_id, q).allowed_by] == ["NOT_OPTED_OUT"]
    with write_transaction(engine) as conn:
        conn.execute(update(profiles).where(profiles.c.account_id == account_id).values(country="Germany"))
    result = audiences.count(engine, account_id, q)
    assert (result.allowed, [r.code for r in result.denied_by]) == (0, ["EXPLICIT_CONSENT_REQUIRED"])


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_places_refresh_works_out_only_missing_and_stale_places(engine):
    """The set-based count of stale places finds the missing ones, none once they are worked out,
    and a moved profile's; the stream (which keeps places current first) follows the move."""
    population = [ProfileState(email=True) for _ in range(3)]
    account_id, _, states_ = _write(engine, population, False, [{"country": "US"}] * 3)
    moved = sorted(states_)[1]
    with read_transaction(engine) as conn:
        assert place_store.stale_count(conn, account_id) == 3
    assert place_service.refresh(engine, account_id) == 3
    with read_transaction(engine) as conn:
        assert place_store.stale_count(conn, account_id) == 0
    assert place_service.refresh(engine, account_id) == 0
    q = AudienceQuery((Source("all"),), (), Channel.EMAIL, Purpose.MARKETING)
    assert [r[0] for r in audiences.allowed(engine, account_id, q)] == sorted(states_)
    with write_transaction(engine) as conn:
        conn.execute(update(profiles).where(profiles.c.account_id == account_id, profiles.c.id == moved)
                     .values(country="Germany"))  # fmt: skip
    with read_transaction(engine) as conn:
        assert place_store.stale_count(conn, account_id) == 1
    assert [r[0] for r in audiences.allowed(engine, account_id, q)] == sorted(set(states_) - {moved})
    with read_transaction(engine) as conn:
        assert place_store.stale_count(conn, account_id) == 0
