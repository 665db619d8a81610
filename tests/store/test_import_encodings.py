"""Whatever a person names with --encoding, an import either reads the file or refuses it with an
error naming the encoding or the file, never a traceback: codecs that need a byte-order mark the
file lacks ("utf-16", "utf-32"), codecs that are no text encoding (rot13, base64) and codecs that
cannot mark bytes they fail to decode (punycode, idna) included. SQLite only: the encoding is read
before anything is written, the same on either backend."""

from __future__ import annotations

import encodings.aliases
from pathlib import Path

import pytest

from assent.domain import DomainError
from assent.services.imports.encoding import detect_encoding
from assent.services.imports.importer import ImportOptions, import_profiles

ROWS = "email,first_name\nzoe@example.com,Zoë\n"


@pytest.fixture
def sqlite_engine(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("the encoding is read before anything is written, the same on either backend")
    return engine


def _import(engine, account_id: str, path: Path, encoding: str):
    return import_profiles(engine, path, ImportOptions(account_id=account_id, workers=0, encoding=encoding))


@pytest.mark.parametrize("codec", ["utf-16", "utf-32"])
@pytest.mark.parametrize("order", ["le", "be"])
def test_utf16_and_utf32_without_a_mark_are_read_in_the_byte_order_their_nul_bytes_show(
    sqlite_engine, account_id, tmp_path, codec, order
):
    path = tmp_path / "people.csv"
    path.write_bytes(ROWS.encode(f"{codec}-{order}"))
    assert detect_encoding(path.read_bytes()[:64], codec).codec == f"{codec}-{order}"
    report = _import(sqlite_engine, account_id, path, codec)
    assert (report.created, report.rejected) == (1, 0)


def test_any_codec_named_imports_the_file_or_refuses_it_naming_the_encoding_or_the_file(
    sqlite_engine, account_id, tmp_path
):
    path = tmp_path / "people.csv"
    path.write_text(ROWS, encoding="utf-8")
    names = sorted({*encodings.aliases.aliases.values(), "rot13", "base64", "hex", "punycode", "idna", "utf_7"})
    for name in names:
        try:
            _import(sqlite_engine, account_id, path, name)
        except DomainError as e:
            assert e.field in ("encoding", "file"), (name, e)
