"""Random populations and random segment definitions, for holding the compiled SQL equal to the
pure evaluator (tests/store/test_segments.py).

A population is a handful of profile snapshots; `insert` writes them straight into the projection
tables (consents, suppressions, list members, ...), the events and the ledger's metric column, the
rows the compiled SQL reads. Times sit on a few instants around NOW so that the edges of every
timeframe (exactly 90 days ago, exactly now) are hit often.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import strategies as st
from sqlalchemy import Connection, insert

from assent.domain import (
    ALL_CHANNEL_PURPOSES,
    Channel,
    ChannelConsent,
    ConsentStatus,
    ListSuppression,
    PendingOptIn,
    ProfileState,
    Purpose,
    SuppressionReason,
)
from assent.domain.segment_eval import Occurrence, Snapshot
from assent.services.activity.metrics import builtin_metric_id
from assent.store import projection
from assent.store.tables import (
    consent_events,
    consents,
    events,
    list_members,
    list_suppressions,
    message_sends,
    pending_optins,
    profiles,
    suppressions,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
HOURS = [0, -1, 1, -24, -24 * 7, -24 * 30, -24 * 89, -24 * 90, -24 * 91, -24 * 365, 24 * 7, -24 * 7 - 1]
LEDGER_METRIC = "Subscribed to Email Marketing"
BUILTIN = builtin_metric_id(LEDGER_METRIC)
METRICS = ["M1", "M2", BUILTIN]
LISTS = ["L1", "L2"]
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
KEYS = ["color", "age", "vip", "tags", "birthday"]

times = st.sampled_from(HOURS).map(lambda h: NOW + timedelta(hours=h))
maybe_times = st.one_of(st.none(), times)
strings = st.sampled_from(["red", "Red", "", "re", "2024-01-05", "2024-01-05T10:00:00Z", "2026-05-31 12:00:00", "x"])
json_values = st.sampled_from(
    [
        strings,
        st.sampled_from([0, 1, 2.5, -3, 10]),
        st.booleans(),
        st.none(),
        st.sampled_from([["a", "b"], [1, 2], [], ["1"], [True], ["red", 1]]),
        st.just({}),
    ]
).flatmap(lambda s: s)  # each kind as often as the others (one_of leans towards its first)
consent_rows = st.builds(
    ChannelConsent,
    status=st.sampled_from(list(ConsentStatus)),
    consent_timestamp=maybe_times,
    method=st.sampled_from(["API", "FORM", "TEXT", None]),
    method_detail=st.sampled_from([None, "JOIN", "https://x.example/p"]),
    custom_method_detail=st.sampled_from([None, "Footer", "footer"]),
    double_optin=st.sampled_from([None, True, False]),
    last_updated=times,
)
# Phone number prefixes (four digits follow): San Francisco, Florida, New York, Toronto, US
# toll-free (every North American zone), London, Berlin, an invalid one.
PHONES = ["+1415555", "+1305201", "+1212201", "+1416201", "+1800201", "+4420794", "+4930201", "+1555201"]
SENT_KEYS = [(Channel.SMS, Purpose.MARKETING), (Channel.EMAIL, Purpose.MARKETING), (Channel.PUSH, Purpose.MARKETING),
             (Channel.WHATSAPP, Purpose.CONVERSATIONAL), (Channel.SMS, Purpose.TRANSACTIONAL)]  # fmt: skip
SEND_AGES = [timedelta(minutes=m) for m in (-5, 0, 1, 59, 60, 61, 719, 720, 721, 1439, 1440, 1441)]
pending_keys = st.tuples(
    st.sampled_from([Channel.EMAIL, Channel.SMS]), st.just(Purpose.MARKETING), st.sampled_from(["", *LISTS])
)


@st.composite
def snapshots(draw: Any) -> Snapshot:
    # Drawn, not random: a value the test run draws from outside (secrets) made a population's
    # uniqueness filter answer differently when hypothesis replayed the draws (a flaky strategy).
    # Each example writes into an account of its own, so ids and numbers need only differ within it.
    pid = "01J" + draw(st.text(alphabet=CROCKFORD, min_size=23, max_size=23))
    email = draw(st.sampled_from([f"{pid.lower()}@example.com", None]))
    phone = draw(st.sampled_from([*PHONES, None]))
    phone = phone and f"{phone}{draw(st.integers(0, 9_999)):04d}"
    keys = draw(st.dictionaries(st.sampled_from(ALL_CHANNEL_PURPOSES), consent_rows, max_size=4))
    supp = draw(st.dictionaries(st.sampled_from(list(SuppressionReason)), times, max_size=2))
    lists = draw(st.dictionaries(st.sampled_from(LISTS), times, max_size=2))
    list_supp = draw(st.dictionaries(st.sampled_from(LISTS), times.map(lambda t: t), max_size=1))
    pending = draw(st.dictionaries(pending_keys, times, max_size=2))
    state = ProfileState(
        consents=keys,
        suppressions=supp,
        list_suppressions={k: ListSuppression("USER_SUPPRESSED", v) for k, v in list_supp.items()},
        lists=lists,
        pending={k: PendingOptIn(v, "FORM") for k, v in pending.items()},
        email=email,
        phone_number=phone,
    )
    fields = {
        "email": email,
        "phone_number": phone,
        "first_name": draw(st.sampled_from(["Ann", "ann", "Annabel", "", None])),
        "country": draw(st.sampled_from(["DE", "de ", " France", "US", "usa", "Canada", "", None])),
        "city": draw(st.sampled_from(["Paris", None])),
        "region": draw(st.sampled_from([None, "FL", "Oklahoma", "ny"])),
        "timezone": draw(st.sampled_from([None, "America/New_York", "Pacific/Honolulu", "Europe/Berlin"])),
    }
    properties = draw(st.dictionaries(st.sampled_from(KEYS), json_values, min_size=1, max_size=5))
    occurrences = draw(
        st.lists(
            st.builds(Occurrence, st.sampled_from(METRICS), times, st.sampled_from([None, 1.0, 2.0, 10.0])), max_size=4
        )
    )
    # A consent metric's event carries no value.
    occurrences = [Occurrence(o.metric_id, o.at, None if o.metric_id == BUILTIN else o.value) for o in occurrences]
    created = draw(times)
    sent = draw(st.lists(st.tuples(st.sampled_from(SENT_KEYS), st.sampled_from(SEND_AGES)), max_size=3))
    sends: dict[tuple[Channel, Purpose], tuple[datetime, ...]] = {}
    for key, age in sent:
        sends[key] = (*sends.get(key, ()), NOW - age)
    return Snapshot(pid, state, fields, properties, created, draw(times), draw(maybe_times), occurrences, sends)


# A phone number belongs to one profile (it is an identifier), so a population never repeats one.
populations = st.lists(
    snapshots(), min_size=1, max_size=8, unique_by=(lambda s: s.id, lambda s: s.fields["phone_number"] or s.id)
)


def write_population(conn: Connection, account_id: str, population: list[Snapshot]) -> None:
    seq = 0
    for p in population:
        conn.execute(
            insert(profiles).values(
                account_id=account_id,
                id=p.id,
                **p.fields,
                properties=msgspec.json.encode(dict(p.properties)).decode(),
                created_at=p.created,
                updated_at=p.updated,
                last_event_at=p.last_event_at,
            )
        )
        s = p.state
        for (channel, purpose), c in s.consents.items():
            conn.execute(
                insert(consents).values(
                    account_id=account_id,
                    profile_id=p.id,
                    channel=channel.value,
                    purpose=purpose.value,
                    status=c.status.value,
                    consent_timestamp=c.consent_timestamp,
                    method=c.method,
                    method_detail=c.method_detail,
                    custom_method_detail=c.custom_method_detail,
                    double_optin=c.double_optin,
                    last_updated=c.last_updated,
                )
            )
        for reason, at in s.suppressions.items():
            conn.execute(
                insert(suppressions).values(account_id=account_id, profile_id=p.id, reason=reason.value, created_at=at)
            )
        for list_id, at in s.lists.items():
            conn.execute(
                insert(list_members).values(account_id=account_id, list_id=list_id, profile_id=p.id, joined_at=at)
            )
        for list_id, ls in s.list_suppressions.items():
            conn.execute(
                insert(list_suppressions).values(
                    account_id=account_id, profile_id=p.id, list_id=list_id, reason=ls.reason, created_at=ls.timestamp
                )
            )
        for (channel, purpose, list_id), po in s.pending.items():
            conn.execute(
                insert(pending_optins).values(
                    account_id=account_id,
                    profile_id=p.id,
                    channel=channel.value,
                    purpose=purpose.value,
                    list_id=list_id,
                    requested_at=po.requested_at,
                    method=po.method,
                )
            )
        # The consent summary the projection writes into the profile's row (domain/summary.py).
        summary = projection.empty_rows()
        projection.add_state_rows(summary, account_id, p.id, s)
        projection.write_summaries(conn, summary[projection.SUMMARY])
        sends = [dict(account_id=account_id, profile_id=p.id, channel=ch.value, purpose=pu.value, message_id=f"m{i}",
                      sent_at=at, recorded_at=NOW) for i, ((ch, pu), at) in
                 enumerate((key, at) for key, ats in p.sends.items() for at in ats)]  # fmt: skip
        if sends:
            conn.execute(insert(message_sends), sends)
        for i, o in enumerate(p.events):
            if o.metric_id == BUILTIN:
                seq += 1
                conn.execute(
                    insert(consent_events).values(
                        account_id=account_id,
                        seq=seq,
                        profile_id=p.id,
                        occurred_at=o.at,
                        type="subscribed",
                        metric=LEDGER_METRIC,
                        payload="{}",
                        personal_digest="",
                        prev_hash="",
                        hash="",
                    )
                )
            else:
                conn.execute(
                    insert(events).values(
                        account_id=account_id,
                        id=f"{p.id[:20]}E{i:05d}",
                        metric_id=o.metric_id,
                        profile_id=p.id,
                        occurred_at=o.at,
                        properties="{}",
                        value=o.value,
                        unique_id=str(i),
                        created_at=NOW,
                    )
                )


# --- definitions, as Klaviyo's JSON -------------------------------------------------------------

quantities = st.sampled_from([0, 1, 7, 30, 90])
units = st.sampled_from(["day", "hour", "week"])
static_dates = times.map(lambda t: t.isoformat())


def _relative(op: str) -> Any:
    return st.builds(lambda q, u: {"type": "date", "operator": op, "quantity": q, "unit": u}, quantities, units)


date_filters = st.one_of(
    st.builds(lambda d: {"type": "date", "operator": "after", "date": d}, static_dates),
    st.builds(lambda d: {"type": "date", "operator": "before", "date": d}, static_dates),
    st.builds(
        lambda a, b: {"type": "date", "operator": "between-static", "start": min(a, b), "end": max(a, b)},
        times,
        times,
    ).map(lambda f: {**f, "start": f["start"].isoformat(), "end": f["end"].isoformat()}),
    _relative("in-the-last"),
    _relative("at-least"),
    _relative("in-the-next"),
    st.builds(
        lambda a, b, u: {"type": "date", "operator": "between", "start": min(a, b), "end": max(a, b), "unit": u},
        quantities,
        quantities,
        units,
    ),
)
numeric_filters = st.builds(
    lambda op, v: {"type": "numeric", "operator": op, "value": v},
    st.sampled_from(
        ["equals", "not-equals", "greater-than", "greater-than-or-equal", "less-than", "less-than-or-equal"]
    ),
    st.sampled_from([0, 1, 2, 2.5, 10, -3]),
)
string_filters = st.builds(
    lambda op, v: {"type": "string", "operator": op, "value": v},
    st.sampled_from(
        [
            "equals",
            "not-equals",
            "contains",
            "not-contains",
            "starts-with",
            "not-starts-with",
            "ends-with",
            "not-ends-with",
        ]
    ),
    st.sampled_from(["red", "Red", "", "e", "Ann", "ann", "2024", "Z", "JOIN", "Footer"]),
)
in_filters = st.builds(
    lambda op, v: {"type": "string", "operator": op, "value": v},
    st.sampled_from(["in", "not-in"]),
    st.lists(st.sampled_from(["red", "Ann", "x", "API", "FORM", "Paris"]), min_size=1, max_size=2),
)
existence = st.sampled_from([{"type": "existence", "operator": "is-set"}, {"type": "existence", "operator": "not-set"}])
property_filters = st.sampled_from(
    [
        string_filters,
        in_filters,
        numeric_filters,
        existence,
        st.builds(lambda v: {"type": "boolean", "operator": "equals", "value": v}, st.booleans()),
        st.builds(
            lambda op, v: {"type": "list", "operator": op, "value": v},
            st.sampled_from(["contains", "not-contains"]),
            st.sampled_from(["a", "red", "1", 1, 2]),
        ),
        st.builds(
            lambda op, v: {"type": "list", "operator": op, "value": v},
            st.sampled_from(["length-equals", "length-greater-than", "length-less-than-or-equal"]),
            st.sampled_from([0, 1, 2]),
        ),
        date_filters,
    ]
).flatmap(lambda s: s)


def _consent_filter(name: str) -> Any:
    if name == "status_date":
        return date_filters.map(lambda f: {"field": "status_date", "filter": f})
    if name == "method":
        return st.sampled_from(["api", "form", "inbound_message"]).map(lambda m: {"field": "method", "method": m})
    if name == "is_double_opt_in":
        return st.booleans().map(
            lambda v: {"field": "is_double_opt_in", "filter": {"type": "boolean", "operator": "equals", "value": v}}
        )
    if name == "custom_source":
        return st.sampled_from(["Footer", "x"]).map(
            lambda v: {"field": "custom_source", "filter": {"type": "string", "operator": "equals", "value": v}}
        )
    return st.one_of(date_filters, st.just({"type": "existence", "operator": "is-set"})).map(
        lambda f: {"field": name, "filter": f}
    )


@st.composite
def marketing_consent(draw: Any) -> dict[str, Any]:
    from assent.domain.segments import _ALLOWED

    channel, can_receive, subscription = draw(st.sampled_from(sorted(_ALLOWED)))
    allowed = _ALLOWED[(channel, can_receive, subscription)]
    filters = draw(st.lists(st.sampled_from(allowed), max_size=2)) if allowed else []
    status: dict[str, Any] = {"subscription": subscription}
    if filters:
        status["filters"] = [draw(_consent_filter(f)) for f in filters]
    consent = {"channel": channel, "can_receive_marketing": can_receive, "consent_status": status}
    return {"type": "profile-marketing-consent", "consent": consent}


@st.composite
def group_membership(draw: Any) -> dict[str, Any]:
    ids = draw(st.lists(st.sampled_from([*LISTS, "SEG"]), min_size=1, max_size=2, unique=True))
    member = draw(st.booleans())
    out: dict[str, Any] = {"type": "profile-group-membership", "is_member": member, "group_ids": ids}
    if member and "SEG" not in ids and draw(st.booleans()):
        out["timeframe_filter"] = draw(date_filters)
    return out


properties = st.builds(
    lambda name, f: {"type": "profile-property", "property": name, "filter": f},
    st.sampled_from([f"properties['{k}']" for k in KEYS]),
    property_filters,
)
text_properties = st.builds(
    lambda name, f: {"type": "profile-property", "property": name, "filter": f},
    st.sampled_from(["first_name", "email", "location.city", "country"]),
    st.one_of(string_filters, in_filters, existence),
)
date_properties = st.builds(
    lambda name, f: {"type": "profile-property", "property": name, "filter": f},
    st.sampled_from(["created", "updated", "last_event_date"]),
    st.one_of(date_filters, existence),
)
metric_conditions = st.builds(
    lambda m, meas, f, tf: {
        "type": "profile-metric",
        "metric_id": m,
        "measurement": meas,
        "measurement_filter": f,
        "timeframe_filter": tf,
    },
    st.sampled_from(METRICS),
    st.sampled_from(["count", "sum"]),
    numeric_filters,
    st.one_of(date_filters, st.just({"type": "date", "operator": "alltime"})),
)
regions = st.builds(
    lambda inside, r: {"type": "profile-region", "in_region": inside, "region": r},
    st.booleans(),
    st.sampled_from(["european_union", "united_states"]),
)
samples = st.sampled_from([1, 10, 50, 99, 100]).map(lambda p: {"type": "profile-random-sample", "percentage": p})
sendable = st.sampled_from(
    [
        ("email", "marketing"),
        ("email", "transactional"),
        ("sms", "marketing"),
        ("sms", "transactional"),
        ("push", "marketing"),
        ("whatsapp", "marketing"),
        ("whatsapp", "conversational"),
        ("postal", "marketing"),
    ]
)
can_receive = st.builds(
    lambda cp, yes, via, lst: {
        "type": "assent-can-receive",
        "channel": cp[0],
        "purpose": cp[1],
        "can_receive": yes,
        "via": via,
        "list_id": lst,
    },
    sendable,
    st.booleans(),
    st.sampled_from(["campaign", "flow"]),
    st.sampled_from([None, "L1"]),
)
consent_states = st.builds(
    lambda cp, statuses, filters: {
        "type": "assent-consent",
        "channel": cp[0],
        "purpose": cp[1],
        "status": statuses,
        "filters": filters,
    },
    st.sampled_from([("email", "marketing"), ("sms", "transactional"), ("whatsapp", "marketing")]),
    st.lists(st.sampled_from(["SUBSCRIBED", "UNSUBSCRIBED", "NEVER_SUBSCRIBED"]), min_size=1, max_size=2, unique=True),
    st.lists(
        st.one_of(
            in_filters.map(lambda f: {"field": "method", "filter": f}),
            string_filters.map(lambda f: {"field": "method_detail", "filter": f}),
            in_filters.map(lambda f: {"field": "custom_source", "filter": f}),
            date_filters.map(lambda f: {"field": "consent_date", "filter": f}),
        ),
        max_size=2,
        unique_by=lambda f: f["field"],
    ),
)
suppression_conditions = st.builds(
    lambda yes, reasons, date: {
        "type": "assent-suppression",
        "is_suppressed": yes,
        "reasons": reasons or None,
        "date": date,
    },
    st.booleans(),
    st.lists(st.sampled_from([r.value for r in SuppressionReason]), max_size=2, unique=True),
    st.one_of(st.none(), date_filters),
)
pending_conditions = st.builds(
    lambda yes, ch, lst: {"type": "assent-double-opt-in-pending", "is_pending": yes, "channel": ch, "list_id": lst},
    st.booleans(),
    st.sampled_from([None, "email", "sms"]),
    st.sampled_from([None, "", "L1"]),
)
conditions = st.sampled_from(
    [
        marketing_consent(),
        group_membership(),
        properties,
        properties,
        properties,
        text_properties,
        date_properties,
        metric_conditions,
        regions,
        samples,
        can_receive,
        consent_states,
        suppression_conditions,
        pending_conditions,
    ]
).flatmap(lambda s: s)
definitions = st.lists(st.lists(conditions, min_size=1, max_size=3), min_size=1, max_size=3).map(
    lambda groups: {"condition_groups": [{"conditions": g} for g in groups]}
)
# The other segment group conditions may name: SMS subscribers, or the red-loving.
NESTED = {
    "condition_groups": [
        {
            "conditions": [
                {
                    "type": "profile-marketing-consent",
                    "consent": {
                        "channel": "sms",
                        "can_receive_marketing": True,
                        "consent_status": {"subscription": "subscribed"},
                    },
                },
                {
                    "type": "profile-property",
                    "property": "properties['color']",
                    "filter": {"type": "string", "operator": "equals", "value": "red"},
                },
            ]
        }
    ]
}
