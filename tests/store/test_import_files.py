"""Import files as people have them (services.imports: importer with rows, encoding and
headers): encodings, header names from other tools, delimiters, files without an identifier
column, and rejects in line order. Every test that writes runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from assent.api.resources import get_profile_resource
from assent.domain import Channel, DomainError, Purpose
from assent.domain.profile import MAX_TEXT
from assent.services.consent.changes import Locator
from assent.services.imports.encoding import detect_encoding
from assent.services.imports.headers import FIELDS, HEADER_ALIASES, IGNORED_HEADERS, header_key, map_header
from assent.services.imports.importer import ImportOptions, import_profiles
from assent.services.shared.nesting import MAX_DEPTH

EMAIL = ((Channel.EMAIL, Purpose.MARKETING),)


def _run(engine, account_id: str, path: Path, **kw):
    kw.setdefault("workers", 0)
    return import_profiles(engine, path, ImportOptions(account_id=account_id, **kw))


def _profile(engine, account_id: str, **locator) -> dict:
    (field, value) = next(iter(locator.items()))
    return get_profile_resource(engine, account_id, Locator(field, value))["attributes"]


def _count(engine, account_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM profiles WHERE account_id = :a"), {"a": account_id}).scalar()


def _ledger_seq(engine, account_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT ledger_seq FROM accounts WHERE id = :a"), {"a": account_id}).scalar()


def _rejects(path: Path) -> list[dict]:
    # A rejected row keeps its cells, one of them may be longer than csv reads by default (131,072
    # characters): this reader's limit is its own to set, not left to whatever ran before it.
    csv.field_size_limit(max(csv.field_size_limit(), path.stat().st_size))
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# --- encodings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["utf8", "utf8-bom"])
def test_utf8_with_or_without_bom_keeps_zoe_as_zoe(engine, account_id, tmp_path, bom):
    path = tmp_path / "people.csv"
    path.write_bytes(bom + "email,first_name\nzoe@example.com,Zoë\n".encode())
    report = _run(engine, account_id, path)
    assert (report.created, report.rejected) == (1, 0)
    assert _profile(engine, account_id, email="zoe@example.com")["first_name"] == "Zoë"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-16-le"], ids=["utf16-bom", "utf16be-bom", "utf16le"])
def test_utf16_files_are_detected_with_or_without_bom(engine, account_id, tmp_path, codec):
    text_ = "Email\tFirst Name\r\nzoe@example.com\tZoë\r\nbjorn@example.com\tBjörn\r\n"
    data = text_.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data  # with its byte-order mark
    path = tmp_path / "people.txt"
    path.write_bytes(data)  # as Excel's "Unicode text": UTF-16, tab-separated
    report = _run(engine, account_id, path, format="csv")
    assert (report.created, report.rejected) == (2, 0)
    assert _profile(engine, account_id, email="zoe@example.com")["first_name"] == "Zoë"
    assert _profile(engine, account_id, email="bjorn@example.com")["first_name"] == "Björn"


def test_bytes_that_do_not_decode_reject_their_row_with_its_line_and_the_rest_lands(engine, account_id, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(
        b"email,first_name\n"
        b"zoe@example.com,Zo\xc3\xab\n"  # line 2: UTF-8
        b"chloe@example.com,Chlo\xeb\n"  # line 3: cp1252, not UTF-8
        b"ann@example.com,Ann\n"
    )
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, rejects_path=str(rejects))
    assert (report.rows, report.created, report.rejected) == (3, 2, 1)
    [found] = _rejects(rejects)
    assert (found["line"], found["field"]) == ("3", "first_name")
    assert "0xEB" in found["reason"] and "utf-8" in found["reason"] and "--encoding" in found["reason"]
    assert json.loads(found["row"]) == {"email": "chloe@example.com", "first_name": "Chlo\\xeb"}  # the bytes shown
    assert [(r.line, r.field) for r in report.first_rejected] == [(3, "first_name")]
    with pytest.raises(DomainError):  # never imported with a replacement character
        _profile(engine, account_id, email="chloe@example.com")
    assert _profile(engine, account_id, email="zoe@example.com")["first_name"] == "Zoë"


def test_encoding_option_reads_the_lines_that_are_not_utf8_in_that_encoding(engine, account_id, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(
        b"email,first_name,city\n"
        b"zoe@example.com,Zo\xc3\xab,M\xc3\xbcnchen\n"  # UTF-8 stays UTF-8
        b"chloe@example.com,Chlo\xeb,K\xf6ln\n"  # cp1252, as Excel saves "CSV (Comma delimited)"
    )
    report = _run(engine, account_id, path, encoding="cp1252")
    assert (report.created, report.rejected) == (2, 0)
    assert report.file["encoding"] == "utf-8, else cp1252"
    zoe = _profile(engine, account_id, email="zoe@example.com")
    chloe = _profile(engine, account_id, email="chloe@example.com")
    assert (zoe["first_name"], zoe["location"]["city"]) == ("Zoë", "München")
    assert (chloe["first_name"], chloe["location"]["city"]) == ("Chloë", "Köln")


def test_undecodable_bytes_in_an_ndjson_line_reject_that_line(engine, account_id, tmp_path):
    path = tmp_path / "people.ndjson"
    path.write_bytes(
        b'{"email": "a@example.com", "first_name": "Zo\xc3\xab"}\n{"email": "b@example.com", "x": "\xff"}\n'
    )
    rejects = tmp_path / "rejects.ndjson"
    report = _run(engine, account_id, path, rejects_path=str(rejects))
    assert (report.created, report.rejected) == (1, 1)
    [found] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert (found["line"], found["field"]) == (2, "row") and "0xFF" in found["reason"]


def test_a_header_that_does_not_decode_refuses_the_file_before_any_row_is_written(engine, account_id, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"email,pr\xe9nom\nzoe@example.com,Zo\n")
    with pytest.raises(DomainError) as e:
        _run(engine, account_id, path)
    assert e.value.field == "file" and "header" in str(e.value) and "--encoding" in str(e.value)
    assert _count(engine, account_id) == 0


def test_an_unknown_encoding_name_is_refused_naming_the_option(engine, account_id, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email\na@example.com\n")
    with pytest.raises(DomainError) as e:
        _run(engine, account_id, path, encoding="klingon-8")
    assert e.value.field == "encoding"
    assert _count(engine, account_id) == 0


def test_old_mac_files_with_bare_cr_line_ends_are_read(engine, account_id, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"email,first_name\ra@example.com,Ann\rb@example.com,Ben\r")
    report = _run(engine, account_id, path)
    assert (report.created, report.rejected) == (2, 0)
    assert _profile(engine, account_id, email="b@example.com")["first_name"] == "Ben"


def test_encoding_detection_reads_byte_order_marks_and_nul_patterns():
    assert detect_encoding(b"\xef\xbb\xbfemail").codec == "utf-8"
    assert detect_encoding(b"\xff\xfee\x00m\x00").codec == "utf-16-le"
    assert detect_encoding(b"\xfe\xff\x00e\x00m").codec == "utf-16-be"
    assert detect_encoding("email,phone".encode("utf-16-le")).codec == "utf-16-le"
    assert detect_encoding(b"email,phone", "latin-1").fallback == "iso8859-1"
    assert detect_encoding(b"email,phone", "utf-8").fallback is None


# --- headers -------------------------------------------------------------------------------------


def test_header_alias_table_gives_each_name_one_field():
    keys: dict[str, str] = {}
    for field in FIELDS:
        for name in (field, *HEADER_ALIASES.get(field, ())):
            assert keys.setdefault(header_key(name), field) == field, (name, keys[header_key(name)], field)
    assert set(HEADER_ALIASES) <= set(FIELDS)
    assert not {header_key(h) for h in IGNORED_HEADERS} & keys.keys()


def test_headers_match_whatever_the_case_spaces_dashes_and_underscores(engine, account_id, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(
        " EMAIL ,First-Name,LAST_NAME,phoneNumber,Zip Code,Shoe Size\nann@example.com,Ann,Lee,4155550101,N1,38\n"
    )
    report = _run(engine, account_id, path)
    assert (report.created, report.rejected) == (1, 0)
    ann = _profile(engine, account_id, email="ann@example.com")
    assert (ann["first_name"], ann["last_name"], ann["phone_number"]) == ("Ann", "Lee", "+14155550101")
    assert ann["location"]["zip"] == "N1"
    assert ann["properties"] == {"Shoe Size": "38"}  # an unknown column, under its header as written


def test_klaviyo_export_headers_are_read_as_their_fields(engine, account_id, tmp_path):
    header = ["Email", "Phone Number", "First Name", "Last Name", "External ID", "Organization", "Address",
              "Address 2", "City", "State / Region", "Zip Code", "Country", "IP Address", "Email Marketing Consent",
              "SMS Marketing Consent", "Klaviyo ID", "Last Open"]  # fmt: skip
    path = tmp_path / "klaviyo_export.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerow(["ann@example.com", "+14155550101", "Ann", "Lee", "cust-1", "Acme", "1 Main St", "Apt 2", "Boston",
                    "MA", "02110", "United States", "203.0.113.9", "SUBSCRIBED", "SUBSCRIBED", "01HKLAVIYOID",
                    "2024-05-01"])  # fmt: skip
        w.writerow(["ben@example.com", "", "Ben", "", "", "", "", "", "", "", "", "", "", "Never Subscribed", "",
                    "01HKLAVIYOID2", ""])  # fmt: skip
    report = _run(engine, account_id, path, subscribe=EMAIL)
    assert (report.created, report.rejected, report.subscribed) == (2, 0, 1)
    ann = _profile(engine, account_id, external_id="cust-1")
    assert (ann["email"], ann["phone_number"], ann["first_name"], ann["organization"]) == (
        "ann@example.com", "+14155550101", "Ann", "Acme",
    )  # fmt: skip
    loc = ann["location"]
    assert (loc["address1"], loc["address2"], loc["city"], loc["region"], loc["zip"], loc["ip"]) == (
        "1 Main St", "Apt 2", "Boston", "MA", "02110", "203.0.113.9",
    )  # fmt: skip
    assert ann["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert ann["subscriptions"]["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    assert ann["properties"] == {"Last Open": "2024-05-01"}  # Klaviyo's own id is not imported
    ben = _profile(engine, account_id, email="ben@example.com")["subscriptions"]["email"]["marketing"]
    assert ben["consent"] == "NEVER_SUBSCRIBED"  # "Never Subscribed" overrides --subscribe: not an opt-in
    columns = {c["header"]: c for c in report.file["columns"]}
    assert columns["Email Marketing Consent"]["field"] == "email_consent"
    assert columns["Klaviyo ID"]["ignored"] == "not imported"
    assert columns["Last Open"]["property"] == "Last Open"


def test_mailchimp_and_shopify_export_headers_are_read_as_their_fields(engine, account_id, tmp_path):
    mailchimp = tmp_path / "subscribed_members_export.csv"
    mailchimp.write_text(
        "Email Address,First Name,Last Name,Phone Number,MEMBER_RATING,OPTIN_TIME,TIMEZONE,REGION\n"
        "ann@example.com,Ann,Lee,+14155550101,4,2024-01-02 10:11:12,America/New_York,NY\n"
    )
    shopify = tmp_path / "customers_export.csv"
    shopify.write_text(
        "First Name,Last Name,Email,Accepts Email Marketing,Company,Address1,Province,Zip,Phone,Accepts SMS Marketing\n"
        "Ben,Ng,ben@example.com,yes,Shop,2 High St,ON,M5V,+14155550102,no\n"
        "Cy,Oh,cy@example.com,no,,,,,,\n"
    )
    assert _run(engine, account_id, mailchimp).created == 1
    report = _run(engine, account_id, shopify)
    assert (report.created, report.subscribed, report.rejected) == (2, 1, 0)
    ann = _profile(engine, account_id, email="ann@example.com")
    assert (ann["first_name"], ann["last_name"], ann["phone_number"]) == ("Ann", "Lee", "+14155550101")
    assert (ann["location"]["timezone"], ann["location"]["region"]) == ("America/New_York", "NY")
    assert ann["properties"] == {"MEMBER_RATING": "4", "OPTIN_TIME": "2024-01-02 10:11:12"}
    ben = _profile(engine, account_id, email="ben@example.com")
    assert (ben["organization"], ben["location"]["address1"], ben["location"]["region"]) == ("Shop", "2 High St", "ON")
    assert ben["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert ben["subscriptions"]["sms"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"  # "no" is an unticked box
    cy = _profile(engine, account_id, email="cy@example.com")
    assert cy["subscriptions"]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"


def test_of_two_columns_meaning_one_field_the_first_is_read_and_the_other_ignored(engine, account_id, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("Email,Email Address,,Tier,Tier\nfirst@example.com,second@example.com,x,gold,silver\n")
    report = _run(engine, account_id, path)
    assert (report.created, report.rejected) == (1, 0)
    assert _profile(engine, account_id, email="first@example.com")["properties"] == {"Tier": "gold"}
    ignored = {c["column"]: c["ignored"] for c in report.file["columns"] if "ignored" in c}
    assert ignored == {2: "email is read from column 'Email'", 3: "no header", 5: "Tier is read from column 'Tier'"}


def test_map_header_names_each_columns_field_property_or_why_it_is_ignored():
    mapping = map_header(["E-Mail", "Vorname", "id", "Phone"])
    assert [(c.field, c.property, c.ignored) for c in mapping.columns] == [
        ("email", None, None), (None, "Vorname", None), (None, None, "not imported"), ("phone_number", None, None),
    ]  # fmt: skip
    assert mapping.keys == ["email", "Vorname", None, "phone_number"]
    assert not map_header(["name", "city"]).has_identifier()


def test_a_file_without_an_identifier_column_is_refused_before_any_row_is_written(engine, account_id, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("Name,E Mail Adress,City\nAnn,ann@example.com,Boston\n")
    with pytest.raises(DomainError) as e:
        _run(engine, account_id, path, subscribe=EMAIL)
    message = str(e.value)
    assert e.value.field == "file"
    assert "'Name', 'E Mail Adress', 'City'" in message  # the headers seen
    assert "Email Address" in message and "Phone Number" in message and "External ID" in message  # accepted ones
    assert (_count(engine, account_id), _ledger_seq(engine, account_id)) == (0, 0)


# --- delimiters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_the_delimiter_is_sniffed_from_the_header(engine, account_id, tmp_path, delimiter):
    path = tmp_path / "people.csv"
    d = delimiter
    # A comma inside the data (a decimal comma, a quoted cell) does not fool it.
    path.write_text(f'email{d}first_name{d}score\nann@example.com{d}"Lee, Ann"{d}1,5\n')
    report = _run(engine, account_id, path)
    assert (report.created, report.rejected, report.file["delimiter"]) == (1, 0, delimiter)
    ann = _profile(engine, account_id, email="ann@example.com")
    assert (ann["first_name"], ann["properties"]) == ("Lee, Ann", {"score": "1,5"})


def test_excels_sep_line_names_the_delimiter(engine, account_id, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("sep=;\nemail;first_name\nann@example.com;Ann\nbad;Bad\n")
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, rejects_path=str(rejects))
    assert (report.created, report.rejected) == (1, 1)
    assert _profile(engine, account_id, email="ann@example.com")["first_name"] == "Ann"
    assert [r["line"] for r in _rejects(rejects)] == ["4"]  # the sep= line counts as line 1


# --- rejects -------------------------------------------------------------------------------------


def test_the_rejects_file_is_in_line_order(engine, account_id, tmp_path):
    seed = tmp_path / "seed.csv"
    seed.write_text("email,phone_number\na@example.com,+14155550131\nb@example.com,+14155550132\n")
    _run(engine, account_id, seed)
    path = tmp_path / "mixed.csv"
    path.write_text(
        "email,phone_number\n"
        "a@example.com,+14155550132\n"  # line 2: rejected when matched to profiles (a's email, b's phone)
        "not-an-email,\n"  # line 3: rejected when read
        "c@example.com,+14155550133\n"
        "a@example.com,+14155550132\n"  # line 5: as line 2, in the next batch
        "also bad,\n"  # line 6
    )
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, rejects_path=str(rejects), batch_size=4)
    assert report.rejected == 4
    assert [int(r["line"]) for r in _rejects(rejects)] == [2, 3, 5, 6]
    assert [r.line for r in report.first_rejected] == [2, 3, 5, 6]


# --- hostile rows --------------------------------------------------------------------------------


def _nested(depth: int) -> str:
    """A JSON object nesting `depth` objects (itself included)."""
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def test_ndjson_nesting_deeper_than_the_api_takes_rejects_the_line_naming_the_key(engine, account_id, tmp_path):
    path = tmp_path / "deep.ndjson"
    lines = [
        '{"email": "ok@example.com"}',
        f'{{"email": "at-limit@example.com", "properties": {_nested(MAX_DEPTH - 1)}}}',  # the line is MAX_DEPTH deep
        f'{{"email": "x@example.com", "properties": {_nested(MAX_DEPTH)}}}',
        f'{{"email": "y@example.com", "prefs": [{_nested(900)}]}}',  # accepted before, though the API refuses it
        f'{{"email": "z@example.com", "properties": {_nested(2000)}}}',  # a RecursionError stopped the import
        '{"email": "after@example.com", "note": "{[{[ brackets in a string do not nest"}',
    ]
    path.write_text("\n".join(lines) + "\n")
    rejects = tmp_path / "rejects.ndjson"
    report = _run(engine, account_id, path, rejects_path=str(rejects))
    assert (report.created, report.rejected) == (3, 3)
    found = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in found] == [(3, "properties"), (4, "prefs"), (5, "properties")]
    deeper = f"properties: nests objects and arrays more than {MAX_DEPTH} deep (the API refuses deeper)"
    assert found[0]["reason"] == deeper
    assert found[2]["row"]["value"] == lines[4]  # the line as read, to fix and import again
    assert _profile(engine, account_id, email="after@example.com")["properties"]["note"].startswith("{[{[")
    assert _count(engine, account_id) == 3


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "worker"])
def test_latitude_and_longitude_must_be_degrees_in_range(engine, account_id, tmp_path, workers):
    path = tmp_path / "places.csv"
    path.write_text(
        "email,latitude,longitude\n"
        "a@example.com,abc,1.5\n"
        "b@example.com,2.5,xyz\n"
        "c@example.com,90.5,0\n"
        "d@example.com,0,-180.01\n"
        "e@example.com,nan,1\n"
        "f@example.com, 51.5 ,-0.12\n"
        "g@example.com,,\n"
    )
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, rejects_path=str(rejects), workers=workers)
    assert (report.created, report.rejected) == (2, 5)
    found = _rejects(rejects)
    assert [(r["line"], r["field"]) for r in found] == [
        ("2", "latitude"), ("3", "longitude"), ("4", "latitude"), ("5", "longitude"), ("6", "latitude"),
    ]  # fmt: skip
    assert found[0]["reason"] == "latitude: must be a number of decimal degrees (got 'abc')"
    assert "between -90 and 90" in found[2]["reason"]
    location = _profile(engine, account_id, email="f@example.com")["location"]
    assert (location["latitude"], location["longitude"]) == ("51.5", "-0.12")
    assert _profile(engine, account_id, email="g@example.com")["location"]["latitude"] is None


def test_a_csv_row_with_more_cells_than_the_header_is_rejected_whole(engine, account_id, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(
        "email,first_name\n"
        "ann@example.com,Ann\n"
        "dupe@example.com,a,extra,cells\n"  # an unquoted comma would shift the cells after it
        'bob@example.com,"Bob, Jr."\n'
        "cy@example.com,Cy,,\n"  # empty cells past the header (a trailing delimiter) lose nothing
    )
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, rejects_path=str(rejects))
    assert (report.created, report.rejected) == (3, 1)
    [found] = _rejects(rejects)
    assert (found["line"], found["field"]) == ("3", "row")
    assert found["reason"].startswith("4 cells, the header has 2: a comma inside a cell must be quoted")
    assert json.loads(found["row"]) == {"cells": ["dupe@example.com", "a", "extra", "cells"]}
    assert _profile(engine, account_id, email="bob@example.com")["first_name"] == "Bob, Jr."


def test_messages_quote_at_most_a_short_prefix_of_the_input(engine, account_id, tmp_path):
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(0x80, 0x100)) * 8 + b"\n")  # 1 KB that is no text
    with pytest.raises(DomainError) as e:
        _run(engine, account_id, binary)
    assert e.value.field == "file" and "…" in str(e.value) and len(str(e.value)) < 600, str(e.value)
    headers = tmp_path / "headers.csv"
    headers.write_text("x" * 2000 + ",name\n")
    with pytest.raises(DomainError) as e:
        _run(engine, account_id, headers)
    assert "x" * 80 + "…" in str(e.value) and "x" * 81 not in str(e.value)
    cell = tmp_path / "cell.csv"
    cell.write_bytes(b"email,first_name\nann@example.com," + b"\xff" * 1000 + b"\n")
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, cell, rejects_path=str(rejects))
    assert report.rejected == 1 and len(report.first_rejected[0].reason) < 600
    assert json.loads(_rejects(rejects)[0]["row"])["first_name"] == "\\xff" * 1000  # the rejects file keeps it whole
    assert _count(engine, account_id) == 0


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "worker"])
def test_rows_rejected_while_writing_keep_every_cell_as_read(engine, account_id, tmp_path, workers):
    seed = tmp_path / "seed.csv"
    seed.write_text("email,phone_number\nalice@example.com,+14155550199\n")
    _run(engine, account_id, seed)
    path = tmp_path / "people.csv"
    header = ["email", "phone_number", "email_consent", "sms_consent", "consented_at", "First Name", "tier"]
    rows = [
        ["frank@example.com", "+14155550199", "SUBSCRIBED", "SUBSCRIBED", "", "Frank", "gold"],  # Alice's number
        ["sms@example.com", "", "", "SUBSCRIBED", "", "Sam", "silver"],  # sms consent without a number
        ["future@example.com", "", "SUBSCRIBED", "", "2999-01-01", "Fay", ""],  # a consent date to come
        ["ok@example.com", "", "SUBSCRIBED", "", "", "Ok", "gold"],
    ]
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, rejects_path=str(rejects), workers=workers)
    assert (report.created, report.rejected) == (1, 3)
    found = _rejects(rejects)
    assert [r["line"] for r in found] == ["2", "3", "4"]
    keys = ["email", "phone_number", "email_consent", "sms_consent", "consented_at", "first_name", "tier"]
    assert [json.loads(r["row"]) for r in found] == [dict(zip(keys, row, strict=True)) for row in rows[:3]]


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "worker"])
def test_a_cell_longer_than_its_field_takes_rejects_its_row_naming_the_column_and_keeping_its_cells(
    engine, account_id, tmp_path, workers
):
    # 200,000 characters: more than Python's csv reads in one cell by default (131,072).
    huge, long_city, note = "N" * 200_000, "C" * (MAX_TEXT + 1), "p" * 150_000
    path = tmp_path / "people.csv"
    path.write_text(
        "email,first_name,city,note\n"
        f"huge@example.com,{huge},Paris,x\n"
        f"far@example.com,Ann,{long_city},x\n"
        f"ok@example.com,{'O' * MAX_TEXT},Rome,{note}\n"  # at the bound; a property has no bound
    )
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, rejects_path=str(rejects), workers=workers)
    assert (report.created, report.rejected) == (1, 2)
    found = _rejects(rejects)
    assert [(r["line"], r["field"]) for r in found] == [("2", "first_name"), ("3", "city")]
    assert found[0]["reason"] == f"first_name: may be at most {MAX_TEXT} characters long (got '200000 characters')"
    cells = [json.loads(r["row"]) for r in found]
    assert cells[0] == {"email": "huge@example.com", "first_name": huge, "city": "Paris", "note": "x"}
    assert cells[1]["city"] == long_city
    ok = _profile(engine, account_id, email="ok@example.com")
    assert (ok["first_name"], ok["properties"]["note"]) == ("O" * MAX_TEXT, note)
    assert _count(engine, account_id) == 1


def test_an_ndjson_line_with_a_field_longer_than_it_takes_is_rejected_naming_it(engine, account_id, tmp_path):
    path = tmp_path / "people.ndjson"
    lines = [{"email": "a@example.com", "title": "t" * (MAX_TEXT + 1)}, {"email": "b@example.com", "image": "i" * 2001}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    rejects = tmp_path / "rejects.ndjson"
    report = _run(engine, account_id, path, rejects_path=str(rejects))
    assert (report.created, report.rejected) == (0, 2)
    found = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["field"], r["row"]) for r in found] == [("title", lines[0]), ("image", lines[1])]


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "worker"])
def test_a_csv_rejects_file_fixed_is_imported_again_as_it_is(engine, account_id, tmp_path, workers):
    path = tmp_path / "people.csv"
    path.write_text(
        "Email,First Name,Email Marketing Consent,Tier\n"
        "ann@example.com,Ann,SUBSCRIBED,gold\n"
        "bob@example,Bob,SUBSCRIBED,silver\n"  # a typo in the address
        'cy@example.com,"Cy, ""the"" third",NOPE,bronze\n'  # an unknown consent word
        "dee@example.com,Dee,,gold,extra\n"  # a cell too many: only the original file can say where
    )
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, rejects_path=str(rejects), workers=workers)
    assert (report.created, report.rejected) == (1, 3)
    fixed = rejects.read_text().replace("bob@example", "bob@example.com").replace("NOPE", "SUBSCRIBED")
    rejects.write_text(fixed)
    again = tmp_path / "again.csv"
    report = _run(engine, account_id, rejects, rejects_path=str(again), workers=workers, subscribe=EMAIL)
    assert (report.created, report.rejected, report.file["rejects"]) == (2, 1, True)
    bob = _profile(engine, account_id, email="bob@example.com")
    assert (bob["first_name"], bob["properties"]) == ("Bob", {"Tier": "silver"})
    cy = _profile(engine, account_id, email="cy@example.com")
    assert cy["first_name"] == 'Cy, "the" third'
    assert cy["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"
    [still] = _rejects(again)
    assert (still["line"], still["field"]) == ("4", "row") and "fix it in the original file" in still["reason"]
    assert json.loads(still["row"]) == {"cells": ["dee@example.com", "Dee", "", "gold", "extra"]}
