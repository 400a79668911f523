"""Names from outside (remote listings, local folders) cannot steer where files are written.

Archive and error-file names are built from the input's name; whatever that name holds
(``../``, absolute paths, separators of either kind, control and invisible characters, names
that are not UTF-8, 500 bytes), the result is one path component of bounded length that does
not start with a dot. Error files stay one row per line and cannot carry spreadsheet formulas.
"""

from __future__ import annotations

import hashlib
import ntpath
import os
import posixpath
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockbridge.config.locations import LocationConfig
from stockbridge.locations import is_ignored, safe_name
from stockbridge.locations.local import LocalLocation
from tasks.apply import archive_name
from tasks.errorfiles import HEADER, error_file_name, write_error_file

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None)
DIGEST = hashlib.sha256(b"the bytes").hexdigest()
NAME_MAX = 255
"""Bytes in one file name on ext4, APFS, NTFS (UTF-16 units there) and most FTP servers."""

HOSTILE = [
    "../../etc/passwd",
    "..",
    ".",
    "",
    " ",
    "...",
    "./.",
    "../",
    "/etc/cron.d/evil",
    "/",
    "//server/share/x.txt",
    "C:\\Windows\\System32\\x.txt",
    "\\\\server\\share\\x.txt",
    "..\\..\\boot.ini",
    "a/../../b.txt",
    ".hidden.txt",
    ". .sales.txt",
    "~$sales.txt",
    "sales.txt\x00.png",
    "sales\n.txt",
    "sales\r\n2024.txt",
    "\x1b[31mred.txt",
    "invoice\u202etxt.exe",  # right-to-left override: shows as "invoiceexe.txt"
    "zero\u200bwidth.txt",
    "line\u2028break.txt",
    "nel\x85.txt",
    "caf\udce9.txt",  # a local name that is not UTF-8 (surrogate escape)
    "x" * 500,
    "é" * 300 + ".txt",
    "😀" * 200,
    "." * 300,
    "a" * 178 + "é.txt",
    '=HYPERLINK("http://x").txt',
    "-sales.txt",
]

names = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from("./\\ \x00\n\r\t~$:é😀\u202e\udce9ab"), max_size=40),
    st.text(alphabet=st.characters(), min_size=150, max_size=600),
)


def assert_one_safe_component(name: str, limit: int = NAME_MAX) -> None:
    assert name
    assert len(name.encode("utf-8")) <= limit  # encodable: no lone surrogates left
    assert "/" not in name and "\\" not in name
    assert posixpath.basename(name) == name and ntpath.basename(name) == name
    assert not name.startswith((".", " "))
    assert name not in (".", "..")
    for ch in name:
        assert unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp"), repr(ch)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_become_one_safe_component(name):
    assert_one_safe_component(safe_name(name), 180)
    archived = archive_name(name, DIGEST)
    assert_one_safe_component(archived)
    assert DIGEST[:12] in archived
    errors = error_file_name(name, DIGEST)
    assert_one_safe_component(errors)
    assert errors.endswith(f".{DIGEST[:12]}.errors.txt")


@FUZZ
@given(names)
def test_any_name_becomes_one_safe_component(name):
    cleaned = safe_name(name)
    assert_one_safe_component(cleaned, 180)
    assert safe_name(cleaned) == cleaned  # already safe: unchanged
    assert_one_safe_component(archive_name(name, DIGEST))
    # Room for the writer's hidden temp name: ".<name>.<pid>.tmp"
    assert len(error_file_name(name, DIGEST).encode()) + len(".4194304.tmp") + 1 <= NAME_MAX


@pytest.mark.parametrize(
    ("name", "archived"),
    [
        ("sales.txt", f"sales.{DIGEST[:12]}.txt"),
        ("ventes 2024-06-01.TXT", f"ventes 2024-06-01.{DIGEST[:12]}.TXT"),
        ("noextension", f"noextension.{DIGEST[:12]}"),
        (".hidden.txt", f"hidden.{DIGEST[:12]}.txt"),
        ("../../etc/passwd", f"_..{DIGEST[:12]}._etc_passwd"),
        ("C:\\x\\sales.txt", f"C__x_sales.{DIGEST[:12]}.txt"),
        ("export 12:30.txt", f"export 12_30.{DIGEST[:12]}.txt"),
        ("sales.txt:Zone.Identifier", f"sales.txt_Zone.{DIGEST[:12]}.Identifier"),
        ("invoice\u202etxt.exe", f"invoice_txt.{DIGEST[:12]}.exe"),
        ("caf\udce9.txt", f"caf_.{DIGEST[:12]}.txt"),
    ],
)
def test_archive_names_keep_what_is_harmless(name, archived):
    assert archive_name(name, DIGEST) == archived


@pytest.mark.parametrize(
    "name",
    [".sales.txt", "~$sales.xlsx", "sales.txt.part", "SALES.TMP", "x.filepart", "Thumbs.db"],
)
def test_names_of_files_being_written_or_hidden_are_ignored(name):
    assert is_ignored(name)


def test_files_with_hostile_names_stay_in_their_folders_on_disk(tmp_path):
    """The real local backend: list, archive and write error files for hostile names."""
    imports, archive, errors = tmp_path / "import", tmp_path / "archive", tmp_path / "errors"
    imports.mkdir()
    raw_names = [
        b"x\\..\\..\\y.txt",  # (a name starting with a dot is hidden: ignored)
        b"sales\n.txt",
        b"caf\xe9.txt",  # cp1252 name on a UTF-8 system
        b"\xe2\x80\xaeexe.txt",
        b"-" + b"x" * 250,
        b"\x1b[2J.txt",
    ]
    for raw in raw_names:
        (imports / os.fsdecode(raw)).write_bytes(b"A\t1\n")

    source = LocalLocation.open(LocationConfig(url=str(imports)))
    archive_location = LocalLocation.open(LocationConfig(url=str(archive)))
    errors_location = LocalLocation.open(LocationConfig(url=str(errors)))
    listed = source.list_files()
    assert len(listed) == len(raw_names)
    ctx = SimpleNamespace(store="s", run_id="r", errors=errors_location)
    rejects = pa.table(
        {
            "line": [1, 2],
            "raw": ["=cmd|' /C calc'!A0\t-2+3+cmd|x", "A\x00\r\u2028\x85\U0001f600\t1"],
            "reason": ["quantity is not a number", "contains control characters"],
        }
    )
    for remote in listed:
        source.move_to(remote.name, archive_location, archive_name(remote.name, DIGEST))
        write_error_file(ctx, remote.name, DIGEST, rejects=rejects)

    assert sorted(p.parent for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        [archive] * len(raw_names) + [errors] * len(raw_names)
    )
    assert not list(imports.iterdir())
    for folder in (archive, errors):
        for path in folder.iterdir():
            assert_one_safe_component(path.name)

    for path in errors.iterdir():
        text = path.read_text(encoding="utf-8")
        rows = text.split("\n")
        assert rows[-1] == ""  # ends with a newline
        assert rows[1] == HEADER
        assert len(rows) == 5  # comment, header, two rejects, final newline
        for row in rows[2:4]:
            cells = row.split("\t")
            assert all(cell.isprintable() for cell in cells)
            assert not any(cell.startswith(("=", "@", "+", "-")) for cell in cells[:1] + cells[3:])
        # Tabs in the raw text are escaped: it stays one cell, and only its start could
        # be read as a formula.
        assert rows[2].split("\t")[3:] == ["'=cmd|' /C calc'!A0\\t-2+3+cmd|x"]
        assert rows[3].split("\t")[3:] == ["A\\x00\\r\\u2028\\x85😀\\t1"]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("R\t-1", "R\\t-1"),
        ("R\t+3", "R\\t+3"),
        ("R\t--1", "R\\t--1"),
        ("@SUM(A1)\t1", "'@SUM(A1)\\t1"),
        ("=1+1\t1", "'=1+1\\t1"),
        ("-1+2\t1", "'-1+2\\t1"),
        ("-1", "-1"),
        (" =1\t1", " =1\\t1"),
    ],
)
def test_error_file_cells_are_never_formulas(tmp_path, raw, shown):
    ctx = SimpleNamespace(
        store="s", run_id="r", errors=LocalLocation.open(LocationConfig(url=str(tmp_path)))
    )
    rejects = pa.table({"line": [7], "raw": [raw], "reason": ["why"]})
    written = Path(write_error_file(ctx, "sales.txt", DIGEST, rejects=rejects))
    row = written.read_text(encoding="utf-8").split("\n")[2]
    assert row == f"sales.txt\t7\twhy\t{shown}"


def test_a_local_name_that_is_not_utf8_can_be_identified():
    """``os.listdir`` gives ``caf\\udce9.txt`` for a Windows-1252 name on a UTF-8 system."""
    from tasks.apply import batch_id_of

    assert len(batch_id_of(os.fsdecode(b"caf\xe9.txt"), DIGEST)) == 32
