"""Klaviyo's official Python SDK (`klaviyo-api` from PyPI) against a real Assent server.

The SDK parses most answers into strict pydantic models built from Klaviyo's own spec, so a call
that returns a typed object is a check of our response shapes; errors must arrive as the SDK's
ApiException carrying our JSON:API error document."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from klaviyo_api import KlaviyoAPI
from klaviyo_api.filter_builder import FilterBuilder
from openapi_client.api_arg_options import USE_DICTIONARY_FOR_RESPONSE_DATA
from openapi_client.exceptions import ApiException, BadRequestException, ForbiddenException, NotFoundException
from openapi_client.models import (
    GetAccounts4XXResponse,
    GetBulkProfileSuppressionsCreateJobResponse,
    GetBulkProfileSuppressionsCreateJobResponseCollection,
    GetBulkProfileSuppressionsRemoveJobResponse,
    GetBulkProfileSuppressionsRemoveJobResponseCollection,
    GetEventResponseCollectionCompoundDocument,
    GetEventResponseCompoundDocument,
    GetImportErrorResponseCollection,
    GetListListResponseCollectionCompoundDocument,
    GetListMemberResponseCollection,
    GetListProfilesRelationshipsResponseCollection,
    GetListResponseCollection,
    GetListRetrieveResponseCompoundDocument,
    GetMetricResponseCollectionCompoundDocument,
    GetMetricResponseCompoundDocument,
    GetProfileImportJobResponseCollectionCompoundDocument,
    GetProfileImportJobResponseCompoundDocument,
    GetProfileListsRelationshipsResponseCollection,
    GetProfileResponseCollection,
    GetProfileResponsePluralConversationsCollectionCompoundDocument,
    GetProfileResponsePluralConversationsCompoundDocument,
    PatchListPartialUpdateResponse,
    PatchProfileResponse,
    PostBulkProfileSuppressionsCreateJobResponse,
    PostBulkProfileSuppressionsRemoveJobResponse,
    PostListCreateResponse,
    PostProfileImportJobResponse,
    PostProfileResponse,
    ProfileCreateQuery,
    ProfileCreateQueryResourceObject,
    ProfileCreateQueryResourceObjectAttributes,
    ProfileEnum,
    SubscriptionCreateJobCreateQuery,
)

from assent.services.accounts import accounts
from assent.services.lists import lists as list_service

DICT = {USE_DICTIONARY_FOR_RESPONSE_DATA: True}


@pytest.fixture
def klaviyo(server, api) -> KlaviyoAPI:
    """The SDK pointed at the test server with the fresh account's key; retries kept short."""
    return KlaviyoAPI(api.api_key, max_delay=2, max_retries=1, test_host=server.base_url)


# --- helpers ----------------------------------------------------------------------------------


def profile_body(email: str, **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": {"email": email, **attributes}}}


def new_profile(klaviyo: KlaviyoAPI, email: str, **attributes: Any) -> str:
    created = klaviyo.Profiles.create_profile(profile_body(email, **attributes))
    assert isinstance(created, PostProfileResponse)
    return created.data.id


def error_of(caught: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    """The first JSON:API error of an ApiException, after checking the SDK parsed the document."""
    e = caught.value
    assert isinstance(e.data, GetAccounts4XXResponse), f"the SDK could not parse the error body: {e.body}"
    body = json.loads(e.body)
    assert set(body) == {"errors"}
    return body["errors"][0]


def subscribe_body(emails: list[str], list_id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "profile-subscription-bulk-create-job",
        "attributes": {
            "custom_source": "SDK test",
            "profiles": {
                "data": [
                    {
                        "type": "profile",
                        "attributes": {
                            "email": email,
                            "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}},
                        },
                    }
                    for email in emails
                ]
            },
        },
    }
    if list_id is not None:
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return {"data": data}


def unsubscribe_body(emails: list[str], list_id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "profile-subscription-bulk-delete-job",
        "attributes": {
            "profiles": {
                "data": [
                    {
                        "type": "profile",
                        "attributes": {
                            "email": email,
                            "subscriptions": {"email": {"marketing": {"consent": "UNSUBSCRIBED"}}},
                        },
                    }
                    for email in emails
                ]
            }
        },
    }
    if list_id is not None:
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return {"data": data}


def suppression_body(job_type: str, emails: list[str]) -> dict[str, Any]:
    return {
        "data": {
            "type": job_type,
            "attributes": {
                "profiles": {"data": [{"type": "profile", "attributes": {"email": email}} for email in emails]}
            },
        }
    }


def email_marketing(klaviyo: KlaviyoAPI, profile_id: str) -> Any:
    got = klaviyo.Profiles.get_profile(profile_id, additional_fields_profile=["subscriptions"])
    assert isinstance(got, GetProfileResponsePluralConversationsCompoundDocument)
    return got.data.attributes.subscriptions.email.marketing


def cursor_of(link: str | None) -> str:
    """The bare page[cursor] value of a links.next / links.prev URL."""
    assert link
    return parse_qs(urlsplit(link).query)["page[cursor]"][0]


def wait_for(fetch: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 20) -> Any:
    """Poll a job until `done` (Klaviyo's jobs are asynchronous; Assent's may be too)."""
    deadline = time.monotonic() + seconds
    while True:
        got = fetch()
        if done(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def sdk_list(klaviyo: KlaviyoAPI, name: str) -> str:
    created = klaviyo.Lists.create_list(
        {"data": {"type": "list", "attributes": {"name": name, "opt_in_process": "single_opt_in"}}}
    )
    assert isinstance(created, PostListCreateResponse)
    return created.data.id


# --- profiles ---------------------------------------------------------------------------------


def test_create_profile_from_typed_model_answers_a_typed_profile(klaviyo):
    body = ProfileCreateQuery(
        data=ProfileCreateQueryResourceObject(
            type=ProfileEnum.PROFILE,
            attributes=ProfileCreateQueryResourceObjectAttributes(
                email="Typed@Example.com", first_name="Ada", properties={"plan": "gold"}
            ),
        )
    )
    created = klaviyo.Profiles.create_profile(body)
    assert isinstance(created, PostProfileResponse)
    assert created.data.type == ProfileEnum.PROFILE
    assert created.data.attributes.email == "typed@example.com"  # stored canonical: the whole address lowercased
    assert created.data.attributes.first_name == "Ada"
    assert created.data.attributes.properties == {"plan": "gold"}
    assert created.data.links.var_self.endswith(f"/api/profiles/{created.data.id}/")


def test_get_profile_with_subscriptions_parses_the_consent_object(klaviyo):
    profile_id = new_profile(klaviyo, "consent@example.com")
    got = klaviyo.Profiles.get_profile(profile_id, additional_fields_profile=["subscriptions"])
    assert isinstance(got, GetProfileResponsePluralConversationsCompoundDocument)
    assert got.data.id == profile_id
    marketing = got.data.attributes.subscriptions.email.marketing
    assert marketing.consent == "NEVER_SUBSCRIBED"
    assert marketing.can_receive_email_marketing is True
    without = klaviyo.Profiles.get_profile(profile_id)
    assert without.data.attributes.subscriptions is None


def test_profile_location_properties_and_patch_properties_round_trip(klaviyo):
    profile_id = new_profile(
        klaviyo,
        "props@example.com",
        location={"city": "Lyon", "country": "France", "latitude": 45.76, "longitude": "4.83"},
        properties={"tags": ["a"], "drop": 1},
    )
    updated = klaviyo.Profiles.update_profile(
        profile_id,
        {
            "data": {
                "type": "profile",
                "id": profile_id,
                "attributes": {},
                "meta": {"patch_properties": {"append": {"tags": "b"}, "unset": ["drop"]}},
            }
        },
    )
    assert isinstance(updated, PatchProfileResponse)
    assert updated.data.attributes.properties == {"tags": ["a", "b"]}
    location = updated.data.attributes.location
    assert (location.city, location.country) == ("Lyon", "France")
    got = klaviyo.Profiles.get_profile(profile_id, additional_fields_profile=["subscriptions", "predictive_analytics"])
    assert isinstance(got, GetProfileResponsePluralConversationsCompoundDocument)
    assert got.data.attributes.location.city == "Lyon"


def test_update_profile_changes_named_fields_and_keeps_others(klaviyo):
    profile_id = new_profile(klaviyo, "update@example.com", first_name="Old", last_name="Kept")
    updated = klaviyo.Profiles.update_profile(
        profile_id,
        {"data": {"type": "profile", "id": profile_id, "attributes": {"first_name": "New", "title": "Chef"}}},
    )
    assert isinstance(updated, PatchProfileResponse)
    attributes = updated.data.attributes
    assert (attributes.first_name, attributes.last_name, attributes.title) == ("New", "Kept", "Chef")


def test_create_or_update_profile_creates_then_updates_the_same_profile(klaviyo):
    first = klaviyo.Profiles.create_or_update_profile(profile_body("upsert@example.com", first_name="One"))
    assert isinstance(first, PostProfileResponse)
    second = klaviyo.Profiles.create_or_update_profile(profile_body("upsert@example.com", last_name="Two"))
    assert isinstance(second, PostProfileResponse)
    assert second.data.id == first.data.id
    assert (second.data.attributes.first_name, second.data.attributes.last_name) == ("One", "Two")


def test_create_or_update_profile_answers_201_when_created_and_200_when_updated(klaviyo):
    # The *_with_http_info variants (not wrapped by KlaviyoAPI) expose the status code.
    created = klaviyo.Profiles.create_or_update_profile_with_http_info(profile_body("status@example.com"))
    assert created.status_code == 201
    assert isinstance(created.data, PostProfileResponse)
    updated = klaviyo.Profiles.create_or_update_profile_with_http_info(
        {"data": {"type": "profile", "id": created.data.data.id, "attributes": {"first_name": "Named"}}}
    )
    assert updated.status_code == 200
    assert updated.data.data.id == created.data.data.id
    assert updated.data.data.attributes.first_name == "Named"


def test_duplicate_profile_is_a_409_api_exception_naming_the_existing_profile(klaviyo):
    existing = new_profile(klaviyo, "dup@example.com")
    with pytest.raises(ApiException) as caught:
        klaviyo.Profiles.create_profile(profile_body("dup@example.com"))
    assert caught.value.status == 409
    error = error_of(caught)
    assert error["code"] == "duplicate_profile"
    assert error["meta"]["duplicate_profile_id"] == existing


def test_get_profiles_with_a_filter_builder_filter_and_sort(klaviyo):
    before = datetime.now(UTC) - timedelta(minutes=5)
    ids = {email: new_profile(klaviyo, email) for email in ("b@example.com", "a@example.com", "c@example.com")}
    new_profile(klaviyo, "other@example.com")
    chosen = FilterBuilder()
    chosen.any("email", ["a@example.com", "b@example.com", "c@example.com"])
    chosen.greater_than("created", before)
    got = klaviyo.Profiles.get_profiles(filter=chosen.build(), sort="-email")
    assert isinstance(got, GetProfileResponsePluralConversationsCollectionCompoundDocument)
    assert [p.attributes.email for p in got.data] == ["c@example.com", "b@example.com", "a@example.com"]
    assert [p.id for p in got.data] == [ids["c@example.com"], ids["b@example.com"], ids["a@example.com"]]
    assert got.links.next is None

    one = FilterBuilder()
    one.equals("email", "a@example.com")
    single = klaviyo.Profiles.get_profiles(filter=one.build(), additional_fields_profile=["subscriptions"])
    assert [p.id for p in single.data] == [ids["a@example.com"]]
    assert single.data[0].attributes.subscriptions.email.marketing.consent == "NEVER_SUBSCRIBED"


def test_paging_follows_links_next_through_every_profile_once(klaviyo):
    created = {new_profile(klaviyo, f"page{i:02d}@example.com") for i in range(25)}
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        got = klaviyo.Profiles.get_profiles(page_size=10, page_cursor=cursor)
        assert isinstance(got, GetProfileResponsePluralConversationsCollectionCompoundDocument)
        pages += 1
        assert len(got.data) <= 10
        seen += [p.id for p in got.data]
        if not got.links.next:
            break
        cursor = got.links.next  # the SDK takes the whole links.next URL as the cursor
        assert pages < 10, "paging does not end"
    assert pages == 3
    assert len(seen) == len(set(seen)) == 25
    assert set(seen) == created


def test_page_links_are_percent_encoded_and_the_sdk_reads_the_cursor_from_them(klaviyo):
    created = {new_profile(klaviyo, f"links{i}@example.com") for i in range(4)}
    first = klaviyo.Profiles.get_profiles(page_size=2)
    # links.self is escaped as links.next is, and as Klaviyo writes them.
    assert first.links.var_self.endswith("/api/profiles?page%5Bsize%5D=2")
    assert first.links.next.startswith(first.links.var_self + "&page%5Bcursor%5D=")
    # Given an https:// links.next, the SDK cuts the cursor out after `page%5Bcursor%5D`.
    https_next = first.links.next.replace("http://", "https://", 1)
    second = klaviyo.Profiles.get_profiles(page_size=2, page_cursor=https_next)
    # Its self link is what the SDK asked, escaped the same way (the SDK keeps a leading "=").
    assert "[" not in second.links.var_self and "page%5Bsize%5D=2" in second.links.var_self
    assert cursor_of(second.links.var_self).lstrip("=") == cursor_of(first.links.next)
    assert {p.id for p in first.data} | {p.id for p in second.data} == created
    assert second.links.next is None


def test_paging_with_bare_cursors_forward_and_back(klaviyo):
    created = [new_profile(klaviyo, f"bare{i:02d}@example.com") for i in range(7)]
    first = klaviyo.Profiles.get_profiles(page_size=3, sort="email")
    assert first.links.prev is None
    second = klaviyo.Profiles.get_profiles(page_size=3, sort="email", page_cursor=cursor_of(first.links.next))
    third = klaviyo.Profiles.get_profiles(page_size=3, sort="email", page_cursor=cursor_of(second.links.next))
    assert third.links.next is None
    forward = [p.id for page in (first, second, third) for p in page.data]
    assert forward == created
    back = klaviyo.Profiles.get_profiles(page_size=3, sort="email", page_cursor=cursor_of(third.links.prev))
    assert [p.id for p in back.data] == [p.id for p in second.data]


def test_dictionary_responses_when_asked_per_call_or_per_client(klaviyo, server, api):
    profile_id = new_profile(klaviyo, "dict@example.com")
    got = klaviyo.Profiles.get_profile(profile_id, additional_fields_profile=["subscriptions"], options=DICT)
    assert isinstance(got, dict)
    assert got["data"]["id"] == profile_id
    assert got["data"]["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"

    as_dicts = KlaviyoAPI(api.api_key, max_delay=2, max_retries=1, test_host=server.base_url, options=DICT)
    listed = as_dicts.Profiles.get_profiles(page_size=5)
    assert isinstance(listed, dict)
    assert [p["id"] for p in listed["data"]] == [profile_id]
    assert listed["links"]["self"].startswith(server.base_url)
    assert listed["links"].get("next") is None  # one page: no next (left out, or null)

    sparse = klaviyo.Profiles.get_profiles(fields_profile=["email"])  # sparse fieldsets always give dicts
    assert sparse["data"][0]["attributes"] == {"email": "dict@example.com"}


# --- errors -----------------------------------------------------------------------------------


def test_unknown_profile_is_a_404_not_found_exception(klaviyo):
    with pytest.raises(NotFoundException) as caught:
        klaviyo.Profiles.get_profile("01HZZZZZZZZZZZZZZZZZZZZZZZ")
    assert caught.value.status == 404
    assert error_of(caught)["code"] == "not_found"


def test_another_accounts_profile_is_not_found(klaviyo, other_api, server):
    theirs = KlaviyoAPI(other_api.api_key, max_delay=2, max_retries=1, test_host=server.base_url)
    their_id = new_profile(theirs, "theirs@example.com")
    with pytest.raises(NotFoundException):
        klaviyo.Profiles.get_profile(their_id)


def test_bad_filter_is_a_400_naming_the_filter_parameter(klaviyo):
    with pytest.raises(BadRequestException) as caught:
        klaviyo.Profiles.get_profiles(filter='equals(first_name,"Ada")')
    error = error_of(caught)
    assert error["status"] == 400
    assert error["source"] == {"parameter": "filter"}


def test_bad_body_is_a_400_with_a_pointer_and_nothing_written(klaviyo):
    with pytest.raises(BadRequestException) as caught:
        klaviyo.Profiles.create_profile(profile_body("not an email"))
    assert error_of(caught)["source"]["pointer"].startswith("/data/attributes")
    assert klaviyo.Profiles.get_profiles().data == []


def test_a_read_only_key_gets_a_403_forbidden_exception_on_writes(klaviyo, server, api):
    read_only = accounts.create_key(server.engine, api.account_id, "profiles:read,lists:read")
    reader = KlaviyoAPI(read_only.secret, max_delay=2, max_retries=1, test_host=server.base_url)
    assert reader.Profiles.get_profiles().data == []
    with pytest.raises(ForbiddenException) as caught:
        reader.Profiles.create_profile(profile_body("nope@example.com"))
    assert "profiles:write" in error_of(caught)["detail"]
    with pytest.raises(ForbiddenException):
        reader.Profiles.bulk_subscribe_profiles(subscribe_body(["nope@example.com"]))
    assert klaviyo.Profiles.get_profiles().data == []


def test_bad_key_is_a_401_api_exception(server):
    stranger = KlaviyoAPI("pk_not_a_real_key", max_delay=2, max_retries=1, test_host=server.base_url)
    with pytest.raises(ApiException) as caught:
        stranger.Profiles.get_profiles()
    assert caught.value.status == 401
    assert error_of(caught)["code"] == "authentication_failed"


# --- subscriptions and suppressions -----------------------------------------------------------


def test_bulk_subscribe_without_a_list_makes_profiles_subscribed(klaviyo):
    assert klaviyo.Profiles.bulk_subscribe_profiles(subscribe_body(["s1@example.com", "s2@example.com"])) is None
    found = FilterBuilder()
    found.any("email", ["s1@example.com", "s2@example.com"])
    got = klaviyo.Profiles.get_profiles(filter=found.build(), additional_fields_profile=["subscriptions"])
    assert len(got.data) == 2
    for profile in got.data:
        marketing = profile.attributes.subscriptions.email.marketing
        assert marketing.consent == "SUBSCRIBED"
        assert marketing.can_receive_email_marketing is True


def test_bulk_subscribe_from_the_sdks_typed_model(klaviyo):
    # The typed model sends every nullable field it was not given as null, consented_at among them.
    body = SubscriptionCreateJobCreateQuery.from_dict(subscribe_body(["typed@example.com"]))
    assert '"consented_at": null' in body.to_json()
    assert klaviyo.Profiles.bulk_subscribe_profiles(body) is None
    found = FilterBuilder()
    found.equals("email", "typed@example.com")
    [profile] = klaviyo.Profiles.get_profiles(filter=found.build(), additional_fields_profile=["subscriptions"]).data
    assert profile.attributes.subscriptions.email.marketing.consent == "SUBSCRIBED"


def test_bulk_subscribe_email_and_sms_together(klaviyo):
    body = subscribe_body(["both@example.com"])
    item = body["data"]["attributes"]["profiles"]["data"][0]["attributes"]
    item["phone_number"] = "+15005550006"
    item["subscriptions"]["sms"] = {"marketing": {"consent": "SUBSCRIBED"}, "transactional": {"consent": "SUBSCRIBED"}}
    klaviyo.Profiles.bulk_subscribe_profiles(body)
    found = FilterBuilder()
    found.equals("phone_number", "+15005550006")
    profile = klaviyo.Profiles.get_profiles(filter=found.build(), additional_fields_profile=["subscriptions"]).data[0]
    subscriptions = profile.attributes.subscriptions
    assert profile.attributes.email == "both@example.com"
    assert subscriptions.email.marketing.consent == "SUBSCRIBED"
    assert subscriptions.sms.marketing.consent == "SUBSCRIBED"
    assert subscriptions.sms.marketing.can_receive_sms_marketing is True
    assert subscriptions.sms.transactional.consent == "SUBSCRIBED"


def test_bulk_subscribe_to_a_list_subscribes_and_adds_to_the_list(klaviyo):
    list_id = sdk_list(klaviyo, "Newsletter")
    klaviyo.Profiles.bulk_subscribe_profiles(subscribe_body(["member@example.com"], list_id))
    members = klaviyo.Lists.get_profiles_for_list(list_id, additional_fields_profile=["subscriptions"])
    assert isinstance(members, GetListMemberResponseCollection)
    assert [m.attributes.email for m in members.data] == ["member@example.com"]
    profile_id = members.data[0].id
    assert email_marketing(klaviyo, profile_id).consent == "SUBSCRIBED"
    on = klaviyo.Profiles.get_lists_for_profile(profile_id)
    assert isinstance(on, GetListResponseCollection)
    assert [item.id for item in on.data] == [list_id]


def test_bulk_subscribe_to_a_list_made_by_the_service(klaviyo, server, api):
    made = list_service.create_list(server.engine, api.account_id, "Made by the service")
    klaviyo.Profiles.bulk_subscribe_profiles(subscribe_body(["svc@example.com"], made.id))
    found = FilterBuilder()
    found.equals("email", "svc@example.com")
    profile = klaviyo.Profiles.get_profiles(filter=found.build()).data[0]
    assert email_marketing(klaviyo, profile.id).consent == "SUBSCRIBED"


def test_bulk_unsubscribe_makes_a_subscribed_profile_unsubscribed(klaviyo):
    klaviyo.Profiles.bulk_subscribe_profiles(subscribe_body(["leaver@example.com"]))
    assert klaviyo.Profiles.bulk_unsubscribe_profiles(unsubscribe_body(["leaver@example.com"])) is None
    found = FilterBuilder()
    found.equals("email", "leaver@example.com")
    profile = klaviyo.Profiles.get_profiles(filter=found.build()).data[0]
    marketing = email_marketing(klaviyo, profile.id)
    assert marketing.consent == "UNSUBSCRIBED"
    assert marketing.can_receive_email_marketing is False

    # Both changes are consent events, read back through Events and Metrics like any activity.
    of_profile = FilterBuilder()
    of_profile.equals("profile_id", profile.id)
    events = klaviyo.Events.get_events(filter=of_profile.build(), sort="datetime", include=["metric"])
    assert isinstance(events, GetEventResponseCollectionCompoundDocument)
    metric_names = {item["id"]: item["attributes"]["name"] for item in events.included}
    names = [metric_names[e.relationships.metric.data.id] for e in events.data]
    assert names == ["Subscribed to Email Marketing", "Unsubscribed from Email Marketing"]


def test_bulk_subscribe_with_a_bad_email_is_a_400_pointing_at_it(klaviyo):
    with pytest.raises(BadRequestException) as caught:
        klaviyo.Profiles.bulk_subscribe_profiles(subscribe_body(["fine@example.com", "nope"]))
    assert error_of(caught)["source"]["pointer"].startswith("/data/attributes/profiles/data/1")
    assert klaviyo.Profiles.get_profiles().data == []


def test_suppress_and_unsuppress_jobs_complete_and_change_the_profile(klaviyo):
    profile_id = new_profile(klaviyo, "quiet@example.com")
    job = klaviyo.Profiles.bulk_suppress_profiles(
        suppression_body("profile-suppression-bulk-create-job", ["quiet@example.com"])
    )
    assert isinstance(job, PostBulkProfileSuppressionsCreateJobResponse)
    done = wait_for(
        lambda: klaviyo.Profiles.get_bulk_suppress_profiles_job(job.data.id),
        lambda got: got.data.attributes.status == "complete",
    )
    assert isinstance(done, GetBulkProfileSuppressionsCreateJobResponse)
    assert done.data.attributes.status == "complete"
    assert done.data.attributes.total_count == 1
    marketing = email_marketing(klaviyo, profile_id)
    assert [s.reason for s in marketing.suppression] == ["USER_SUPPRESSED"]
    assert marketing.can_receive_email_marketing is False

    suppressed = FilterBuilder()
    suppressed.equals("subscriptions.email.marketing.suppression.reason", "USER_SUPPRESSED")
    assert [p.id for p in klaviyo.Profiles.get_profiles(filter=suppressed.build()).data] == [profile_id]

    undo = klaviyo.Profiles.bulk_unsuppress_profiles(
        suppression_body("profile-suppression-bulk-delete-job", ["quiet@example.com"])
    )
    assert isinstance(undo, PostBulkProfileSuppressionsRemoveJobResponse)
    undone = wait_for(
        lambda: klaviyo.Profiles.get_bulk_unsuppress_profiles_job(undo.data.id),
        lambda got: got.data.attributes.status == "complete",
    )
    assert isinstance(undone, GetBulkProfileSuppressionsRemoveJobResponse)
    assert undone.data.attributes.status == "complete"
    complete = FilterBuilder()
    complete.equals("status", "complete")
    undo_jobs = klaviyo.Profiles.get_bulk_unsuppress_profiles_jobs(filter=complete.build(), sort="-created")
    assert isinstance(undo_jobs, GetBulkProfileSuppressionsRemoveJobResponseCollection)
    assert [j.id for j in undo_jobs.data] == [undo.data.id]
    marketing = email_marketing(klaviyo, profile_id)
    assert not marketing.suppression
    assert marketing.can_receive_email_marketing is True


def test_suppress_a_whole_list_and_find_the_job_by_list(klaviyo):
    list_id = sdk_list(klaviyo, "To silence")
    ids = [new_profile(klaviyo, f"hush{i}@example.com") for i in range(2)]
    klaviyo.Lists.add_profiles_to_list(list_id, {"data": [{"type": "profile", "id": i} for i in ids]})
    job = klaviyo.Profiles.bulk_suppress_profiles(
        {
            "data": {
                "type": "profile-suppression-bulk-create-job",
                "attributes": {"profiles": None},
                "relationships": {"list": {"data": {"type": "list", "id": list_id}}},
            }
        }
    )
    assert isinstance(job, PostBulkProfileSuppressionsCreateJobResponse)
    done = wait_for(
        lambda: klaviyo.Profiles.get_bulk_suppress_profiles_job(job.data.id),
        lambda got: got.data.attributes.status == "complete",
    )
    assert done.data.attributes.status == "complete"
    assert done.data.attributes.total_count == 2
    for profile_id in ids:
        assert [s.reason for s in email_marketing(klaviyo, profile_id).suppression] == ["USER_SUPPRESSED"]

    by_list = FilterBuilder()
    by_list.equals("list_id", list_id)
    jobs = klaviyo.Profiles.get_bulk_suppress_profiles_jobs(filter=by_list.build())
    assert isinstance(jobs, GetBulkProfileSuppressionsCreateJobResponseCollection)
    assert [j.id for j in jobs.data] == [job.data.id]


def test_unknown_suppression_job_is_not_found(klaviyo):
    with pytest.raises(NotFoundException):
        klaviyo.Profiles.get_bulk_suppress_profiles_job("01HZZZZZZZZZZZZZZZZZZZZZZZ")


def test_bulk_import_job_upserts_profiles_into_a_list_and_reports_bad_rows(klaviyo):
    list_id = sdk_list(klaviyo, "Imported")
    existing = new_profile(klaviyo, "known@example.com", first_name="Before")
    rows = [
        {"type": "profile", "attributes": {"email": "known@example.com", "first_name": "After"}},
        {"type": "profile", "attributes": {"email": "fresh@example.com", "properties": {"source": "import"}}},
        {"type": "profile", "attributes": {"email": "not an email"}},
    ]
    job = klaviyo.Profiles.bulk_import_profiles(
        {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": rows}},
                "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
            }
        }
    )
    assert isinstance(job, PostProfileImportJobResponse)
    assert job.data.attributes.total_count == 3
    done = wait_for(
        lambda: klaviyo.Profiles.get_bulk_import_profiles_job(job.data.id),
        lambda got: got.data.attributes.status == "complete",
    )
    assert isinstance(done, GetProfileImportJobResponseCompoundDocument)
    assert done.data.attributes.status == "complete"
    assert (done.data.attributes.completed_count, done.data.attributes.failed_count) == (2, 1)

    jobs = klaviyo.Profiles.get_bulk_import_profiles_jobs()
    assert isinstance(jobs, GetProfileImportJobResponseCollectionCompoundDocument)
    assert [j.id for j in jobs.data] == [job.data.id]
    job_lists = klaviyo.Profiles.get_list_for_bulk_import_profiles_job(job.data.id)
    assert isinstance(job_lists, GetListResponseCollection)
    assert [item.id for item in job_lists.data] == [list_id]

    imported = klaviyo.Profiles.get_profiles_for_bulk_import_profiles_job(job.data.id)
    assert isinstance(imported, GetProfileResponseCollection)
    assert {p.attributes.email for p in imported.data} == {"known@example.com", "fresh@example.com"}
    assert existing in {p.id for p in imported.data}
    assert klaviyo.Profiles.get_profile(existing).data.attributes.first_name == "After"

    errors = klaviyo.Profiles.get_errors_for_bulk_import_profiles_job(job.data.id)
    assert isinstance(errors, GetImportErrorResponseCollection)
    assert len(errors.data) == 1
    # As Klaviyo's: the row itself is in original_payload; the pointer is within it.
    assert errors.data[0].attributes.original_payload == rows[2]
    assert errors.data[0].attributes.source.pointer.startswith("/data")
    assert "email" in errors.data[0].attributes.detail

    members = klaviyo.Lists.get_profiles_for_list(list_id, additional_fields_profile=["subscriptions"])
    assert {m.attributes.email for m in members.data} == {"known@example.com", "fresh@example.com"}
    # Importing into a list is membership only: no consent is given.
    assert {m.attributes.subscriptions.email.marketing.consent for m in members.data} == {"NEVER_SUBSCRIBED"}


# --- lists ------------------------------------------------------------------------------------


def test_lists_create_get_and_membership_round_trip(klaviyo):
    list_id = sdk_list(klaviyo, "VIP")
    sdk_list(klaviyo, "Other")

    listed = klaviyo.Lists.get_lists()
    assert isinstance(listed, GetListListResponseCollectionCompoundDocument)
    assert {item.attributes.name for item in listed.data} == {"VIP", "Other"}
    named = FilterBuilder()
    named.equals("name", "VIP")
    assert [item.id for item in klaviyo.Lists.get_lists(filter=named.build()).data] == [list_id]

    one = klaviyo.Lists.get_list(list_id, additional_fields_list=["profile_count"])
    assert isinstance(one, GetListRetrieveResponseCompoundDocument)
    assert (one.data.id, one.data.attributes.name, one.data.attributes.profile_count) == (list_id, "VIP", 0)

    ids = [new_profile(klaviyo, f"vip{i}@example.com") for i in range(3)]
    members_body = {"data": [{"type": "profile", "id": profile_id} for profile_id in ids]}
    assert klaviyo.Lists.add_profiles_to_list(list_id, members_body) is None

    members = klaviyo.Lists.get_profiles_for_list(list_id)
    assert isinstance(members, GetListMemberResponseCollection)
    assert {m.id for m in members.data} == set(ids)
    assert all(m.attributes.joined_group_at is not None for m in members.data)
    # Joining a list is membership only: consent is unchanged.
    assert email_marketing(klaviyo, ids[0]).consent == "NEVER_SUBSCRIBED"

    on = klaviyo.Profiles.get_lists_for_profile(ids[0])
    assert isinstance(on, GetListResponseCollection)
    assert [item.id for item in on.data] == [list_id]
    with_lists = klaviyo.Profiles.get_profile(ids[0], include=["lists"])
    assert isinstance(with_lists, GetProfileResponsePluralConversationsCompoundDocument)
    # The SDK leaves `included` untyped (dicts).
    assert [(item["type"], item["id"]) for item in with_lists.included] == [("list", list_id)]
    assert with_lists.included[0]["attributes"]["name"] == "VIP"

    assert klaviyo.Lists.remove_profiles_from_list(list_id, {"data": [{"type": "profile", "id": ids[0]}]}) is None
    left = klaviyo.Lists.get_profiles_for_list(list_id)
    assert {m.id for m in left.data} == set(ids[1:])
    assert klaviyo.Profiles.get_lists_for_profile(ids[0]).data == []
    assert klaviyo.Lists.get_list(list_id, additional_fields_list=["profile_count"]).data.attributes.profile_count == 2


def test_list_relationships_rename_and_delete(klaviyo):
    list_id = sdk_list(klaviyo, "Before")
    profile_id = new_profile(klaviyo, "rel@example.com")
    klaviyo.Lists.add_profiles_to_list(list_id, {"data": [{"type": "profile", "id": profile_id}]})

    linked = klaviyo.Lists.get_profile_ids_for_list(list_id)
    assert isinstance(linked, GetListProfilesRelationshipsResponseCollection)
    assert [(item.type, item.id) for item in linked.data] == [("profile", profile_id)]
    back = klaviyo.Profiles.get_list_ids_for_profile(profile_id)
    assert isinstance(back, GetProfileListsRelationshipsResponseCollection)
    assert [(item.type, item.id) for item in back.data] == [("list", list_id)]

    renamed = klaviyo.Lists.update_list(
        list_id, {"data": {"type": "list", "id": list_id, "attributes": {"name": "After"}}}
    )
    assert isinstance(renamed, PatchListPartialUpdateResponse)
    assert renamed.data.attributes.name == "After"

    assert klaviyo.Lists.delete_list(list_id) is None
    with pytest.raises(NotFoundException):
        klaviyo.Lists.get_list(list_id)
    assert klaviyo.Profiles.get_lists_for_profile(profile_id).data == []


def test_list_profiles_page_with_the_sdk(klaviyo):
    list_id = sdk_list(klaviyo, "Paged")
    ids = [new_profile(klaviyo, f"lp{i:02d}@example.com") for i in range(12)]
    klaviyo.Lists.add_profiles_to_list(list_id, {"data": [{"type": "profile", "id": i} for i in ids]})
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        got = klaviyo.Lists.get_profiles_for_list(list_id, page_size=5, page_cursor=cursor)
        seen += [m.id for m in got.data]
        cursor = got.links.next
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)


def test_unknown_list_is_a_404(klaviyo):
    with pytest.raises(NotFoundException) as caught:
        klaviyo.Lists.get_list("XXXXXX")
    assert error_of(caught)["status"] == 404


def test_another_accounts_list_is_not_found(klaviyo, other_api, server):
    theirs = KlaviyoAPI(other_api.api_key, max_delay=2, max_retries=1, test_host=server.base_url)
    their_list = sdk_list(theirs, "Theirs")
    with pytest.raises(NotFoundException):
        klaviyo.Lists.get_list(their_list)


# --- events and metrics -----------------------------------------------------------------------


def event_body(email: str, metric: str, properties: dict[str, Any], **attributes: Any) -> dict[str, Any]:
    return {
        "data": {
            "type": "event",
            "attributes": {
                "properties": properties,
                "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
                "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
                **attributes,
            },
        }
    }


def test_create_event_then_read_it_back_by_metric_and_profile(klaviyo):
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert (
        klaviyo.Events.create_event(
            event_body("buyer@example.com", "Placed Order", {"OrderId": "A1"}, time=at.isoformat(), value=9.99)
        )
        is None
    )
    klaviyo.Events.create_event(event_body("buyer@example.com", "Viewed Product", {"ProductID": 1111}))
    klaviyo.Events.create_event(event_body("browser@example.com", "Viewed Product", {"ProductID": 2222}))

    metrics = klaviyo.Metrics.get_metrics()
    assert isinstance(metrics, GetMetricResponseCollectionCompoundDocument)
    by_name = {m.attributes.name: m.id for m in metrics.data}
    assert {"Placed Order", "Viewed Product"} <= set(by_name)

    on_metric = FilterBuilder()
    on_metric.equals("metric_id", by_name["Placed Order"])
    placed = klaviyo.Events.get_events(filter=on_metric.build())
    assert isinstance(placed, GetEventResponseCollectionCompoundDocument)
    assert len(placed.data) == 1
    event = placed.data[0]
    assert event.attributes.event_properties["OrderId"] == "A1"
    assert event.attributes.datetime_ == at
    assert event.attributes.timestamp == int(at.timestamp())

    found = FilterBuilder()
    found.equals("email", "buyer@example.com")
    buyer = klaviyo.Profiles.get_profiles(filter=found.build()).data[0]
    of_profile = FilterBuilder()
    of_profile.equals("profile_id", buyer.id)
    theirs = klaviyo.Events.get_events(filter=of_profile.build(), sort="-datetime", include=["metric", "profile"])
    assert isinstance(theirs, GetEventResponseCollectionCompoundDocument)
    assert len(theirs.data) == 2
    assert {(item["type"], item["id"]) for item in theirs.included} == {
        ("metric", by_name["Placed Order"]),
        ("metric", by_name["Viewed Product"]),
        ("profile", buyer.id),
    }

    one = klaviyo.Events.get_event(event.id)
    assert isinstance(one, GetEventResponseCompoundDocument)
    assert one.data.relationships.metric.data.id == by_name["Placed Order"]
    assert one.data.relationships.profile.data.id == buyer.id
    metric = klaviyo.Metrics.get_metric(by_name["Placed Order"])
    assert isinstance(metric, GetMetricResponseCompoundDocument)
    assert metric.data.attributes.name == "Placed Order"

    everything = klaviyo.Events.get_events(options=DICT)
    assert isinstance(everything, dict)
    assert len(everything["data"]) == 3


def test_event_before_1990_is_a_400_pointing_at_its_time(klaviyo):
    body = event_body("x@example.com", "Placed Order", {"OrderId": "old"}, time="1980-01-01T00:00:00+00:00")
    with pytest.raises(BadRequestException) as caught:
        klaviyo.Events.create_event(body)
    assert error_of(caught)["source"] == {"pointer": "/data/attributes/time"}
    assert klaviyo.Events.get_events().data == []
