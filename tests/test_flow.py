"""The InterStock flow end to end, under a real Prefect server: files in, ledger, files out.

Every test runs ``flows.interstock.interstock`` on a store file written by ``make_store``
(local exchange folders under ``tmp_path``) and checks what a shop would see: the export
file, the error files, the archive, the ledger and the Prefect run summary.
"""

from __future__ import annotations

import codecs
import functools
import os
import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, update

from flows.interstock import interstock
from stockbridge.integrations.interstock.format import Reason
from stockbridge.ledger.ledger import Ledger
from stockbridge.ledger.tables import documents, movements
from stockbridge.summary import RunSummary
from tasks.errorfiles import printable
from tests.interstock_store import Store, new_store, outcomes, rewrite

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def store(make_store):
    """``store(articles, **yaml_overrides)`` -> a Store with its exchange folders."""
    return functools.partial(new_store, make_store)


SAMPLES = Path("data_samples/interstock")
WINDOWS_SAMPLE = SAMPLES / "import" / "caisse-export-windows.txt"
UNDECODABLE = b"\x81\x8d\x8f\x90\x9d" * 40


# -- the seed example and the sample files -----------------------------------------------------


def test_seed_example_on_each_ledger(store, ledger_url):
    shop = store(ledger=ledger_url)
    shop.drop("web-orders-0001.txt", b"8880000000116\t-1\n8880000000123\t-2\n")
    summary = shop.run()

    assert summary.state == "completed"
    assert summary.new_articles == 5
    assert outcomes(summary) == [("web-orders-0001.txt", "applied", 2, 0)]
    assert shop.export.read_text() == (
        "8880000000109\t1\n"
        "8880000000116\t4\n"
        "8880000000123\t5\n"
        "8880000000130\t10\n"
        "8880000000154\t5\n"
    )
    assert summary.export_rows == 5
    assert shop.inbox_files() == []
    [archived] = shop.archived()
    assert archived.startswith("web-orders-0001.") and archived.endswith(".txt")
    assert summary.files[0].archived_to == str(shop.archive / archived)
    assert shop.error_files() == []
    assert shop.stock()["8880000000116"] == (4000, 0)
    assert [d["status"] for d in shop.documents()] == ["archived", "archived"]  # opening, file

    ledger = shop.ledger()
    try:
        [run] = ledger.history(shop.name)
        assert run["run_id"] == summary.run_id
        assert (run["state"], run["files_applied"], run["lines_applied"]) == ("completed", 1, 2)
        found = ledger.movements_of(shop.name, "8880000000123")
        assert [(m["document"], m["line"], m["quantity"], m["kind"]) for m in found[:1]] == [
            ("web-orders-0001.txt", 2, -2000, "sale")
        ]
        assert found[0]["run_id"] == summary.run_id
        opening = [m for m in found if m["kind"] == "adjustment"]
        assert [(m["document"], m["line"], m["quantity"]) for m in opening] == [
            ("articles.tsv", 3, 7000)
        ]
    finally:
        ledger.close()

    # A second run with nothing new changes nothing and still publishes the export.
    shop.export.unlink()
    again = shop.run()
    assert (again.state, again.files, again.new_articles) == ("completed", [], 0)
    assert shop.exported()["8880000000116"] == "4"


def test_windows_sample_applies_good_lines_and_explains_the_rest(store):
    articles = dict(
        line.split("\t") for line in (SAMPLES / "articles.tsv").read_text().splitlines()
    )
    shop = store(articles)
    shutil.copy(WINDOWS_SAMPLE, shop.inbox / WINDOWS_SAMPLE.name)
    summary = shop.run()

    assert outcomes(summary) == [("caisse-export-windows.txt", "applied", 5, 6)]
    assert shop.exported() == {
        "0001234": "1.75",
        "8880000000109": "0",
        "8880000000116": "5",
        "8880000000123": "7",
        "8880000000130": "13",
        "8880000000154": "4",
        "VIN-BDX-2015": "10",
    }
    assert list(shop.exported()) == sorted(shop.exported())

    [error_file] = shop.error_files()
    assert summary.files[0].error_file == str(error_file)
    lines = error_file.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# stockbridge: lines of caisse-export-windows.txt")
    assert lines[1] == "file\tline\treason\traw"
    rows = [line.split("\t", 3) for line in lines[2:]]
    assert [(r[0], int(r[1])) for r in rows] == [
        ("caisse-export-windows.txt", n) for n in (6, 7, 8, 9, 10, 12)
    ]
    by_line = {int(r[1]): (r[2], r[3]) for r in rows}  # tabs in the raw text are escaped
    assert by_line[6] == (Reason.UNKNOWN_REFERENCE, "8880000000999\\t-1")
    assert by_line[7] == (Reason.UNKNOWN_REFERENCE, "Château Margaux\\t-1")
    assert by_line[8] == (Reason.NOT_A_NUMBER, "8880000000154\\tdeux")
    assert by_line[9] == (Reason.MISSING_QUANTITY, "8880000000154")
    assert by_line[10] == (Reason.TOO_MANY_DECIMALS, "8880000000130\\t-1,2345")
    assert by_line[12] == (Reason.EXTRA_FIELDS, "8880000000109\\t-1\\t2")
    assert summary.reject_reasons[Reason.UNKNOWN_REFERENCE] == 2

    [document] = [d for d in shop.documents() if d["document"] == WINDOWS_SAMPLE.name]
    assert (document["encoding"], document["lines_applied"], document["lines_rejected"]) == (
        "cp1252",
        5,
        6,
    )
    assert document["error_file"] == str(error_file)
    ledger = shop.ledger()
    try:
        rejects = ledger.rejects_of(document["id"]).to_pylist()
        with ledger.engine.connect() as connection:
            applied_lines = connection.execute(
                select(movements.c.line)
                .where(movements.c.document_id == document["id"])
                .order_by(movements.c.line)
            ).scalars()
            assert list(applied_lines) == [1, 2, 4, 5, 11]
    finally:
        ledger.close()
    # The ledger keeps the raw text as it was; the error file shows it escaped.
    assert [(r["line"], r["reason"], printable(r["raw"])) for r in rejects] == [
        (n, reason, raw) for n, (reason, raw) in sorted(by_line.items())
    ]


def test_sums_stay_exact_through_the_flow(store):
    shop = store({"A": "0", "B": "1.5"})
    shop.drop("tenths.txt", b"A\t0.1\n" * 1000 + b"B\t-0,001\n" * 500)
    summary = shop.run()
    assert outcomes(summary) == [("tenths.txt", "applied", 1500, 0)]
    assert shop.exported() == {"A": "100", "B": "1"}


# -- exactly once ----------------------------------------------------------------------------


def test_redelivered_file_is_a_duplicate_and_changed_bytes_are_applied(store):
    shop = store()
    content = b"8880000000116\t-1\n"
    shop.drop("sales.txt", content)
    assert outcomes(shop.run()) == [("sales.txt", "applied", 1, 0)]

    shop.drop("sales.txt", content)
    summary = shop.run()
    assert outcomes(summary) == [("sales.txt", "duplicate", 0, 0)]
    assert "not applied again" in summary.files[0].note
    assert shop.inbox_files() == []
    assert shop.exported()["8880000000116"] == "4"

    shop.drop("sales.txt", b"8880000000116\t-2\n")
    summary = shop.run()
    assert outcomes(summary) == [("sales.txt", "applied", 1, 0)]
    assert shop.exported()["8880000000116"] == "2"
    assert len(shop.archived()) == 2  # each delivery keeps its own archived copy

    ledger = shop.ledger()
    try:
        states = [(r["files_applied"], r["files_duplicate"]) for r in ledger.history(shop.name)]
    finally:
        ledger.close()
    assert sorted(states) == [(0, 1), (1, 0), (1, 0)]


def test_the_same_file_twice_in_one_run_counts_once(store, tmp_path):
    second_inbox = tmp_path / "second-import"
    second_inbox.mkdir()
    shop = store()
    shop = Store(
        rewrite(shop.path, **{"import": [str(shop.inbox), str(second_inbox)]}),
    )
    shop.drop("sales.txt", b"8880000000116\t-1\n")
    (second_inbox / "sales.txt").write_bytes(b"8880000000116\t-1\n")
    summary = shop.run()
    assert sorted(f.status for f in summary.files) == ["applied", "duplicate"]
    assert shop.exported()["8880000000116"] == "4"
    assert shop.inbox_files() == []
    assert [p.name for p in second_inbox.iterdir() if p.is_file()] == []


def test_a_copy_in_a_later_batch_is_a_duplicate_of_the_one_applied_before(store, tmp_path):
    """Batches are read and parsed ahead of the one being written: a copy of a file that
    an earlier batch of the same run applies must still come out as its duplicate."""
    second_inbox = tmp_path / "second-import"
    second_inbox.mkdir()
    shop = store(batch={"max_files": 1})
    shop = Store(rewrite(shop.path, **{"import": [str(shop.inbox), str(second_inbox)]}))
    shop.drop("sales.txt", b"8880000000116\t-1\n", mtime=1_700_000_000)
    shop.drop("other.txt", b"8880000000123\t-2\nnot a line\n", mtime=1_700_000_001)
    copy = second_inbox / "sales.txt"
    copy.write_bytes(b"8880000000116\t-1\n")
    os.utime(copy, (1_700_000_002, 1_700_000_002))

    summary = shop.run()

    assert [(f.file, f.status) for f in summary.files] == [
        ("sales.txt", "applied"),
        ("other.txt", "applied"),
        ("sales.txt", "duplicate"),
    ]
    assert "already applied on" in summary.files[2].note
    assert summary.files[1].lines_rejected == 1 and summary.files[1].error_file
    assert shop.exported()["8880000000116"] == "4"
    assert shop.exported()["8880000000123"] == "5"
    assert shop.inbox_files() == [] and not any(second_inbox.glob("*.txt"))


def test_empty_files_apply_with_no_lines_beside_others(store):
    shop = store(batch={"max_files": 2})
    shop.drop("empty.txt", b"", mtime=1_700_000_000)
    shop.drop("bom-only.txt", codecs.BOM_UTF8, mtime=1_700_000_001)
    shop.drop("sales.txt", b"8880000000116\t-1\n", mtime=1_700_000_002)
    summary = shop.run()
    assert outcomes(summary) == [
        ("empty.txt", "applied", 0, 0),
        ("bom-only.txt", "applied", 0, 0),
        ("sales.txt", "applied", 1, 0),
    ]
    assert shop.exported()["8880000000116"] == "4"
    assert shop.inbox_files() == []


def test_a_file_that_cannot_be_read_holds_up_no_batch_before_it(make_store, ftp_server):
    """The next batch is read before this one is written; a read that fails must not keep
    this batch from being applied and archived."""
    for folder in ("open", "locked"):
        (ftp_server.root / folder).mkdir()
    first, second = ftp_server.root / "open" / "a.txt", ftp_server.root / "locked" / "b.txt"
    first.write_bytes(b"8880000000116\t-1\n")
    second.write_bytes(b"8880000000123\t-2\n")
    os.utime(first, (1_700_000_000, 1_700_000_000))
    os.utime(second, (1_700_000_001, 1_700_000_001))
    ftp_server.refuse_reads("locked")
    credentials = {"username": ftp_server.user, "password": ftp_server.password, "timeout": 5}
    shop = new_store(
        make_store,
        batch={"max_files": 1},
        **{
            "import": [
                {"url": ftp_server.url("open/"), **credentials},
                {"url": ftp_server.url("locked/"), **credentials},
            ]
        },
    )

    state = interstock(config_path=str(shop.path), return_state=True)

    assert state.is_failed()
    assert "b.txt" in state.message and "locked" in state.message
    assert shop.stock()["8880000000116"] == (4000, 0)
    assert shop.stock()["8880000000123"] == (7000, 0)
    assert not first.exists() and second.exists()
    archived = [p.name for p in (ftp_server.root / "open" / "archive").iterdir()]
    assert len(archived) == 1 and archived[0].startswith("a.")


def test_interrupted_run_is_recovered_without_applying_twice(store):
    shop = store()
    content = b"8880000000116\t-1\n8880000000999\t-1\n"
    shop.drop("sales.txt", content)
    first = shop.run()
    assert outcomes(first) == [("sales.txt", "applied", 1, 1)]
    [error_file] = shop.error_files()
    error_text = error_file.read_text()

    # As if the run had died after the commit but before archiving and the error file.
    shutil.move(first.files[0].archived_to, shop.inbox / "sales.txt")
    error_file.unlink()
    ledger = shop.ledger()
    try:
        with ledger.engine.begin() as connection:
            connection.execute(
                update(documents)
                .where(documents.c.store == shop.name, documents.c.document == "sales.txt")
                .values(status="applied", archived_to=None, error_file=None)
            )
    finally:
        ledger.close()

    summary = shop.run()
    assert outcomes(summary) == [("sales.txt", "recovered", 0, 0)]
    assert "recovered" in summary.headline() or "interrupted" in summary.headline()
    assert shop.inbox_files() == []
    assert len(shop.archived()) == 1
    assert shop.exported()["8880000000116"] == "4"
    assert shop.stock()["8880000000116"] == (4000, 0)
    [again] = shop.error_files()
    assert again.read_text().splitlines()[1:] == error_text.splitlines()[1:]
    [document] = [d for d in shop.documents() if d["document"] == "sales.txt"]
    assert document["status"] == "archived"
    assert document["archived_to"] == summary.files[0].archived_to
    assert document["error_file"] == str(again)


# -- which files are taken --------------------------------------------------------------------


def test_young_files_wait_for_min_age(store):
    shop = store(settle={"min_age": "1h", "recheck": "0s"})
    shop.drop("fresh.txt", b"8880000000116\t-1\n")
    old = shop.drop("old.txt", b"8880000000123\t-1\n", mtime=1_600_000_000)
    summary = shop.run()
    assert outcomes(summary) == [("old.txt", "applied", 1, 0)]
    assert not old.exists()
    assert shop.inbox_files() == ["fresh.txt"]
    assert shop.exported()["8880000000116"] == "5"


def test_a_file_still_growing_between_listings_is_not_taken(store):
    shop = store(settle={"min_age": "0s", "recheck": "1s"})
    growing = shop.drop("upload.txt", b"8880000000116\t-1\n")
    stop = threading.Event()

    def keep_writing() -> None:
        while not stop.is_set():
            with open(growing, "ab") as handle:
                handle.write(b"8880000000116\t-1\n")
            stop.wait(0.05)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        summary = shop.run()
    finally:
        stop.set()
        writer.join()
    assert summary.files == []
    assert shop.inbox_files() == ["upload.txt"]
    assert shop.exported()["8880000000116"] == "5"


def test_temporary_and_hidden_files_are_ignored(store):
    shop = store()
    line = b"8880000000116\t-1\n"
    for name in (".hidden.txt", "upload.txt.tmp", "big.part", "~$sheet.txt", "x.filepart"):
        shop.drop(name, line)
    shop.drop("real.txt", line)
    summary = shop.run()
    assert outcomes(summary) == [("real.txt", "applied", 1, 0)]
    assert shop.inbox_files() == sorted(
        [".hidden.txt", "upload.txt.tmp", "big.part", "~$sheet.txt", "x.filepart"]
    )
    assert shop.exported()["8880000000116"] == "4"


def test_files_apply_in_modification_time_then_name_order(store):
    shop = store()
    shop.drop("a.txt", b"8880000000109\t1\n", mtime=1_700_000_300)
    shop.drop("b.txt", b"8880000000109\t1\n", mtime=1_700_000_100)
    shop.drop("d.txt", b"8880000000109\t1\n", mtime=1_700_000_200)
    shop.drop("c.txt", b"8880000000109\t1\n", mtime=1_700_000_200)
    summary = shop.run()
    assert [f.file for f in summary.files] == ["b.txt", "c.txt", "d.txt", "a.txt"]
    applied = [d["document"] for d in shop.documents() if d["document"].endswith(".txt")]
    assert applied == ["b.txt", "c.txt", "d.txt", "a.txt"]
    assert shop.exported()["8880000000109"] == "5"


def test_small_batches_commit_separately_in_order(store):
    shop = store(batch={"max_files": 2})
    for n in range(5):
        shop.drop(f"f{n}.txt", b"8880000000130\t-1\n", mtime=1_700_000_000 + n)
    summary = shop.run()
    assert [f.file for f in summary.files] == [f"f{n}.txt" for n in range(5)]
    assert {f.status for f in summary.files} == {"applied"}
    assert shop.exported()["8880000000130"] == "5"
    assert shop.inbox_files() == []


def test_undecodable_file_is_set_aside_whole(store):
    shop = store()
    shop.drop("garbage.txt", UNDECODABLE)
    shop.drop("good.txt", b"8880000000116\t-1\n")
    summary = shop.run()

    assert sorted(outcomes(summary)) == [
        ("garbage.txt", "quarantined", 0, 0),
        ("good.txt", "applied", 1, 0),
    ]
    garbage = next(f for f in summary.files if f.file == "garbage.txt")
    unreadable = shop.archive / "unreadable"
    [moved] = list(unreadable.iterdir())
    assert garbage.archived_to == str(moved)
    assert moved.read_bytes() == UNDECODABLE
    assert shop.inbox_files() == []
    [error_file] = [p for p in shop.error_files() if p.name.startswith("garbage.txt.")]
    assert garbage.error_file == str(error_file)
    text = error_file.read_text()
    assert "garbage.txt\t0\tfile not applied: the file is neither UTF-8 nor Windows-1252" in text
    assert shop.exported()["8880000000116"] == "4"
    [document] = [d for d in shop.documents() if d["document"] == "garbage.txt"]
    assert (document["status"], document["lines_applied"]) == ("quarantined", 0)
    assert "unreadable" in summary.headline()

    # Delivered again: recognised, set aside again, still nothing applied.
    shop.drop("garbage.txt", UNDECODABLE)
    again = shop.run()
    assert outcomes(again) == [("garbage.txt", "duplicate", 0, 0)]
    assert shop.inbox_files() == []
    assert list(unreadable.iterdir()) == [moved]


# -- catalogue and export ---------------------------------------------------------------------


# -- runs -------------------------------------------------------------------------------------


def test_run_summary_artifact_in_prefect(store):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    shop = store()
    shop.drop("s1.txt", b"8880000000116\t-1\n8880000000999\t2\n", mtime=1_700_000_000)
    shop.drop("s2.txt", b"8880000000123\t-2\n", mtime=1_700_000_001)
    summary = shop.run()

    key = f"{shop.name}-interstock-files"
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    assert len(artifacts) == 1
    artifact = artifacts[0]
    assert artifact.type == "markdown"  # a table with words as headers (issue 12 §5)
    assert str(artifact.flow_run_id) == summary.run_id
    table = [line.strip("|").split(" | ") for line in artifact.data.splitlines()]
    header, rows = [c.strip() for c in table[0]], [[c.strip() for c in r] for r in table[2:]]
    assert header[:5] == ["File", "Outcome", "Lines applied", "Lines rejected", "Error file"]
    assert [tuple(r[:4]) for r in rows] == [
        ("s1.txt", "Applied", "1", "1"),
        ("s2.txt", "Applied", "1", "0"),
    ]
    assert rows[0][4].endswith(".errors.txt")
    assert artifact.description == summary.headline()


def test_a_run_is_skipped_while_another_holds_the_store(store):
    shop = store()
    shop.drop("sales.txt", b"8880000000116\t-1\n")
    ledger = shop.ledger()
    try:
        with ledger.lock(shop.name, "interstock"):
            summary = shop.run()
    finally:
        ledger.close()
    assert summary.state == "skipped"
    assert "another run for store" in summary.message
    assert summary.files == []
    assert shop.inbox_files() == ["sales.txt"]
    assert not shop.export.exists()

    after = shop.run()
    assert after.state == "completed"
    assert outcomes(after) == [("sales.txt", "applied", 1, 0)]


def test_history_records_each_run(store):
    shop = store()
    runs = []
    for n in range(2):
        shop.drop(f"s{n}.txt", b"8880000000116\t-1\nbad line\n")
        runs.append(shop.run().run_id)
    ledger = shop.ledger()
    try:
        history = ledger.history(shop.name)
    finally:
        ledger.close()
    assert sorted(r["run_id"] for r in history) == sorted(runs)
    assert {
        (r["state"], r["files_applied"], r["lines_applied"], r["lines_rejected"]) for r in history
    } == {("completed", 1, 1, 1)}
    assert all(r["finished_at"] >= r["started_at"] for r in history)


def test_an_unreachable_ledger_fails_the_run_with_one_sentence(store):
    shop = store()
    shop = Store(rewrite(shop.path, ledger="postgresql://stock:Hunter2-pw@127.0.0.1:1/ledger"))
    shop.drop("sales.txt", b"8880000000116\t-1\n")
    state = interstock(config_path=str(shop.path), return_state=True)
    assert state.is_failed()
    summary = state.result(raise_on_failure=False)
    assert isinstance(summary, RunSummary)
    assert summary.state == "failed"
    assert summary.message.startswith("cannot reach the ledger at postgresql")
    assert "\n" not in summary.message
    assert "Hunter2-pw" not in summary.message + summary.render()
    assert shop.inbox_files() == ["sales.txt"]


def test_large_files_are_streamed_with_exact_line_numbers(store):
    shop = store({"A": "0", "Café": "0"}, batch={"chunk_bytes": 1024})
    body = "".join("A\t1\r\n" if n % 7 else "\r\n" for n in range(1, 400))
    body += "A\tbad\r\n" + "Café\t0,5\r\n" * 300 + "Z\t1"
    shop.drop("big-utf8.txt", codecs.BOM_UTF8 + body.encode(), mtime=1_700_000_000)
    shop.drop("big-cp1252.txt", body.encode("cp1252"), mtime=1_700_000_001)
    # Valid UTF-8 up to a multi-byte sequence cut short by the end of the file: cp1252.
    shop.drop("cut.txt", b"A\t1\n" * 400 + b"A\t2\nB\xc3", mtime=1_700_000_002)
    shop.drop("junk.txt", UNDECODABLE * 20, mtime=1_700_000_003)
    summary = shop.run()

    assert outcomes(summary) == [
        ("big-utf8.txt", "applied", 342 + 300, 2),
        ("big-cp1252.txt", "applied", 342 + 300, 2),
        ("cut.txt", "applied", 401, 1),
        ("junk.txt", "quarantined", 0, 0),
    ]
    assert shop.exported() == {"A": str(2 * 342 + 402), "Café": "300"}
    for name in ("big-utf8.txt", "big-cp1252.txt"):
        [error_file] = [p for p in shop.error_files() if p.name.startswith(f"{name}.")]
        rows = [line.split("\t", 3) for line in error_file.read_text().splitlines()[2:]]
        assert rows == [
            [name, "400", Reason.NOT_A_NUMBER, "A\\tbad"],
            [name, "701", Reason.UNKNOWN_REFERENCE, "Z\\t1"],
        ]
    [cut] = [p for p in shop.error_files() if p.name.startswith("cut.txt.")]
    assert cut.read_text().splitlines()[2:] == [f"cut.txt\t402\t{Reason.MISSING_QUANTITY}\tBÃ"]
    assert shop.inbox_files() == []


def test_a_run_failing_after_a_committed_batch_records_what_it_applied(make_store, tmp_path):
    """Batch 1 commits and is archived; batch 2's error file cannot be written: the run
    fails, and its history still counts the file it did apply (it used to say 0)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the errors folder should be")
    shop = Store(make_store(errors=str(blocker / "errors"), batch={"max_files": 1}))
    shop.drop("a.txt", b"8880000000109\t-1\n", mtime=1_700_000_000)
    shop.drop("b.txt", b"8880000000116\t-1\nnope\t1\n", mtime=1_700_000_100)
    summary = shop.run()
    assert summary.state == "failed"
    ledger = Ledger.open(shop.config.ledger)
    try:
        (run,) = [r for r in ledger.history(shop.name) if r["run_id"] == summary.run_id]
    finally:
        ledger.close()
    assert run["state"] == "failed"
    assert run["files_applied"] == 1
    assert run["lines_applied"] == 1
