"""The SQL ledger on SQLite, PostgreSQL and MariaDB: schema, atomic batches, exactly once,
the per-store lock, stock levels, history and exact quantities."""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text

from stockbridge.errors import LedgerError, StoreBusyError
from stockbridge.ledger.database import MIGRATIONS
from stockbridge.ledger.ledger import Ledger, NewDocument
from stockbridge.ledger.tables import cursors, documents, movements, rejects
from stockbridge.movements import Document, movement_table


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


HEAD = _head()
TABLES = {"stock", "documents", "movements", "rejects", "runs", "cursors", "alembic_version"}


@pytest.fixture
def ledger(ledger_url):
    opened = Ledger.open(ledger_url)
    yield opened
    opened.close()


@pytest.fixture
def store() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


def moves(store: str, run_id: str, batch_id: str, rows: list[tuple[str, int, str]]) -> pa.Table:
    """A canonical movement table for one document; ``rows`` are (reference, milli, kind)."""
    size = len(rows)
    return movement_table(
        store=store,
        run_id=run_id,
        references=pa.array([r[0] for r in rows], pa.string()),
        quantities=np.array([r[1] for r in rows], dtype=np.int64),
        kinds=pa.array([r[2] for r in rows], pa.string()),
        lines=np.arange(1, size + 1, dtype=np.int64),
        documents=[Document(batch_id, "interstock:/in", f"{batch_id}.txt")],
        document_index=np.zeros(size, dtype=np.int64),
    )


def document(batch_id: str) -> NewDocument:
    return NewDocument(batch_id, "interstock:/in", f"{batch_id}.txt", "d" * 64)


def apply(ledger: Ledger, store: str, batch_id: str, rows, run_id: str = "run-1") -> None:
    with ledger.batch(store, "interstock", run_id) as batch:
        batch.add_documents([document(batch_id)])
        batch.add_movements(moves(store, run_id, batch_id, rows))


def levels(ledger: Ledger, store: str) -> dict[str, tuple[int, int]]:
    table = ledger.stock(store).to_pylist()
    return {row["reference"]: (row["on_hand"], row["reserved"]) for row in table}


def count(ledger: Ledger, table, store: str) -> int:
    with ledger.engine.connect() as connection:
        if table is rejects:
            query = (
                select(func.count())
                .select_from(rejects.join(documents, documents.c.id == rejects.c.document_id))
                .where(documents.c.store == store)
            )
        else:
            query = select(func.count()).select_from(table).where(table.c.store == store)
        return connection.execute(query).scalar()


def test_migrations_create_the_schema_and_a_second_open_changes_nothing(ledger_url):
    first = Ledger.open(ledger_url)
    try:
        names = set(inspect(first.engine).get_table_names())
        assert names >= TABLES
        with first.engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [
                (HEAD,)
            ]
    finally:
        first.close()
    second = Ledger.open(ledger_url)
    try:
        assert set(inspect(second.engine).get_table_names()) >= TABLES
        with second.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        second.close()


def test_a_batch_commits_documents_movements_rejects_and_stock_together(ledger, store):
    with ledger.batch(store, "interstock", "run-1") as batch:
        ids = batch.add_documents([document("b1"), document("b2")])
        batch.add_movements(
            moves(store, "run-1", "b1", [("A", 5000, "receipt"), ("B", -1500, "sale")])
        )
        batch.add_movements(moves(store, "run-1", "b2", [("A", -2000, "sale")]))
        batch.add_rejects(
            pa.array(["b1", "b2", "b2"]),
            pa.array([3, 2, 7], pa.int64()),
            pa.array(["x\t?", "9\t1", "y"]),
            pa.array(["not a number", "unknown reference", "missing quantity"]),
        )
        batch.set_cursor("catalogue_digest", "abc")
        # Nothing is visible to other connections before the commit.
        assert ledger.known_documents(store, ["b1", "b2"]) == {}
    assert set(ids) == {"b1", "b2"}

    known = ledger.known_documents(store, ["b1", "b2", "b3"])
    assert set(known) == {"b1", "b2"}
    assert known["b1"].status == "applied"
    assert known["b1"].run_id == "run-1"
    assert known["b1"].lines_rejected == 1
    assert known["b2"].lines_rejected == 2
    with ledger.engine.connect() as connection:
        applied = dict(
            connection.execute(
                select(documents.c.batch_id, documents.c.lines_applied).where(
                    documents.c.store == store
                )
            ).all()
        )
    assert applied == {"b1": 2, "b2": 1}
    assert levels(ledger, store) == {"A": (3000, 0), "B": (-1500, 0)}
    assert ledger.rejects_of(known["b2"].id).to_pylist() == [
        {"line": 2, "raw": "9\t1", "reason": "unknown reference"},
        {"line": 7, "raw": "y", "reason": "missing quantity"},
    ]
    assert ledger.cursor(store, "interstock", "catalogue_digest") == "abc"
    assert count(ledger, movements, store) == 3


def test_an_exception_inside_a_batch_leaves_nothing_behind(ledger, store):
    apply(ledger, store, "before", [("A", 1000, "receipt")])
    with (
        pytest.raises(RuntimeError, match="power cut"),
        ledger.batch(store, "interstock", "run-2") as batch,
    ):
        batch.add_documents([document("b1")])
        batch.add_movements(moves(store, "run-2", "b1", [("A", 4000, "receipt")]))
        batch.add_rejects(
            pa.array(["b1"]), pa.array([2], pa.int64()), pa.array(["?"]), pa.array(["bad"])
        )
        batch.set_cursor("catalogue_digest", "new")
        raise RuntimeError("power cut")
    assert set(ledger.known_documents(store, ["before", "b1"])) == {"before"}
    assert levels(ledger, store) == {"A": (1000, 0)}
    assert count(ledger, movements, store) == 1
    assert count(ledger, rejects, store) == 0
    assert count(ledger, cursors, store) == 0


def test_the_same_batch_cannot_be_applied_twice(ledger, store):
    apply(ledger, store, "b1", [("A", 1000, "receipt")])
    with (
        pytest.raises(LedgerError, match="nothing from this batch was applied"),
        ledger.batch(store, "interstock", "run-2") as batch,
    ):
        batch.add_documents([document("other"), document("b1")])
        batch.add_movements(moves(store, "run-2", "other", [("A", 7000, "receipt")]))
    assert levels(ledger, store) == {"A": (1000, 0)}
    assert set(ledger.known_documents(store, ["b1", "other"])) == {"b1"}
    assert count(ledger, movements, store) == 1
    # Another store may hold a document with the same batch id.
    apply(ledger, f"{store}-2", "b1", [("A", 2000, "receipt")])
    assert levels(ledger, f"{store}-2") == {"A": (2000, 0)}


def test_store_lock_excludes_a_second_holder_and_is_released(ledger_url, store):
    # Two ledgers = two engines, as two processes would have.
    first, second = Ledger.open(ledger_url), Ledger.open(ledger_url)
    try:
        with first.lock(store, "interstock"):
            with pytest.raises(StoreBusyError, match=store), second.lock(store, "interstock"):
                pytest.fail("the second holder got the lock")
            with second.lock(f"{store}-other", "interstock"):  # other stores are not blocked
                pass
        # Released: now the second holds it and the first is turned away.
        with (
            second.lock(store, "interstock"),
            pytest.raises(StoreBusyError),
            first.lock(store, "interstock"),
        ):
            pass
        with first.lock(store, "interstock"):
            pass
    finally:
        first.close()
        second.close()


def test_store_lock_is_released_when_the_body_raises(ledger_url, store):
    first, second = Ledger.open(ledger_url), Ledger.open(ledger_url)
    try:
        with pytest.raises(ValueError), first.lock(store, "interstock"):
            raise ValueError("boom")
        with second.lock(store, "interstock"):
            pass
    finally:
        first.close()
        second.close()


def test_reservations_and_releases_change_reserved_not_on_hand(ledger, store):
    apply(
        ledger,
        store,
        "b1",
        [
            ("A", 10_000, "receipt"),
            ("A", -3000, "sale"),
            ("A", 2000, "reservation"),
            ("A", 500, "reservation"),
            ("A", -1000, "release"),
            ("B", 1000, "reservation"),
        ],
    )
    apply(ledger, store, "b2", [("A", 1000, "return"), ("B", -1000, "release")])
    assert levels(ledger, store) == {"A": (8000, 1500), "B": (0, 0)}


def test_history_and_movements_of_return_what_was_applied(ledger, store):
    ledger.start_run("run-1", store, "interstock")
    apply(ledger, store, "b1", [("A", 2000, "receipt"), ("B", 1000, "receipt")], "run-1")
    counts = {
        "files_applied": 1,
        "files_duplicate": 0,
        "files_quarantined": 0,
        "lines_applied": 2,
        "lines_rejected": 0,
        "negative_references": 0,
    }
    ledger.finish_run("run-1", "completed", counts, "ok")
    ledger.start_run("run-2", store, "interstock")
    apply(ledger, store, "b2", [("X", 1, "receipt"), ("A", -500, "sale")], "run-2")
    ledger.finish_run("run-2", "failed", dict(counts, lines_applied=2), "it broke")
    ledger.start_run("run-3", f"{store}-other", "interstock")

    history = ledger.history(store)
    assert {row["run_id"] for row in history} == {"run-1", "run-2"}
    by_id = {row["run_id"]: row for row in history}
    assert by_id["run-1"]["state"] == "completed"
    assert by_id["run-1"]["files_applied"] == 1
    assert by_id["run-1"]["finished_at"] is not None
    assert by_id["run-2"]["state"] == "failed"
    assert by_id["run-2"]["message"] == "it broke"
    assert {row["run_id"] for row in ledger.history()} >= {"run-1", "run-2", "run-3"}
    assert len(ledger.history(store, limit=1)) == 1

    found = ledger.movements_of(store, "A")
    assert sorted(
        (row["document"], row["line"], row["quantity"], row["run_id"]) for row in found
    ) == [
        ("b1.txt", 1, 2000, "run-1"),
        ("b2.txt", 2, -500, "run-2"),
    ]
    assert {row["kind"] for row in found} == {"receipt", "sale"}
    assert ledger.movements_of(store, "nothing") == []
    assert ledger.movements_of(f"{store}-other", "A") == []


def test_references_are_exact_text_on_every_database(ledger, store):
    # MariaDB's default collation once merged these pairs into one stock row.
    references = ["abc", "ABC", "e", "é", "Straße", "STRASSE", "0001234", "1234"]
    rows = [(ref, (n + 1) * 1000, "receipt") for n, ref in enumerate(references)]
    apply(ledger, store, "b1", rows)
    assert levels(ledger, store) == {ref: ((n + 1) * 1000, 0) for n, ref in enumerate(references)}
    assert [m["quantity"] for m in ledger.movements_of(store, "ABC")] == [2000]
    assert [m["quantity"] for m in ledger.movements_of(store, "é")] == [4000]


def test_quantities_stay_exact(ledger, store):
    apply(ledger, store, "tenths", [("A", 100, "receipt")] * 1000)
    apply(ledger, store, "thousandths", [("B", 1, "receipt")] * 999 + [("B", -1, "sale")] * 3)
    huge = 999_999_999_999_999  # 999 999 999 999.999: twelve digits and three decimals
    apply(ledger, store, "huge", [("C", huge, "receipt"), ("D", -huge, "sale")])
    assert levels(ledger, store) == {
        "A": (100_000, 0),
        "B": (996, 0),
        "C": (huge, 0),
        "D": (-huge, 0),
    }
    with ledger.engine.connect() as connection:
        total = connection.execute(
            select(func.sum(movements.c.quantity)).where(
                movements.c.store == store, movements.c.reference == "A"
            )
        ).scalar()
    assert int(total) == 100_000


AWKWARD_TEXT = [
    "",
    'a "quoted" word',
    "back\\slash \\u0041 \\n",
    "".join(chr(code) for code in range(1, 0x20)),
    "tab\there, newline\nthere, CR\rthere",
    "null",
    "[1, 2]",
    "L'été à Noël: 9 € 😀",
    "x" * 500,
]


@pytest.mark.parametrize("rows", [1, len(AWKWARD_TEXT), 250_001])
def test_bulk_writes_keep_every_character_and_row(ledger, store, rows):
    """The bulk paths (SQLite JSON, PostgreSQL COPY, MariaDB multi-row INSERT) with text that
    breaks naive quoting, a single row (every column constant) and more than two slices."""
    raw = [AWKWARD_TEXT[i % len(AWKWARD_TEXT)] for i in range(rows)]
    with ledger.batch(store, "interstock", "run-1") as batch:
        ids = batch.add_documents([document("odd")])
        batch.add_rejects(
            pa.array(["odd"] * rows),
            pa.array(np.arange(1, rows + 1)),
            pa.array(raw, pa.string()),
            pa.array([f"reason {i % 7}" for i in range(rows)], pa.string()),
        )
    back = ledger.rejects_of(ids["odd"])
    assert back.column("line").to_pylist() == list(range(1, rows + 1))
    assert back.column("raw").to_pylist() == raw
    assert back.column("reason").to_pylist() == [f"reason {i % 7}" for i in range(rows)]


def test_an_in_memory_ledger_takes_bulk_writes():
    memory = Ledger.open("sqlite://")
    try:
        apply(memory, "s", "b1", [("A", 1000, "receipt"), ("B", -2000, "sale")])
        assert levels(memory, "s") == {"A": (1000, 0), "B": (-2000, 0)}
    finally:
        memory.close()


def test_sqlite_keeps_text_holding_nul(sqlite_url, store):
    """JSON cannot carry U+0000 into SQLite (json_extract stops there): such a slice goes row
    by row. (PostgreSQL text cannot hold NUL at all; error files show it as U+2400.)"""
    ledger = Ledger.open(sqlite_url)
    try:
        with ledger.batch(store, "interstock", "run-1") as batch:
            ids = batch.add_documents([document("nul")])
            batch.add_rejects(
                pa.array(["nul"] * 2),
                pa.array([1, 2]),
                pa.array(["before\x00after", "plain"]),
                pa.array(["r", "r"]),
            )
        assert ledger.rejects_of(ids["nul"]).column("raw").to_pylist() == [
            "before\x00after",
            "plain",
        ]
    finally:
        ledger.close()


def test_readers_do_not_wait_for_an_open_batch(ledger, store):
    # `stockbridge history` during a long run must answer at once (SQLite: WAL readers).
    apply(ledger, store, "b0", [("A", 1000, "receipt")])
    with ledger.batch(store, "interstock", "run-2") as batch:
        batch.add_documents([document("b1")])
        batch.add_movements(moves(store, "run-2", "b1", [("A", 1000, "receipt")]))
        assert levels(ledger, store) == {"A": (1000, 0)}
        assert ledger.history(store) == []
        assert set(ledger.known_documents(store, ["b0", "b1"])) == {"b0"}
        assert [row["document"] for row in ledger.movements_of(store, "A")] == ["b0.txt"]
    assert levels(ledger, store) == {"A": (2000, 0)}
