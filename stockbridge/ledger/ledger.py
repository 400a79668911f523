"""The stock ledger: what was applied, when, from where, and the stock it adds up to.

Writes happen in :class:`Batch` transactions: documents, their movements and rejects, and
the resulting stock deltas commit together or not at all. That commit is the single point
at which an input counts as applied; archiving and error files follow it and are safe to
repeat.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from stockbridge.errors import LedgerError
from stockbridge.ledger import bulk
from stockbridge.ledger.database import (
    READ_ONLY,
    create_ledger_engine,
    describe,
    migrate,
    require_current_schema,
    safe_url,
    store_lock,
)
from stockbridge.ledger.tables import (
    cursors,
    documents,
    movements,
    rejects,
    runs,
    stock,
)
from stockbridge.movements import decimal_to_quantities
from stockbridge.schema import MovementKind

LOOKUP_CHUNK = 500
MOVEMENTS_PER_WRITE = 12_000_000
"""Movements a batch collects before writing them (about 60 bytes each in Arrow memory).

Each write sweeps the whole audit table, however few rows it brings (they spread over every
article), so fewer, larger writes win: measured on 10M lines, 3 writes 37 s, 1 write 28 s.
"""
STOCK_ROW = pa.struct(
    [("reference", pa.string()), ("on_hand", pa.int64()), ("reserved", pa.int64())]
)
SKIPPED_RUN_WAIT = 1.0
"""Seconds a skipped run waits (SQLite) to write its line in the history."""


def utc_now() -> datetime:
    """Naive UTC, the ledger's time convention."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class DocumentRecord:
    """What the ledger knows of an input it has seen before."""

    id: int
    batch_id: str
    document: str
    status: str
    archived_to: str | None
    error_file: str | None
    run_id: str
    applied_at: datetime
    lines_rejected: int


@dataclass(frozen=True)
class UnarchivedDocument:
    """A document applied by a run that did not get to record where its file went."""

    id: int
    batch_id: str
    document: str
    digest: str
    source: str
    lines_rejected: int


@dataclass
class NewDocument:
    batch_id: str
    source: str
    document: str
    digest: str
    status: str = "applied"
    encoding: str | None = None
    note: str | None = None
    lines_applied: int = 0
    lines_rejected: int = 0
    occurred_at: datetime | None = None
    """The document's own time (a file's modification time); its movements refer to it."""


class Ledger:
    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Ledger:
        """The ledger for a run: created and migrated as needed."""
        engine = create_ledger_engine(url)
        migrate(engine)
        return cls(engine)

    @classmethod
    def open_existing(cls, url: str) -> Ledger:
        """The ledger for a command that reads (history, movements, stock, rejects): nothing
        is created or migrated; a missing or older ledger is a :class:`LedgerError`."""
        engine = create_ledger_engine(url, create=False)
        try:
            require_current_schema(engine)
        except LedgerError:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def display(self) -> str:
        return safe_url(self.engine.url)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def lock(self, store: str, integration: str) -> Iterator[None]:
        """One run (or command) of a store's integration at a time; other integrations of
        the same store keep their own lock (InterStock's name stays the store id alone, so a
        ledger shared with an older stockbridge still excludes it)."""
        name = store if integration == "interstock" else f"{store}.{integration}"
        with store_lock(self.engine, name):
            yield

    @contextmanager
    def _connect(self, write: bool) -> Iterator[Connection]:
        try:
            if write:
                with self.engine.begin() as connection:
                    yield connection
            else:
                with self.engine.connect() as connection:
                    connection.execution_options(**{READ_ONLY: True})
                    yield connection
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise LedgerError(f"ledger {self.display} failed: {describe(exc)}") from exc

    # -- exactly once --------------------------------------------------------------------

    def known_documents(self, store: str, batch_ids: Iterable[str]) -> dict[str, DocumentRecord]:
        wanted = list(dict.fromkeys(batch_ids))
        found: dict[str, DocumentRecord] = {}
        with self._connect(write=False) as connection:
            for start in range(0, len(wanted), LOOKUP_CHUNK):
                chunk = wanted[start : start + LOOKUP_CHUNK]
                query = select(
                    documents.c.id,
                    documents.c.batch_id,
                    documents.c.document,
                    documents.c.status,
                    documents.c.archived_to,
                    documents.c.error_file,
                    documents.c.run_id,
                    documents.c.applied_at,
                    documents.c.lines_rejected,
                ).where(documents.c.store == store, documents.c.batch_id.in_(chunk))
                for row in connection.execute(query):
                    found[row.batch_id] = DocumentRecord(*row)
        return found

    @contextmanager
    def batch(self, store: str, integration: str, run_id: str) -> Iterator[Batch]:
        """One transaction: everything added inside commits together at the end."""
        try:
            with self._connect(write=True) as connection:
                batch = Batch(connection, store, integration, run_id)
                yield batch
                batch.finish()
        except IntegrityError as exc:
            raise LedgerError(
                "some of these files were applied by another run at the same moment; nothing"
                " from this batch was applied, the next run will sort them out"
            ) from exc

    def unarchived_documents(self, store: str) -> list[UnarchivedDocument]:
        """Documents committed but not (yet) recorded as archived: status 'applied'."""
        with self._connect(write=False) as connection:
            rows = connection.execute(
                select(
                    documents.c.id,
                    documents.c.batch_id,
                    documents.c.document,
                    documents.c.digest,
                    documents.c.source,
                    documents.c.lines_rejected,
                )
                .where(documents.c.store == store, documents.c.status == "applied")
                .order_by(documents.c.id)
            ).all()
        return [UnarchivedDocument(*row) for row in rows]

    def mark_archived(self, store: str, archived: dict[str, tuple[str, str | None]]) -> None:
        """Record, by batch id, where applied documents and their error files went."""
        if not archived:
            return
        with self._connect(write=True) as connection:
            connection.execute(
                update(documents)
                .where(documents.c.store == store, documents.c.batch_id == bindparam("b_batch"))
                .values(
                    status="archived",
                    archived_to=bindparam("b_target"),
                    error_file=bindparam("b_errors"),
                ),
                [
                    {"b_batch": b, "b_target": target, "b_errors": errors}
                    for b, (target, errors) in archived.items()
                ],
            )

    def rejects_of(self, document_id: int) -> pa.Table:
        with self._connect(write=False) as connection:
            rows = connection.execute(
                select(rejects.c.line, rejects.c.raw, rejects.c.reason)
                .where(rejects.c.document_id == document_id)
                .order_by(rejects.c.line)
            ).all()
        return pa.table(
            {
                "line": pa.array([r.line for r in rows], pa.int64()),
                "raw": pa.array([r.raw for r in rows], pa.string()),
                "reason": pa.array([r.reason for r in rows], pa.string()),
            }
        )

    # -- stock ----------------------------------------------------------------------------

    def stock(self, store: str) -> pa.Table:
        """reference, on_hand, reserved (thousandths) for every article of the store, sorted
        by reference (bytewise, as Arrow sorts)."""
        with self._connect(write=False) as connection:
            table = _stock_as_text(connection, store)
            if table is None:
                # The driver's own cursor: SQLAlchemy's row objects cost a second per million.
                cursor = connection.connection.driver_connection.cursor()
                try:
                    cursor.execute(
                        "SELECT reference, on_hand, reserved FROM stock WHERE store = "
                        f"{bulk.placeholder(connection)}",
                        (store,),
                    )
                    rows = cursor.fetchall()
                finally:
                    cursor.close()
                table = pa.Table.from_struct_array(pa.array(rows, type=STOCK_ROW))
        if table.num_rows > 1 and not _ascending(table.column("reference")):
            table = table.sort_by("reference")
        return table

    def references(self, store: str) -> pa.Array:
        return self.stock(store).column("reference").combine_chunks()

    # -- cursors --------------------------------------------------------------------------

    def cursor(self, store: str, integration: str, name: str) -> str | None:
        with self._connect(write=False) as connection:
            return connection.execute(
                select(cursors.c.value).where(
                    cursors.c.store == store,
                    cursors.c.integration == integration,
                    cursors.c.name == name,
                )
            ).scalar()

    def set_cursor(self, store: str, integration: str, name: str, value: str) -> None:
        with self._connect(write=True) as connection:
            _upsert_cursor(connection, store, integration, name, value)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A plain write transaction, for an integration's own tables (links, items)."""
        with self._connect(write=True) as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self._connect(write=False) as connection:
            yield connection

    # -- runs and history -----------------------------------------------------------------

    def start_run(self, run_id: str, store: str, integration: str) -> None:
        with self._connect(write=True) as connection:
            # A plain read first: on MariaDB a DELETE finding no row takes a gap lock, and two
            # stores' runs starting at once then deadlock on their INSERTs (chain stores did).
            known = select(runs.c.run_id).where(runs.c.run_id == run_id)
            if connection.execute(known).first() is not None:
                connection.execute(runs.delete().where(runs.c.run_id == run_id))
            connection.execute(
                runs.insert().values(
                    run_id=run_id,
                    store=store,
                    integration=integration,
                    started_at=utc_now(),
                    state="running",
                    files_applied=0,
                    files_duplicate=0,
                    files_quarantined=0,
                    lines_applied=0,
                    lines_rejected=0,
                    negative_references=0,
                    lines_held=0,
                )
            )

    def finish_run(self, run_id: str, state: str, counts: dict[str, int], message: str) -> None:
        with self._connect(write=True) as connection:
            connection.execute(
                update(runs)
                .where(runs.c.run_id == run_id)
                .values(finished_at=utc_now(), state=state, message=message, **counts)
            )

    def record_skipped(self, run_id: str, store: str, integration: str, message: str) -> None:
        """A run that found the store busy still appears in the history.

        A courtesy that must not hold the skipped run up: on SQLite the lock holder may keep
        the database's write lock through a long batch, so the write waits briefly, then
        gives up with a :class:`LedgerError`.
        """
        ledger = self
        if self.engine.dialect.name == "sqlite":
            url = self.engine.url.render_as_string(hide_password=False)
            ledger = Ledger(create_ledger_engine(url, busy_timeout=SKIPPED_RUN_WAIT))
        try:
            ledger.start_run(run_id, store, integration)
            ledger.finish_run(run_id, "skipped", {}, message)
        finally:
            if ledger is not self:
                ledger.close()

    def history(self, store: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        query = select(runs).order_by(runs.c.started_at.desc()).limit(limit)
        if store:
            query = query.where(runs.c.store == store)
        with self._connect(write=False) as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def movements_of(self, store: str, reference: str, limit: int = 50) -> list[dict[str, Any]]:
        origin = documents.alias("origin")
        query = (
            select(
                func.coalesce(
                    movements.c.occurred_at, documents.c.occurred_at, documents.c.applied_at
                ).label("occurred_at"),
                movements.c.quantity,
                movements.c.kind,
                movements.c.line,
                movements.c.source_reference,
                movements.c.origin_line,
                origin.c.document.label("origin_document"),
                documents.c.document,
                documents.c.source,
                documents.c.run_id,
                documents.c.applied_at,
            )
            .join(documents, documents.c.id == movements.c.document_id)
            .outerjoin(origin, origin.c.id == movements.c.origin_document_id)
            .where(movements.c.store == store, movements.c.reference == reference)
            .order_by(documents.c.applied_at.desc(), documents.c.id.desc(), movements.c.line.desc())
            .limit(limit)
        )
        with self._connect(write=False) as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def rejects_since(
        self, store: str, since: datetime | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Rejected lines of a store, newest document first (then by line), each with its
        document, raw text, reason, run and when it was applied (naive UTC)."""
        query = (
            select(
                documents.c.document,
                rejects.c.line,
                rejects.c.raw,
                rejects.c.reason,
                documents.c.run_id,
                documents.c.applied_at,
            )
            .join(documents, documents.c.id == rejects.c.document_id)
            .where(documents.c.store == store)
            .order_by(documents.c.applied_at.desc(), documents.c.id.desc(), rejects.c.line)
            .limit(limit)
        )
        if since is not None:
            query = query.where(documents.c.applied_at >= since)
        with self._connect(write=False) as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def count_stores(self) -> int:
        with self._connect(write=False) as connection:
            return connection.execute(select(func.count(func.distinct(stock.c.store)))).scalar()


@dataclass
class Batch:
    """The open transaction of :meth:`Ledger.batch`; add documents first, then their lines."""

    connection: Connection
    store: str
    integration: str
    run_id: str
    _ids: dict[str, int] = field(default_factory=dict)
    _counts: dict[str, list[int]] = field(default_factory=dict)
    _deltas: list[pa.Table] = field(default_factory=list)
    _times: dict[int, datetime] = field(default_factory=dict)
    _pending: list[pa.Table] = field(default_factory=list)
    held: dict[str, int] = field(default_factory=dict)
    """Lines held so far (recorded, waiting for a link), per batch id."""
    notes: dict[str, str] = field(default_factory=dict)
    """What a mapping wants said of a document (lines it left out and why), per batch id."""

    @property
    def counts(self) -> dict[str, list[int]]:
        """Lines applied and rejected so far, per batch id."""
        return self._counts

    def document_id(self, batch_id: str) -> int:
        return self._ids[batch_id]

    def add_documents(self, new: list[NewDocument]) -> dict[str, int]:
        """Insert document rows; returns their ledger ids by batch id."""
        if not new:
            return {}
        now = utc_now()
        rows = [
            {
                "store": self.store,
                "integration": self.integration,
                "batch_id": d.batch_id,
                "source": d.source,
                "document": d.document,
                "digest": d.digest,
                "status": d.status,
                "encoding": d.encoding,
                "note": d.note,
                "lines_applied": 0,
                "lines_rejected": 0,
                "run_id": self.run_id,
                "applied_at": now,
                "occurred_at": _naive_utc(d.occurred_at),
            }
            for d in new
        ]
        self.connection.execute(documents.insert(), rows)
        wanted = [d.batch_id for d in new]
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            query = select(documents.c.batch_id, documents.c.id).where(
                documents.c.store == self.store, documents.c.batch_id.in_(chunk)
            )
            self._ids.update({row.batch_id: row.id for row in self.connection.execute(query)})
        for d in new:
            self._counts.setdefault(d.batch_id, [0, 0])
            if d.occurred_at is not None:
                self._times[self._ids[d.batch_id]] = _naive_utc(d.occurred_at)
        return {d.batch_id: self._ids[d.batch_id] for d in new}

    def add_movements(self, table: pa.Table) -> None:
        """Append canonical movements (``stockbridge.schema.MOVEMENT_SCHEMA``)."""
        if table.num_rows == 0:
            return
        quantity = decimal_to_quantities(table.column("quantity"))
        document_ids = self._document_ids(table.column("batch_id"))
        rows = pa.table(
            {
                "store": table.column("store"),
                "reference": table.column("reference"),
                "document_id": pa.array(document_ids, pa.int64()),
                "line": table.column("line"),
                "quantity": pa.array(quantity, pa.int64()),
                "kind": table.column("kind"),
            }
        )
        occurred_at = self._own_times(document_ids, table.column("occurred_at"))
        if occurred_at.null_count < len(occurred_at):
            rows = rows.append_column("occurred_at", occurred_at)
        amount = table.column("amount")
        if amount.null_count < len(amount):
            mask = pc.is_null(amount).to_numpy(zero_copy_only=False)
            rows = rows.append_column(
                "amount", pa.array(decimal_to_quantities(amount), pa.int64(), mask=mask)
            )
        for optional in ("currency", "document_number", "source_reference"):
            if table.column(optional).null_count < len(table):
                rows = rows.append_column(optional, table.column(optional))
        for origin in ("origin_document_id", "origin_line"):  # the ledger's own, not canonical
            if origin in table.column_names:
                rows = rows.append_column(origin, table.column(origin))
        self._pending.append(rows)
        if sum(pending.num_rows for pending in self._pending) >= MOVEMENTS_PER_WRITE:
            self._write_movements()
        batch_of = {document_id: batch_id for batch_id, document_id in self._ids.items()}
        present, counts = np.unique(document_ids, return_counts=True)
        for document_id, count in zip(present.tolist(), counts.tolist(), strict=True):
            self._counts[batch_of[document_id]][0] += count

    def add_rejects(self, batch_ids: pa.Array, lines: pa.Array, raw: pa.Array, reasons: pa.Array):
        if len(lines) == 0:
            return
        rows = pa.table(
            {
                "document_id": pa.array(self._document_ids(batch_ids), pa.int64()),
                "line": lines,
                "raw": raw,
                "reason": reasons,
            }
        )
        bulk.insert_rows(self.connection, "rejects", rows)
        for item in pc.value_counts(batch_ids).to_pylist():
            self._counts[item["values"]][1] += item["counts"]

    def add_held(self, table: pa.Table) -> None:
        """Record source lines as they came (``stockbridge.schema.HELD_SCHEMA``): those
        waiting for a link, and those whose movement was made, for the source's own view
        (a till's sales and revenue)."""
        if table.num_rows == 0:
            return
        document_ids = self._document_ids(table.column("batch_id"))
        rows = pa.table(
            {
                "document_id": pa.array(document_ids, pa.int64()),
                "line": table.column("line"),
                "store": pa.repeat(pa.scalar(self.store), table.num_rows),
                "integration": pa.repeat(pa.scalar(self.integration), table.num_rows),
                "source_reference": table.column("source_reference"),
                "label": table.column("label"),
                "quantity": pa.array(decimal_to_quantities(table.column("quantity")), pa.int64()),
                "kind": table.column("kind"),
                "occurred_at": pc.cast(table.column("occurred_at"), pa.timestamp("us")),
                "amount": _milli_or_null(table.column("amount")),
                "currency": table.column("currency"),
                "document_number": table.column("document_number"),
                "status": table.column("status"),
                "reference": table.column("reference"),
            }
        )
        bulk.insert_rows(self.connection, "held_lines", rows)
        waiting = table.filter(pc.equal(table.column("status"), "held")).column("batch_id")
        for item in pc.value_counts(waiting.combine_chunks().cast(pa.string())).to_pylist():
            self.held[item["values"]] = self.held.get(item["values"], 0) + item["counts"]

    def set_cursor(self, name: str, value: str) -> None:
        """Move a cursor in the same transaction as the movements it accounts for."""
        _upsert_cursor(self.connection, self.store, self.integration, name, value)

    def _write_movements(self) -> None:
        """Write what :meth:`add_movements` collected, sorted by reference.

        The table is keyed in article order, so each write sweeps it once from end to end;
        collecting millions of rows first makes a huge file one sweep instead of ten.
        """
        if not self._pending:
            return
        rows = pa.concat_tables(self._pending, promote_options="default")
        self._pending = []
        order, keys = _article_order(rows)
        self._deltas.append(_stock_deltas(rows, order, keys))
        bulk.insert_rows(self.connection, "movements", rows, order=order)

    def finish(self) -> None:
        self._write_movements()
        if self._deltas:
            totals = (
                pa.concat_tables(self._deltas)
                .group_by("reference")
                .aggregate([("on_hand", "sum"), ("reserved", "sum")])
                .sort_by("reference")
            )
            size = totals.num_rows
            deltas = pa.table(
                {
                    "store": pa.repeat(pa.scalar(self.store), size),
                    "reference": totals.column("reference"),
                    "on_hand": totals.column("on_hand_sum"),
                    "reserved": totals.column("reserved_sum"),
                    "updated_at": pa.repeat(pa.scalar(utc_now(), pa.timestamp("us")), size),
                }
            )
            bulk.add_to_stock(self.connection, deltas)
        if self._counts:
            self.connection.execute(
                update(documents)
                .where(documents.c.id == bindparam("b_batch"))
                .values(
                    lines_applied=bindparam("b_target"), lines_rejected=bindparam("b_rejected")
                ),
                [
                    {"b_batch": self._ids[b], "b_target": c[0], "b_rejected": c[1]}
                    for b, c in self._counts.items()
                ],
            )

    def _own_times(self, document_ids: np.ndarray, times: pa.ChunkedArray) -> pa.Array:
        """The movements' times, null where it is their document's own time."""
        naive = pc.cast(times, pa.timestamp("us")).combine_chunks()
        if not self._times:
            return naive
        ids = np.fromiter(self._times, dtype=np.int64, count=len(self._times))
        document_micros = pa.array(list(self._times.values()), pa.timestamp("us"))
        document_micros = document_micros.cast(pa.int64()).to_numpy()
        order = np.argsort(ids)
        ids, document_micros = ids[order], document_micros[order]
        slot = np.minimum(np.searchsorted(ids, document_ids), len(ids) - 1)
        micros = naive.cast(pa.int64()).to_numpy(zero_copy_only=False)
        same = (ids[slot] == document_ids) & (document_micros[slot] == micros)
        return pa.array(micros, pa.int64(), mask=same).cast(pa.timestamp("us"))

    def _document_ids(self, batch_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Ledger ids of the documents named by ``batch_ids``; a dictionary-encoded column
        (``PER_DOCUMENT``) is looked up once per document, not once per row."""
        if isinstance(batch_ids, pa.ChunkedArray):
            batch_ids = batch_ids.combine_chunks()
        if pa.types.is_dictionary(batch_ids.type):
            per_value = self._document_ids(batch_ids.dictionary)
            return per_value[batch_ids.indices.to_numpy(zero_copy_only=False)]
        keys = list(self._ids)
        positions = pc.index_in(batch_ids, value_set=pa.array(keys, pa.string()))
        if positions.null_count:
            raise ValueError("movement for a document that was not added to this batch")
        lookup = np.array([self._ids[k] for k in keys], dtype=np.int64)
        return lookup[np.asarray(positions.to_numpy(zero_copy_only=False), dtype=np.int64)]


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _stock_as_text(connection: Connection, store: str) -> pa.Table | None:
    """SQLite and PostgreSQL: the stock as three newline-joined texts, split by Arrow.

    One row with three long strings instead of a million tuples: half the time. None when
    the database cannot (MariaDB caps GROUP_CONCAT) or a reference holds a newline.
    """
    dialect = connection.dialect.name
    if dialect == "sqlite":
        # The primary key's scan order is bytewise already; the caller checks it.
        statement = (
            "SELECT count(*), group_concat(reference, char(10)), group_concat(on_hand, char(10)),"
            " group_concat(reserved, char(10)) FROM stock WHERE store = ?"
        )
    elif dialect == "postgresql":
        statement = (
            "SELECT count(*), string_agg(reference, E'\\n'), string_agg(on_hand::text, E'\\n'),"
            " string_agg(reserved::text, E'\\n') FROM (SELECT reference, on_hand, reserved"
            ' FROM stock WHERE store = %s ORDER BY reference COLLATE "C") AS listed'
        )
    else:
        return None
    count, *texts = connection.exec_driver_sql(statement, (store,)).one()
    if count == 0:
        return pa.Table.from_struct_array(pa.array([], type=STOCK_ROW))
    columns = [
        pc.list_flatten(pc.split_pattern(pa.array([text], pa.large_string()), "\n"))
        for text in texts
    ]
    if any(len(column) != count for column in columns):
        return None
    return pa.table(
        {
            "reference": columns[0].cast(pa.string()),
            "on_hand": pc.cast(columns[1], pa.int64()),
            "reserved": pc.cast(columns[2], pa.int64()),
        }
    )


def _ascending(values: pa.ChunkedArray | pa.Array) -> bool:
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return pc.all(pc.less(values[:-1], values[1:])).as_py()


def _article_order(rows: pa.Table) -> tuple[pa.Array, np.ndarray]:
    """Positions that sort ``rows`` by reference (bytewise), keeping their order otherwise,
    and the sorted rank of each row's reference.

    Tables keyed by article take their rows fastest in key order. Sorting the distinct
    references and then small integer ranks is cheaper than sorting a million strings.
    """
    encoded = pc.dictionary_encode(rows.column("reference")).combine_chunks()
    ranks = pc.rank(encoded.dictionary, sort_keys="ascending", tiebreaker="first").to_numpy()
    ranks = ranks.astype(np.int64)
    keys = ranks[encoded.indices.to_numpy()]
    order = np.argsort(keys, kind="stable")
    return pa.array(order, pa.int64()), keys[order]


def _stock_deltas(rows: pa.Table, order: pa.Array, sorted_keys: np.ndarray) -> pa.Table:
    """What ``rows`` add to each article's on hand and reserved, summed exactly (integer
    thousandths) over the runs of equal references that the article order makes."""
    positions = order.to_numpy()
    starts = np.flatnonzero(np.diff(sorted_keys, prepend=-1))
    quantity = rows.column("quantity").to_numpy()[positions]
    reserving = pc.is_in(
        rows.column("kind"),
        value_set=pa.array([k.value for k in MovementKind if k.changes_reserved]),
    ).to_numpy(zero_copy_only=False)[positions]
    return pa.table(
        {
            "reference": rows.column("reference").take(pa.array(positions[starts])),
            "on_hand": np.add.reduceat(np.where(reserving, 0, quantity), starts),
            "reserved": np.add.reduceat(np.where(reserving, quantity, 0), starts),
        }
    )


def _milli_or_null(values: pa.ChunkedArray) -> pa.Array:
    mask = pc.is_null(values).to_numpy(zero_copy_only=False)
    return pa.array(decimal_to_quantities(values.fill_null(0)), pa.int64(), mask=mask)


def _upsert_cursor(
    connection: Connection, store: str, integration: str, name: str, value: str
) -> None:
    if connection.dialect.name in ("mysql", "mariadb"):
        # One statement: an UPDATE finding no row takes a gap lock on InnoDB, and two stores'
        # first cursors inserted into that gap deadlock (concurrent chain stores did).
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        statement = mysql_insert(cursors).values(
            store=store, integration=integration, name=name, value=value, updated_at=utc_now()
        )
        connection.execute(
            statement.on_duplicate_key_update(
                value=statement.inserted.value, updated_at=statement.inserted.updated_at
            )
        )
        return
    where = (cursors.c.store == store, cursors.c.integration == integration, cursors.c.name == name)
    updated = connection.execute(
        update(cursors).where(*where).values(value=value, updated_at=utc_now())
    )
    if updated.rowcount == 0:
        connection.execute(
            cursors.insert().values(
                store=store, integration=integration, name=name, value=value, updated_at=utc_now()
            )
        )
