"""The ``pointex`` flow end to end: the till uploads its journal by FTPS, the run applies it.

The journal goes to a real FTPS server (pyftpdlib, certificate from the test CA, TLS on
both channels) the way the Pointex till sends it after the nightly close: into ``/sales``,
where the store's ``import`` reads it with the credentials from the environment.
"""

from __future__ import annotations

import ftplib
import io
import ssl

import pytest
from sqlalchemy import select

from stockbridge.integrations.pointex.links import Cellar
from stockbridge.ledger.tables import documents
from tests.pointex.store import FAMILIES, HEADER, OPENING, CellarStore, line
from tests.servers import FTPTestServer

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.timeout(120)]

BAD_LINE = "27/11/2026;22:18:02;1021;000109;CH YQUEM 11; 1/2 BTL;Vins blancs;1;145,00"
NIGHT_1 = [
    line("0401", "CH MARGAUX 15", amount="480,00", ticket="1001"),  # line 2
    line("0311", "PLANCHE MIXTE", family="Cuisine", amount="18,50"),  # 3: not a drink
    line("0501", "VRE CDR GUIGAL 20", "2", "14,00", "Vins au verre", "1002"),  # 4
    BAD_LINE,  # 5: a ';' inside the label, unquoted: 9 fields
    line("0501", "VRE CDR GUIGAL 20", "1", "7,00", "Vins au verre", "1003"),  # 6
    line("0321", "MOELLEUX CHOCOLAT", "2", "18,00", "Desserts", "1003"),  # 7: not a drink
]


def upload(server: FTPTestServer, name: str, data: bytes) -> None:
    """STOR ``data`` as ``/sales/NAME`` over explicit TLS, as the till does."""
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with ftplib.FTP_TLS(context=context, timeout=5) as ftp:
        ftp.connect(server.host, server.port)
        ftp.login(server.user, server.password)
        ftp.prot_p()
        ftp.storbinary(f"STOR /sales/{name}", io.BytesIO(data))


@pytest.fixture
def ftps_store(tmp_path, ftps_server, monkeypatch, sqlite_url) -> CellarStore:
    monkeypatch.setenv("CAVE_FTP_USER", ftps_server.user)
    monkeypatch.setenv("CAVE_FTP_PASSWORD", ftps_server.password)
    (ftps_server.root / "sales").mkdir(parents=True)
    return CellarStore(
        tmp_path,
        sqlite_url,
        **{
            "import": {
                "url": ftps_server.url("/sales/"),
                "username": "${CAVE_FTP_USER}",
                "password": "${CAVE_FTP_PASSWORD}",
                "ca_file": str(ftps_server.ca_file),
                "timeout": 5,
            }
        },
    )


def test_nightly_journal_over_ftps(ftps_store, ftps_server):
    store, sales = ftps_store, ftps_server.root / "sales"
    assert ftps_server.password not in store.path.read_text()
    night_1 = store.journal_bytes(NIGHT_1, "cp1252")
    upload(ftps_server, "journal-2026-11-27.csv", night_1)

    summary = store.run()
    assert summary.state == "completed", summary.message
    assert summary.headline() == (
        f"{store.name}: 1 file(s) applied, 0 line(s) applied, 1 rejected, 3 held,"
        " 2 drink(s) to link"
    )
    [outcome] = summary.files
    assert (outcome.file, outcome.status) == ("journal-2026-11-27.csv", "applied")
    assert (outcome.lines_applied, outcome.lines_rejected, outcome.lines_held) == (0, 1, 3)
    assert outcome.note == (
        f"2 line(s) of other families than {', '.join(FAMILIES)} left out (not drinks)"
    )
    assert [(w.reference, w.labels, w.quantity, w.lines) for w in summary.waiting] == [
        ("0501", ["VRE CDR GUIGAL 20"], 3000, 2),
        ("0401", ["CH MARGAUX 15"], 1000, 1),
    ]
    rendered = summary.render()
    assert "  2 drink(s) to link:" in rendered
    assert "0501             VRE CDR GUIGAL 20  (3 waiting)" in rendered
    assert "0401             CH MARGAUX 15  (1 waiting)" in rendered

    # The bad line: its number, its bytes as written, why. The dishes are nowhere.
    error_file = store.errors / outcome.error_file.rsplit("/", 1)[-1]
    rows = error_file.read_text(encoding="utf-8").splitlines()
    assert rows[1] == "file\tline\treason\traw"
    assert rows[2:] == [
        f"journal-2026-11-27.csv\t5\t9 fields separated by ';' where the header has 8\t{BAD_LINE}"
    ]
    assert {r["source_reference"] for r in store.held()} == {"0401", "0501"}

    # Archived on the server, in /sales/archive, under a name that keeps each delivery.
    assert sorted(p.name for p in sales.iterdir() if p.is_file()) == []
    [archived] = sorted((sales / "archive").iterdir())
    assert archived.name.startswith("journal-2026-11-27.") and archived.suffix == ".csv"
    assert archived.read_bytes() == night_1
    assert outcome.archived_to.endswith(f"/sales/archive/{archived.name}")

    ledger = store.ledger()
    try:
        [run] = ledger.history(store.name)
        assert run["run_id"] == summary.run_id
        assert (run["state"], run["files_applied"], run["lines_rejected"], run["lines_held"]) == (
            "completed",
            1,
            1,
            3,
        )
    finally:
        ledger.close()

    # The till sends the same file again: a duplicate, archived, nothing held twice.
    upload(ftps_server, "journal-2026-11-27.csv", night_1)
    again = store.run()
    assert [(f.status, f.lines_held) for f in again.files] == [("duplicate", 0)]
    assert "not applied again" in again.files[0].note
    assert len(store.held()) == 3
    assert sorted(p.name for p in sales.iterdir() if p.is_file()) == []

    # Linked, the next night applies at once; a refund puts a bottle back.
    ledger = store.ledger()
    try:
        Cellar(ledger, store.name).yes("0401")
    finally:
        ledger.close()
    night_2 = store.journal_bytes(
        [
            line("0401", "CH MARGAUX 15", amount="480,00", day="28/11/2026", ticket="2001"),
            line("0401", "CH MARGAUX 15", "-1", "-480,00", day="28/11/2026", ticket="2002"),
            line("0401", "CH MARGAUX 15", amount="480,00", day="29/11/2026", time="01:05:00"),
        ],
        "utf-8-sig",
    )
    upload(ftps_server, "journal-2026-11-28.csv", night_2)
    third = store.run()
    assert [(f.file, f.status, f.lines_applied, f.lines_held) for f in third.files] == [
        ("journal-2026-11-28.csv", "applied", 3, 0)
    ]
    encodings = {d["document"]: d["encoding"] for d in _documents(store)}
    assert {k: v for k, v in encodings.items() if k.startswith("journal")} == {
        "journal-2026-11-27.csv": "cp1252",
        "journal-2026-11-28.csv": "utf-8-sig",
    }
    refunds = [m for m in store.movements("MARG15") if m["kind"] == "return"]
    assert [(m["quantity"], m["document_number"], m["amount"]) for m in refunds] == [
        (1000, "2002", -480000)
    ]
    assert store.stock()["MARG15"] == OPENING["MARG15"] - 1000 - 1000 + 1000 - 1000
    assert store.stock_text()["MARG15"] == "4"
    assert [w.reference for w in third.waiting] == ["0501"]


def test_journal_without_quantity_column_is_refused_whole(tmp_path, sqlite_url):
    store = CellarStore(tmp_path, sqlite_url)
    header = HEADER.replace("Quantité", "Qté")
    store.inbox.joinpath("journal-2026-11-27.csv").write_bytes(
        "\r\n".join([header, line("0401", "CH MARGAUX 15"), ""]).encode("cp1252")
    )
    summary = store.run()
    assert summary.state == "completed", summary.message
    [outcome] = summary.files
    assert (outcome.lines_applied, outcome.lines_rejected, outcome.lines_held) == (0, 1, 0)
    assert summary.waiting == []
    [error_file] = store.error_files()
    [row] = error_file.read_text(encoding="utf-8").splitlines()[2:]
    name, number, reason, raw = row.split("\t")
    assert (name, number, raw) == ("journal-2026-11-27.csv", "1", header)
    assert reason.startswith("The journal has no column 'Quantité' (header found: ")
    assert reason.endswith(".") and reason.count(". ") == 0
    assert store.held() == []
    assert store.stock() == OPENING
    assert store.archived()  # refused, but done with: the next run does not read it again
    assert store.run().files == []


def _documents(store: CellarStore) -> list[dict]:
    ledger = store.ledger()
    try:
        with ledger.reading() as connection:
            query = select(documents).where(documents.c.store == store.name)
            return [dict(r._mapping) for r in connection.execute(query)]
    finally:
        ledger.close()
