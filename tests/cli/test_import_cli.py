"""`assent profiles import` as a person runs it: the column mapping printed before importing (and
in --json), a file without an identifier column refused, a run where every row is rejected
exiting non-zero with the first reasons, and the progress bar on a terminal. The real console
script, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading

from assent.api.resources import get_profile_resource
from assent.services.consent.changes import Locator

from .test_cli import ASSENT, _ledger_seq, _profile_count, assent, assert_one_line_error


def test_profiles_import_prints_the_column_mapping_before_importing_and_in_json(db_url, engine, account_id, tmp_path):
    people = tmp_path / "klaviyo.csv"
    header = "\ufeffEmail;First Name;Email Marketing Consent;Klaviyo ID;Tier\n"
    people.write_bytes((header + "zoe@example.com;Zoë;SUBSCRIBED;k1;gold\n").encode())
    human = assent("profiles", "import", str(people), "--account", account_id, db=db_url, check=True)
    lines = human.stdout.splitlines()
    assert lines[0] == "reading klaviyo.csv: CSV, utf-8 with BOM, semicolon-separated"
    assert [re.sub(r"\s+", " ", line.strip()) for line in lines[1:6]] == [
        "Email -> email",
        "First Name -> first_name",
        "Email Marketing Consent -> email_consent",
        "Klaviyo ID -> ignored (not imported)",
        "Tier -> properties['Tier']",
    ]
    assert lines[6].startswith("1 row: 1 created")  # the mapping comes before the counts

    as_json = json.loads(
        assent("profiles", "import", str(people), "--account", account_id, "--json", db=db_url, check=True).stdout
    )
    assert as_json["unchanged"] == 1
    assert as_json["file"]["encoding"] == "utf-8 with BOM" and as_json["file"]["delimiter"] == ";"
    assert as_json["file"]["columns"][:2] == [
        {"column": 1, "header": "Email", "field": "email"},
        {"column": 2, "header": "First Name", "field": "first_name"},
    ]
    assert as_json["file"]["columns"][3] == {"column": 4, "header": "Klaviyo ID", "ignored": "not imported"}
    zoe = get_profile_resource(engine, account_id, Locator("email", "zoe@example.com"))["attributes"]
    assert (zoe["first_name"], zoe["subscriptions"]["email"]["marketing"]["consent"]) == ("Zoë", "SUBSCRIBED")


def test_profiles_import_refuses_a_file_without_an_identifier_column_listing_the_headers(db_url, engine, account_id,
                                                                                          tmp_path):  # fmt: skip
    people = tmp_path / "people.csv"
    people.write_text("Name,Mail Adress\nAnn,ann@example.com\n")
    seq, count = _ledger_seq(engine, account_id), _profile_count(engine, account_id)
    result = assent("profiles", "import", str(people), "--account", account_id, "--subscribe", "email", db=db_url)
    assert_one_line_error(result, "error: file: ", "'Name', 'Mail Adress'", "Email Address", "Phone Number")
    assert (_ledger_seq(engine, account_id), _profile_count(engine, account_id)) == (seq, count)


def test_profiles_import_of_a_missing_file_or_a_directory_is_one_line_saying_which(db_url, account_id, tmp_path):
    missing = assent("profiles", "import", str(tmp_path / "nope.csv"), "--account", account_id, db=db_url)
    assert_one_line_error(missing, "error: file: no such file", "nope.csv")
    directory = assent("profiles", "import", str(tmp_path), "--account", account_id, db=db_url)
    assert_one_line_error(directory, "error: file: is a directory", str(tmp_path))


def test_profiles_import_where_every_row_is_rejected_exits_1_and_prints_the_first_reasons(db_url, account_id,
                                                                                           tmp_path):  # fmt: skip
    people = tmp_path / "people.csv"
    people.write_text("email,phone_number\nnot-an-email,\nann@example.com,+1555\n" + "bad,\n" * 10)
    rejects = tmp_path / "rejects.csv"
    human = assent("profiles", "import", str(people), "--account", account_id, "--rejects", str(rejects), db=db_url)
    assert human.returncode == 1
    assert "12 rows: 0 created" in human.stdout
    err = human.stderr.splitlines()
    assert err[0] == "error: every row (12) was rejected, nothing was imported; the first reasons:"
    assert err[1].startswith("  line 2: email: ") and "not-an-email" in err[1]
    assert err[2].startswith("  line 3: phone_number: ")
    assert len([line for line in err if line.startswith("  line ")]) == 5  # the first few, not all
    assert err[-1] == f"rejected rows are in {rejects}"
    assert [line.split(",")[0] for line in rejects.read_text().splitlines()[1:]] == [str(n) for n in range(2, 14)]

    as_json = assent("profiles", "import", str(people), "--account", account_id, "--json", db=db_url)
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)  # stdout stays one JSON document
    assert (data["rows"], data["rejected"]) == (12, 12)
    assert [r["line"] for r in data["first_rejected"]] == [2, 3, 4, 5, 6]
    assert as_json.stderr.startswith("error: every row (12) was rejected")


def test_profiles_import_with_some_rows_rejected_shows_the_first_reasons_and_exits_0(db_url, account_id, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("email\nann@example.com\nnot-an-email\n")
    result = assent("profiles", "import", str(people), "--account", account_id, db=db_url, check=True)
    tail = result.stdout.splitlines()[-3:]
    assert tail[0] == "first rejected rows:"
    assert tail[1].startswith("  line 3: email: ")
    assert "--rejects FILE" in tail[2]


def _run_on_a_terminal(*args: str) -> tuple[subprocess.CompletedProcess, str]:
    """Run the console script with stderr on a pseudo-terminal (stdout piped); what the terminal showed."""
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "ASSENT_DATABASE_URL"} | {"COLUMNS": "160", "TERM": "xterm"}
    shown: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError:
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        result = subprocess.run([ASSENT, *args], stdout=subprocess.PIPE, stderr=terminal, env=env, timeout=120)
    finally:
        os.close(terminal)
        reader.join(timeout=10)
        os.close(controller)
    return result, b"".join(shown).decode("utf-8", "replace")


def test_profiles_import_progress_bar_shows_bytes_percentage_and_time_left_and_json_stays_clean(db_url, account_id,
                                                                                                 tmp_path):  # fmt: skip
    people = tmp_path / "people.csv"
    people.write_text("email,first_name\n" + "".join(f"p{i}@example.com,P{i}\n" for i in range(3000)))
    size_kb = f"{people.stat().st_size / 1000:.1f}"
    result, screen = _run_on_a_terminal(
        "profiles", "import", str(people), "--account", account_id, "--json", "--db", db_url
    )
    assert result.returncode == 0, screen
    assert json.loads(result.stdout)["created"] == 3000  # no bar, no mapping on stdout with --json
    assert f"{size_kb} kB" in screen  # bytes read of the file's size
    assert "100%" in screen
    assert re.search(r"\d:\d\d:\d\d", screen)  # the time left
    assert "3,000 rows" in screen


# What a file import never uses, and so never loads: profile reads, the list use cases, worker
# processes (a small file is worked out in process), signature checks.
NOT_LOADED_BY_AN_IMPORT = (
    "assent.services.profiles.reading",
    "assent.services.activity.sends",
    "assent.services.lists.lists",
    "concurrent.futures.process",
    "cryptography",
)


def test_profiles_import_of_a_small_file_loads_nothing_it_does_not_use(db_url, engine, account_id, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("email,email_consent\nann@example.com,SUBSCRIBED\n")
    code = (
        "import sys; from assent.cli import main; sys.argv = ['assent', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(' '.join(sys.modules), file=sys.stderr)"
    )
    argv = ["profiles", "import", str(people), "--account", account_id, "--json", "--db", db_url]
    env = {k: v for k, v in os.environ.items() if k != "ASSENT_DATABASE_URL"}
    run = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, check=True)
    assert json.loads(run.stdout)["created"] == 1
    loaded = set(run.stderr.split())
    assert not {m for m in NOT_LOADED_BY_AN_IMPORT if m in loaded}
    ann = get_profile_resource(engine, account_id, Locator("email", "ann@example.com"))["attributes"]
    assert ann["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"


def test_profiles_import_of_a_deeply_nested_line_rejects_it_and_imports_the_rest(db_url, engine, account_id, tmp_path):
    people = tmp_path / "deep.ndjson"
    deep = '{"a":' * 2000 + "1" + "}" * 2000  # stopped the whole import with a RecursionError
    people.write_text(f'{{"email":"ok@example.com"}}\n{{"email":"x@example.com","properties":{deep}}}\n')
    rejects = tmp_path / "rejects.ndjson"
    result = assent("profiles", "import", str(people), "--account", account_id, "--rejects", str(rejects), db=db_url)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "1 created" in result.stdout and "1 rejected" in result.stdout
    assert "line 2: properties: nests objects and arrays more than 64 deep" in result.stdout
    [found] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert (found["line"], found["field"]) == (2, "properties")
    assert get_profile_resource(engine, account_id, Locator("email", "ok@example.com"))["attributes"]["email"]
