"""Ledger migrations keep what an existing ledger holds, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select

from stockbridge.ledger.database import MIGRATIONS, create_ledger_engine, migrate
from stockbridge.ledger.ledger import Ledger, NewDocument
from stockbridge.ledger.tables import documents, movements, stock
from stockbridge.movements import Document, movement_table
from tests.fixtures import IN_CI, MARIADB_ADMIN, POSTGRES_ADMIN

WHEN = datetime(2026, 11, 2, 9, 30)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def empty_ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, with no table yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    name = f"stockbridge_migrate_{uuid.uuid4().hex[:8]}"
    if request.param == "postgresql":
        admin_url = POSTGRES_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1)
        url, drop = admin_url.rsplit("/", 1)[0] + f"/{name}", f"DROP DATABASE {name} WITH (FORCE)"
        create = f"CREATE DATABASE {name}"
    else:
        admin_url = MARIADB_ADMIN.replace("mysql://", "mysql+pymysql://", 1)
        url, drop = admin_url.rstrip("/") + f"/{name}?charset=utf8mb4", f"DROP DATABASE {name}"
        create = f"CREATE DATABASE {name} CHARACTER SET utf8mb4"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(create)
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"{request.param} is not reachable: {exc}", pytrace=False)
        pytest.skip(f"{request.param} is not reachable: {exc}")
    yield url
    with admin.connect() as connection:
        connection.exec_driver_sql(drop)
    admin.dispose()


def _alembic(engine: sa.Engine, action, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config, revision)


def _contents(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every row, in the columns revision 0002 has."""
    older_documents = [c for c in documents.c if c.name != "occurred_at"]
    newer = ("source_reference", "origin_document_id", "origin_line")  # revision 0005's
    older_movements = [c for c in movements.c if c.name not in newer]
    with engine.connect() as connection:
        return {
            "stock": sorted(connection.execute(select(stock)).all()),
            "documents": sorted(connection.execute(select(*older_documents)).all()),
            "movements": sorted(connection.execute(select(*older_movements)).all()),
        }


def test_article_order_migration_keeps_every_row_and_can_be_undone(empty_ledger_url):
    engine = create_ledger_engine(empty_ledger_url)
    try:
        _alembic(engine, command.upgrade, "0002")
        with engine.begin() as connection:
            connection.execute(
                documents.insert(),
                [
                    {
                        "id": number,
                        "store": "paris",
                        "integration": "interstock",
                        "batch_id": f"batch-{number}",
                        "source": "interstock:/in",
                        "document": f"f{number}.txt",
                        "digest": "d" * 64,
                        "status": "archived",
                        "lines_applied": 2,
                        "lines_rejected": 0,
                        "run_id": "run-1",
                        "applied_at": WHEN,
                    }
                    for number in (101, 102)  # clear of the ids a sequence hands out
                ],
            )
            connection.execute(
                movements.insert(),
                [
                    {
                        "document_id": document_id,
                        "line": line,
                        "store": "paris",
                        "reference": reference,
                        "quantity": quantity,
                        "kind": "sale",
                        "occurred_at": WHEN,
                    }
                    for document_id, line, reference, quantity in [
                        (101, 1, "B", -1000),
                        (101, 2, "A", -2500),
                        (102, 1, "A", 4000),
                        (102, 2, "b", -1),
                    ]
                ],
            )
            connection.execute(
                stock.insert(),
                [
                    {"store": "paris", "reference": ref, "on_hand": on_hand, "reserved": 0}
                    | {"updated_at": WHEN}
                    for ref, on_hand in [("A", 1500), ("B", -1000), ("b", -1)]
                ],
            )
        before = _contents(engine)

        migrate(engine)

        assert _contents(engine) == before
        assert inspect(engine).get_pk_constraint("movements")["constrained_columns"] == [
            "store",
            "reference",
            "document_id",
            "line",
        ]
        assert "ix_documents_store_status" in {
            index["name"] for index in inspect(engine).get_indexes("documents")
        }
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                definitions = dict(
                    connection.exec_driver_sql(
                        "SELECT name, sql FROM sqlite_master WHERE name IN ('movements', 'stock')"
                    ).all()
                )
            assert all("WITHOUT ROWID" in sql for sql in definitions.values())
        ledger = Ledger(engine)
        assert [m["quantity"] for m in ledger.movements_of("paris", "A")] == [4000, -2500]
        assert ledger.stock("paris").column("reference").to_pylist() == ["A", "B", "b"]

        later = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
        with ledger.batch("lyon", "interstock", "run-2") as batch:
            batch.add_documents(
                [NewDocument("later", "interstock:/in", "g.txt", "e" * 64, occurred_at=later)]
            )
            batch.add_movements(
                movement_table(
                    store="lyon",
                    run_id="run-2",
                    references=pa.array(["A"]),
                    quantities=np.array([1000]),
                    kinds=pa.array(["receipt"]),
                    lines=np.array([1]),
                    documents=[Document("later", "interstock:/in", "g.txt", later)],
                    document_index=np.zeros(1, dtype=np.int64),
                )
            )
        stored = select(movements.c.occurred_at).where(movements.c.store == "lyon")
        with engine.connect() as connection:
            assert connection.execute(stored).scalar_one() is None  # the document's time
        assert ledger.movements_of("lyon", "A")[0]["occurred_at"] == later.replace(tzinfo=None)

        _alembic(engine, command.downgrade, "0002")
        with engine.connect() as connection:
            assert connection.execute(stored).scalar_one() == later.replace(tzinfo=None)
            connection.execute(movements.delete().where(movements.c.store == "lyon"))
            connection.execute(documents.delete().where(documents.c.store == "lyon"))
            connection.execute(stock.delete().where(stock.c.store == "lyon"))
            connection.commit()
        assert _contents(engine) == before
        assert inspect(engine).get_pk_constraint("movements")["constrained_columns"] == [
            "document_id",
            "line",
        ]
    finally:
        engine.dispose()


def test_keyed_text_compares_bytewise_on_every_database(empty_ledger_url):
    """The export and Arrow sort bytewise; so must the keys the ledger reads them in.

    On PostgreSQL that is revision 0004's ``COLLATE "C"`` (checked in the catalogue, as a
    ``C.UTF-8`` database would sort these the same way without it); downgrading restores
    the database's default.
    """
    engine = create_ledger_engine(empty_ledger_url)
    try:
        migrate(engine)
        references = ["Z", "a", "b", "É", "é", "ä", "0", "A"]
        with engine.begin() as connection:
            connection.execute(
                stock.insert(),
                [
                    {"store": "paris", "reference": r, "on_hand": 0, "reserved": 0}
                    | {"updated_at": WHEN}
                    for r in references
                ],
            )
            listed = connection.execute(
                select(stock.c.reference).order_by(stock.c.store, stock.c.reference)
            ).scalars()
            assert list(listed) == sorted(references, key=lambda r: r.encode())
        if engine.dialect.name != "postgresql":
            return
        collations = sa.text(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns"
            " WHERE table_name IN ('movements', 'stock') AND column_name IN ('store', 'reference')"
        )
        with engine.connect() as connection:
            assert {row[2] for row in connection.execute(collations)} == {"C"}
        _alembic(engine, command.downgrade, "0003")
        with engine.connect() as connection:
            assert {row[2] for row in connection.execute(collations)} == {None}
    finally:
        engine.dispose()
