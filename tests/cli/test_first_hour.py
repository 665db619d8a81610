"""A newcomer's first commands: the version, database URLs that are wrong, a missing SQLite file,
decisions for shell scripts, public ids, link bases and `serve --demo` run twice."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time

import httpx
import pytest

from assent.domain import Channel, Proof, Purpose, Verdict
from assent.services.accounts import accounts
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.store.db import make_engine, upgrade
from tests.cli.test_cli import ASSENT, EMAIL_MARKETING, _ledger_seq, assent, assert_one_line_error

PROOF = Proof(actor="test")
CLI_ENV = {k: v for k, v in os.environ.items() if not k.startswith("ASSENT_")}
ACCEPTED = "use sqlite:///path/to/file.db or postgresql://user@host:5432/dbname"


def test_version_prints_the_package_version():
    from assent import __version__

    result = assent("--version", check=True)
    assert result.stdout.strip() == f"assent {__version__}"


@pytest.mark.parametrize(
    "url, problem",
    [
        ("assent.db", "is not a database URL"),
        ("/var/lib/assent.db", "is not a database URL"),
        ("mysql://root@127.0.0.1/assent", "has an unknown scheme 'mysql'"),
        ("postgresql+psycopg2://127.0.0.1/x", "names the driver 'psycopg2'"),
        # A scheme SQLAlchemy has no dialect for: refused before it is asked to load one.
        ("garbage://host/db", "has an unknown scheme 'garbage'"),
    ],
)
def test_a_bad_database_url_is_one_line_naming_the_setting_and_the_accepted_forms(url, problem, tmp_path):
    by_flag = subprocess.run([ASSENT, "accounts", "list", "--db", url], capture_output=True, text=True,
                             env=CLI_ENV, cwd=tmp_path)  # fmt: skip
    assert_one_line_error(by_flag, f"--db {url!r} {problem}", ACCEPTED)
    by_env = subprocess.run([ASSENT, "accounts", "list"], capture_output=True, text=True,
                            env={**CLI_ENV, "ASSENT_DATABASE_URL": url}, cwd=tmp_path)  # fmt: skip
    assert_one_line_error(by_env, f"ASSENT_DATABASE_URL {url!r} {problem}", ACCEPTED)
    assert list(tmp_path.iterdir()) == []


def test_read_only_commands_on_a_missing_sqlite_file_do_not_create_it(tmp_path):
    path = tmp_path / "nowhere" / "assent.db"
    db = f"sqlite:///{path}"
    for args in (
        ("accounts", "list"),
        ("profiles", "get", "--account", "A", "--email", "a@example.com"),
        ("ledger", "verify", "--account", "A"),
        ("decide", "--account", "A", "--email", "a@example.com", "--channel", "email"),
        ("settings", "list", "--account", "A"),
    ):
        assert_one_line_error(assent(*args, db=db), f"the database file {path} does not exist", "assent db upgrade")
    assert not path.exists() and not path.parent.exists()
    assent("db", "upgrade", db=db, check=True)
    assert path.exists()


def test_a_file_that_is_not_a_sqlite_database_is_one_line_naming_the_setting(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    for args in (("accounts", "list"), ("db", "upgrade")):
        by_flag = subprocess.run([ASSENT, *args, "--db", f"sqlite:///{notes}"], capture_output=True, text=True,
                                 env=CLI_ENV, cwd=tmp_path)  # fmt: skip
        assert_one_line_error(by_flag, f"--db: the file {notes} is not a SQLite database")
    by_env = subprocess.run([ASSENT, "accounts", "list"], capture_output=True, text=True,
                            env={**CLI_ENV, "ASSENT_DATABASE_URL": f"sqlite:///{notes}"}, cwd=tmp_path)  # fmt: skip
    assert_one_line_error(by_env, f"ASSENT_DATABASE_URL: the file {notes} is not a SQLite database")
    a_directory = assent("accounts", "list", db=f"sqlite:///{tmp_path}")
    assert_one_line_error(a_directory, f"--db: cannot read the database file {tmp_path}")
    assert notes.read_text() == "not a database\n"


def test_decide_exit_code_is_0_on_allow_1_on_deny(engine, account_id, db_url):
    consent.subscribe(engine, account_id, Locator("email", "yes@example.com"), EMAIL_MARKETING, proof=PROOF)
    consent.unsubscribe(engine, account_id, Locator("email", "no@example.com"), Channel.EMAIL, Purpose.MARKETING,
                        proof=PROOF)  # fmt: skip
    base = ("decide", "--account", account_id, "--channel", "email", "--exit-code")
    allow = assent(*base, "--email", "yes@example.com", db=db_url)
    deny = assent(*base, "--email", "no@example.com", db=db_url)
    assert (allow.returncode, allow.stdout.split()[0]) == (0, "ALLOW")
    assert (deny.returncode, deny.stdout.split()[0]) == (1, "DENY")
    assert deny.stderr == ""
    # Without the flag a denial is still an answer, not a failure.
    assert assent(*base[:-1], "--email", "no@example.com", db=db_url).returncode == 0


def test_decide_exit_code_tells_an_error_from_a_deny(account_id, db_url):
    """With --exit-code, 1 means DENY, so a failure to decide (an unknown profile) exits 4."""
    base = ("decide", "--account", account_id, "--channel", "email")
    failed = assent(*base, "--exit-code", "--email", "nobody@example.com", db=db_url)
    assert failed.returncode == 4
    assert failed.stdout == "" and failed.stderr.startswith("error: ")
    # Without the flag an error keeps the usual exit code 1.
    assert assent(*base, "--email", "nobody@example.com", db=db_url).returncode == 1


def test_decide_exit_codes_cover_every_verdict():
    from assent.cli import VERDICT_EXIT_CODES

    assert {Verdict.ALLOW.value: 0, Verdict.DENY.value: 1, Verdict.DEFER.value: 3} == VERDICT_EXIT_CODES


def test_accounts_list_and_settings_list_show_the_public_id(engine, account_id, db_url):
    public_id = accounts.get_account(engine, account_id).public_id
    listed = assent("accounts", "list", db=db_url, check=True).stdout
    assert re.search(rf"^{account_id} .*public id {public_id}", listed, re.M)
    shown = assent("settings", "list", "--account", account_id, db=db_url, check=True).stdout
    assert f"public_id = {public_id!r}" in shown
    as_json = assent("settings", "list", "--account", account_id, "--json", db=db_url, check=True).stdout
    assert f'"public_id":"{public_id}"' in as_json


def test_consent_never_lands_on_the_wrong_person_settings_list_says_an_unsigned_sms_webhook_takes_only_opt_outs(
    account_id, db_url
):
    shown = assent("settings", "list", "--account", account_id, db=db_url, check=True).stdout
    line = next(line for line in shown.splitlines() if line.startswith("twilio_auth_token = "))
    assert "the SMS webhook accepts only opt-outs (STOP) and HELP" in line
    assert "JOIN, START, UNSTOP and YES change nothing" in line


def _links(account_id: str, db_url: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    argv = [ASSENT, "links", "unsubscribe", "--account", account_id, "--email", "ann@example.com", "--db", db_url]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


def test_links_use_the_public_url_and_warn_when_it_is_not_https(engine, account_id, db_url):
    consent.subscribe(engine, account_id, Locator("email", "ann@example.com"), EMAIL_MARKETING, proof=PROOF)
    https = _links(account_id, db_url, {**CLI_ENV, "ASSENT_PUBLIC_URL": "https://consent.brand.example/"})
    assert https.returncode == 0 and https.stderr == ""
    assert "unsubscribe link: https://consent.brand.example/u/" in https.stdout
    http = _links(account_id, db_url, {**CLI_ENV, "ASSENT_PUBLIC_URL": "http://consent.brand.example"})
    assert http.returncode == 0 and "unsubscribe link: http://consent.brand.example/u/" in http.stdout
    assert http.stderr.startswith("warning: links start with http://consent.brand.example (ASSENT_PUBLIC_URL)")
    assert "not https" in http.stderr


def _users(*args: str, db_url: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    argv = [ASSENT, "users", *args, "--db", db_url]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


def test_invite_links_start_with_the_base_url_given_and_a_malformed_one_is_refused(account_id, db_url):
    # The command cannot know the port a running server chose (`serve --port 8123`), so it says
    # which address the link assumes and takes --base-url, as `links unsubscribe` does.
    who = ("--account", account_id, "--email", "owner@staff.example")
    bad = _users("create", *who, "--role", "owner", "--base-url", "127.0.0.1:8123", db_url=db_url, env=CLI_ENV)
    assert_one_line_error(bad, "base_url: must be an http or https URL with a host", "'127.0.0.1:8123'")
    for url in ("http://", "http://127.0.0.1:port", "ftp://consent.brand.example"):
        refused = _users("invite", *who, "--base-url", url, db_url=db_url, env=CLI_ENV)
        assert_one_line_error(refused, "base_url")
    made = _users("create", *who, "--role", "owner", db_url=db_url, env=CLI_ENV)
    assert made.returncode == 0
    assert "invite link (valid 7 days, works once): http://127.0.0.1:8000/console/invite/" in made.stdout
    assert made.stderr.startswith("note: the link starts with http://127.0.0.1:8000 (assent serve's default address)")
    assert "--base-url" in made.stderr
    again = _users("invite", *who, "--base-url", "http://127.0.0.1:8123/", "--json", db_url=db_url, env=CLI_ENV)
    assert again.returncode == 0 and again.stderr == ""
    assert json.loads(again.stdout)["invite_link"].startswith("http://127.0.0.1:8123/console/invite/")
    public = _users(
        "invite", *who, db_url=db_url, env={**CLI_ENV, "ASSENT_PUBLIC_URL": "https://consent.brand.example"}
    )
    assert public.stderr == "" and "https://consent.brand.example/console/invite/" in public.stdout


def test_links_unsubscribe_refuses_a_malformed_base_url(engine, account_id, db_url):
    consent.subscribe(engine, account_id, Locator("email", "ann@example.com"), EMAIL_MARKETING, proof=PROOF)
    argv = [ASSENT, "links", "unsubscribe", "--account", account_id, "--email", "ann@example.com", "--db", db_url]
    bad = subprocess.run([*argv, "--base-url", "notaurl"], capture_output=True, text=True, env=CLI_ENV, timeout=120)
    assert_one_line_error(bad, "base_url: must be an http or https URL with a host", "'notaurl'")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_demo(db: str, port: int) -> str:
    """Run `assent serve --demo`, wait until it answers, stop it; what it printed."""
    argv = [ASSENT, "serve", "--demo", "--db", db, "--port", str(port)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**CLI_ENV, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    lines = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Uvicorn running on" in line:
                break
        text = "".join(lines)
        assert "Uvicorn running on" in text, text
        # Links point at the address it listens on, and work there.
        unsubscribe = re.search(r"unsubscribe link for \S+: (\S+)", text).group(1)
        preferences = re.search(r"preference link for \S+: (\S+)", text).group(1)
        for link in (unsubscribe, preferences):
            assert link.startswith(f"http://127.0.0.1:{port}/")
            assert httpx.get(link, timeout=30).status_code == 200
        # The line it suggests works as pasted into a shell.
        try_line = re.search(r"^try: (.+)$", text, re.M).group(1)
        result = subprocess.run(["bash", "-c", try_line], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and '"type":"profile"' in result.stdout, (try_line, result.stderr)
        return text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_stopped_by_sigterm_shuts_down_and_leaves_no_folder_behind(tmp_path, workers):
    # A service manager stops a server with SIGTERM: it shuts down as on Ctrl-C, and removes the
    # folder where its processes tell each other how busy they are.
    temp = tmp_path / "tmp"
    temp.mkdir()
    argv = [ASSENT, "serve", "--db", f"sqlite:///{tmp_path / 'assent.db'}", "--port", str(_free_port()),
            "--workers", str(workers)]  # fmt: skip
    subprocess.run([ASSENT, "db", "upgrade", "--db", argv[3]], check=True, capture_output=True, env=CLI_ENV)
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**CLI_ENV, "PYTHONUNBUFFERED": "1", "TMPDIR": str(temp)})  # fmt: skip
    try:
        lines = []
        while (line := process.stdout.readline()) and "Application startup complete" not in line:
            lines.append(line)
        assert [p.name[:19] for p in temp.iterdir()] == ["assent-connections-"], lines
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode in (0, -signal.SIGTERM), out  # as uvicorn ends (one process: by the signal)
    assert "Traceback" not in out
    assert list(temp.iterdir()) == []


def test_serve_demo_reuses_its_account_on_restart_with_a_new_key(tmp_path):
    db = f"sqlite:///{tmp_path / 'assent.db'}"
    first = _serve_demo(db, _free_port())
    second = _serve_demo(db, _free_port())
    ids = [re.search(r"demo account (\w{26}).*public id (\w{6})", t).groups() for t in (first, second)]
    assert ids[0] == ids[1]
    assert "from an earlier run" in second and "keys printed before still work" in second
    lists = [re.search(r"lists: (\w+) \(Newsletter\), (\w+) \(VIP", t).groups() for t in (first, second)]
    assert lists[0] == lists[1]
    keys = [re.search(r"key: (pk_\w+)", t).group(1) for t in (first, second)]
    assert keys[0] != keys[1]
    engine = make_engine(db)
    try:
        assert len(accounts.list_accounts(engine)) == 1
        for key in keys:  # the earlier key still works
            assert accounts.authenticate(engine, key).account_id == ids[0][0]
    finally:
        engine.dispose()
    assert "try: curl -g " in first


def test_the_human_timeline_shows_what_each_event_changed_and_how(engine, account_id, db_url):
    from assent.services.lists import lists

    weekly = lists.create_list(engine, account_id, "Weekly").id
    who = Locator("email", "tess@example.com")
    consent.subscribe(engine, account_id, who, EMAIL_MARKETING, list_id=weekly, method="FORM",
                      method_detail="footer form", proof=Proof(actor="test", source="signup form",
                                                               consent_text_version="v7"))  # fmt: skip
    consent.unsubscribe(engine, account_id, who, Channel.EMAIL, Purpose.MARKETING,
                        proof=Proof(actor="test", message_id="msg-42", reason="too many emails"))  # fmt: skip
    out = assent("profiles", "timeline", "--account", account_id, "--email", "tess@example.com", db=db_url,
                 check=True).stdout  # fmt: skip
    assert "Subscribed to Email Marketing" in out
    assert "email/marketing NEVER_SUBSCRIBED -> SUBSCRIBED" in out
    assert "email/marketing SUBSCRIBED -> UNSUBSCRIBED" in out
    for detail in ("method: FORM", "detail: footer form", "source: signup form", f"list: {weekly}",
                   "consent text: v7", "message: msg-42", "their words: too many emails"):  # fmt: skip
        assert detail in out, (detail, out)
    subscribed, unsubscribed = [line for line in out.splitlines() if "email/marketing" in line]
    assert "consented at: " in subscribed and "unsubscribed at: " not in subscribed
    assert "unsubscribed at: " in unsubscribed and "consented at: " not in unsubscribed


def test_links_in_emails_start_with_the_address_serve_listens_on(tmp_path):
    # No ASSENT_PUBLIC_URL: the double opt-in email of a server on some port links to that port.
    from assent.services.lists import lists
    from assent.services.shared import outbox

    db = f"sqlite:///{tmp_path / 'assent.db'}"
    engine = make_engine(db)
    upgrade(engine)
    new = accounts.create_account(engine, "Port brand", "US")
    vip = lists.create_list(engine, new.account.id, "VIP", double_opt_in=True).id
    port = _free_port()
    argv = [ASSENT, "serve", "--db", db, "--port", str(port)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**CLI_ENV, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    try:
        lines = []
        while not any("Uvicorn running on" in line for line in lines):
            line = process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        assert any(line.startswith(f"warning: links start with http://127.0.0.1:{port} ") for line in lines)
        body = {"data": {"type": "profile-subscription-bulk-create-job", "attributes": {
            "profiles": {"data": [{"type": "profile", "attributes": {
                "email": "port@example.com",
                "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}}}}]}},
            "relationships": {"list": {"data": {"type": "list", "id": vip}}}}}  # fmt: skip
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/profile-subscription-bulk-create-jobs", json=body, timeout=30,
            headers={"Authorization": f"Klaviyo-API-Key {new.api_key}", "revision": "2026-10-15"},
        )  # fmt: skip
        assert r.status_code == 202, r.text
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    (message,) = outbox.messages(engine, new.account.id)
    engine.dispose()
    assert f"http://127.0.0.1:{port}/c/" in message["body_text"]
    assert ":8000" not in message["body_text"]


def test_the_link_base_and_database_url_are_read_from_the_environment_in_one_place():
    from pathlib import Path

    import assent

    root = Path(assent.__file__).parent
    for name in ("ASSENT_PUBLIC_URL", "ASSENT_DATABASE_URL"):
        readers = sorted(
            str(path.relative_to(root)) for path in root.rglob("*.py") if f'"{name}"' in path.read_text("utf-8")
        )
        assert readers == ["config.py"], (name, readers)


def test_every_setting_is_read_from_the_environment_in_one_place():
    """Every ASSENT_* variable is read in assent.config alone: no other module reads the
    environment (writing a variable for worker processes, as serve does, is not reading it)."""
    import re
    from pathlib import Path

    import assent
    from assent import config

    names = set(config._NAMES)
    assert {"ASSENT_SMTP_URL", "ASSENT_REDIS_URL", "ASSENT_SECRET_KEY", "ASSENT_SNS_TRUSTED_HOSTS",
            "ASSENT_RATE_LIMIT_SCALE", "ASSENT_SIGNUP_RATE_LIMIT", "ASSENT_HANDLER_THREADS"} <= names  # fmt: skip
    root = Path(assent.__file__).parent
    reads = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[[^\]]+\](?!\s*=[^=])|environ\.items\(")
    for path in root.rglob("*.py"):
        if path.name == "config.py" and path.parent == root:
            continue
        text = path.read_text("utf-8")
        assert not reads.search(text), (str(path.relative_to(root)), reads.search(text).group())
        for name in names - {config.SERVED_URL_ENV, config.DATABASE_URL_ENV}:
            assert f'"{name}"' not in text, (str(path.relative_to(root)), name)


def test_an_output_path_at_a_directory_or_in_a_missing_folder_is_one_line_naming_the_option(
    engine, account_id, db_url, tmp_path
):
    consent.subscribe(engine, account_id, Locator("email", "ann@example.com"), EMAIL_MARKETING, proof=PROOF)
    everyone = '{"condition_groups": [{"conditions": [{"type": "profile-random-sample", "percentage": 100}]}]}'
    segment = json.loads(assent("segments", "create", "All", "--account", account_id, "--definition", everyone,
                                "--json", db=db_url, check=True).stdout)["id"]  # fmt: skip
    folder = tmp_path / "exports"
    folder.mkdir()
    people = tmp_path / "people.csv"
    people.write_text("email\nbad-address\n")
    commands = {
        "output": [
            ("audience", "export", "--account", account_id, "--all", "--format", "csv", "-o"),
            ("segments", "export", segment, "--account", account_id, "--output"),
            ("profiles", "export-data", "--account", account_id, "--email", "ann@example.com", "--output"),
        ],
        "rejects": [("profiles", "import", str(people), "--account", account_id, "--rejects")],
    }
    seq = _ledger_seq(engine, account_id)
    for option, argvs in commands.items():
        for argv in argvs:
            at_directory = assent(*argv, str(folder), db=db_url)
            assert_one_line_error(at_directory, f"error: {option}: is a directory", str(folder))
            missing = folder / "no-such-folder" / "out.csv"
            in_missing_folder = assent(*argv, str(missing), db=db_url)
            assert_one_line_error(in_missing_folder, f"error: {option}: cannot write it", "does not exist")
    assert list(folder.iterdir()) == []  # nothing half written beside the paths given
    # A file the command itself opens, and cannot (here the export's partial file), is one line too.
    (folder / "out.csv.partial").mkdir()
    partial = assent(*commands["output"][0], str(folder / "out.csv"), db=db_url)
    assert_one_line_error(partial, "error: cannot use the file", "out.csv.partial", "Is a directory")
    assert _ledger_seq(engine, account_id) == seq


def test_listing_commands_say_when_there_is_nothing_to_list(db_url):
    # An empty answer on a terminal looked like a command that did nothing; --json stays [].
    account = json.loads(assent("accounts", "create", "Empty brand", "--json", db=db_url, check=True).stdout)["id"]
    nothing = {
        ("lists", "list"): "no lists",
        ("segments", "list"): "no segments",
        ("webhooks", "list"): "no webhooks",
        ("users", "list"): "no users",
        ("consent-texts", "list"): "no consent texts",
        ("outbox",): "no messages",
        ("ledger", "checkpoints"): "no checkpoints",
    }
    for command, said in nothing.items():
        human = assent(*command, "--account", account, db=db_url, check=True)
        assert human.stdout.startswith(said), (command, human.stdout)
        assert json.loads(assent(*command, "--account", account, "--json", db=db_url, check=True).stdout) == []


def test_a_count_of_one_takes_the_singular(db_url):
    account = json.loads(assent("accounts", "create", "One", "--json", db=db_url, check=True).stdout)["id"]
    made = json.loads(assent("lists", "create", "Solo", "--account", account, "--json", db=db_url, check=True).stdout)
    assent("consent", "subscribe", "--account", account, "--email", "one@example.com", "--channel", "email",
           "--list", made["id"], db=db_url, check=True)  # fmt: skip
    listed = assent("lists", "list", "--account", account, db=db_url, check=True).stdout
    assert listed.rstrip().endswith("single_opt_in  1 profile"), listed
    everyone = '{"condition_groups": [{"conditions": [{"type": "profile-random-sample", "percentage": 100}]}]}'
    one = assent("segments", "count", "--account", account, "--definition", everyone, db=db_url, check=True)
    assert one.stdout == "1 profile\n"


def test_serve_on_a_port_in_use_says_so_before_announcing_itself(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        argv = [ASSENT, "serve", "--db", f"sqlite:///{tmp_path / 'a.db'}", "--port", str(port)]
        done = subprocess.run(argv, capture_output=True, text=True, env=CLI_ENV, timeout=120)
    assert done.returncode == 1
    assert "Ctrl-C stops it" not in done.stdout
    assert done.stderr.strip() == f"error: --port: port {port} on 127.0.0.1 is in use; choose another with --port"
    assert not (tmp_path / "a.db").exists()  # refused before the database was made


def test_serve_on_an_unknown_host_names_the_option(tmp_path):
    argv = [ASSENT, "serve", "--db", f"sqlite:///{tmp_path / 'a.db'}", "--host", "no-such-host.invalid"]
    done = subprocess.run(argv, capture_output=True, text=True, env=CLI_ENV, timeout=120)
    assert done.returncode == 1 and done.stderr.startswith("error: --host: cannot listen on 'no-such-host.invalid'")
