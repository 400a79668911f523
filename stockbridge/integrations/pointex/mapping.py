"""The till's journal lines as canonical movements and held lines.

Every drink line is recorded as it came (``held_lines``: time, ticket, till code, label,
quantity, the till's amount), so sales and revenue are the till's own figures whatever the
links. A line whose till code is linked to a cellar item also becomes a movement of that
item: a sale takes stock out, a refund (negative quantity) puts it back. Lines of codes not
linked yet are *held*: they wait, they are not rejected; linking the code applies them.

A link may say ``per: N`` (N glasses a bottle). The stock moves by an exact share of a
bottle: each link keeps the running total of till units it applied, and a movement is the
change in ``round(total / per)`` (in thousandths of a bottle), so six sales of a
``per: 6`` glass add up to exactly one bottle, whatever their order or the runs they came
in, and nothing drifts. The running total is read and moved inside the batch's transaction
(under the run's lock), never from a snapshot taken ahead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import bindparam, select, update

from stockbridge.integrations.pointex.journal import JournalError, JournalLayout, parse_journal
from stockbridge.integrations.pointex.repeats import repeated_lines
from stockbridge.ledger.tables import links
from stockbridge.mapping import ParsedFiles
from stockbridge.movements import Document, movement_table, quantities_to_decimal
from stockbridge.schema import HELD_SCHEMA, PER_DOCUMENT, MovementKind

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from stockbridge.ledger.ledger import Batch


@dataclass(frozen=True)
class Link:
    item: str | None
    """None for a code the owner said is not a drink (ignored)."""
    per: int = 1


def share(total: np.ndarray | int, per: np.ndarray | int) -> np.ndarray:
    """Thousandths of a stock unit for ``total`` thousandths of source units, rounded half
    up: the one rounding every glass share derives from."""
    total = np.asarray(total, dtype=np.int64)
    per = np.asarray(per, dtype=np.int64)
    return (2 * total + per) // (2 * per)


def glass_shares(units: np.ndarray, per: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Per line, the stock it takes: the change in ``share`` of its link's running total.

    ``units`` are the lines' till quantities (thousandths) in the order they apply, grouped
    by nothing: ``before`` is each line's link total before the line, which the caller
    derives per link with a cumulative sum.
    """
    return share(before + units, per) - share(before, per)


@dataclass(frozen=True)
class LinkedLines(ParsedFiles):
    """Journal lines mapped ahead; the linked ones get their stock share at commit time."""

    linked: pd.DataFrame | None = None
    """Lines of linked codes: batch_id, line, till_reference, item, per, quantity,
    occurred_at, amount, ticket; in file order."""
    store: str = ""
    run_id: str = ""
    currency: str = "EUR"
    documents: tuple[Document, ...] = ()
    notes: dict[str, str] = field(default_factory=dict)

    def record(self, batch: Batch, reasons: Counter[str]) -> None:
        self._set_aside_repeats(batch)
        if self.linked is not None and len(self.linked):
            movements = apply_linked(
                batch.connection,
                batch.store,
                self.linked,
                self.documents,
                self.run_id,
                self.currency,
            )
            object.__setattr__(self, "movements", movements)
        super().record(batch, reasons)
        for batch_id, note in self.notes.items():
            batch.notes[batch_id] = note

    def _set_aside_repeats(self, batch: Batch) -> None:
        """Lines an earlier journal already brought stay ``repeated`` and move nothing."""
        if self.held is None or self.held.num_rows == 0:
            return
        repeated = repeated_lines(batch.connection, batch.store, batch.integration, self.held)
        if not repeated.any():
            return
        status = pc.if_else(pa.array(repeated), "repeated", self.held.column("status"))
        reference = pc.if_else(
            pa.array(repeated), pa.scalar(None, pa.string()), self.held.column("reference")
        )
        held = self.held.set_column(
            self.held.schema.get_field_index("status"), "status", status
        ).set_column(self.held.schema.get_field_index("reference"), "reference", reference)
        object.__setattr__(self, "held", held)
        batch_ids = held.column("batch_id").combine_chunks().cast(pa.string())
        repeats = pc.filter(batch_ids, pa.array(repeated))
        for item in pc.value_counts(repeats).to_pylist():
            note = (
                f"{item['counts']} line(s) already recorded from an earlier journal (same time,"
                " ticket, code, quantity and amount): not counted again"
            )
            earlier = self.notes.get(item["values"])
            self.notes[item["values"]] = f"{earlier}; {note}" if earlier else note
        if self.linked is not None and len(self.linked):
            lines = pd.DataFrame(
                {
                    "batch_id": batch_ids.to_numpy(zero_copy_only=False),
                    "line": held.column("line").to_numpy(),
                }
            )[repeated]
            keys = set(zip(lines["batch_id"], lines["line"], strict=True))
            batch_of = [self.documents[i].batch_id for i in self.linked["document_index"]]
            keep = [
                (b, int(n)) not in keys for b, n in zip(batch_of, self.linked["line"], strict=True)
            ]
            object.__setattr__(self, "linked", self.linked.loc[keep].reset_index(drop=True))


def apply_linked(
    connection: Connection,
    store: str,
    linked: pd.DataFrame,
    documents: tuple[Document, ...] | list[Document],
    run_id: str,
    currency: str | None,
    origin: pd.DataFrame | None = None,
) -> pa.Table:
    """Movements for lines of linked codes, moving each link's running total.

    ``linked`` has one row per line in the order they apply, with ``document_index`` into
    ``documents``; ``origin`` (optional) gives each line's ``origin_document_id`` and
    ``origin_line`` when the movements are made under another document than the line's.
    """
    codes = sorted(set(linked["till_reference"]))
    totals = dict(
        connection.execute(
            select(links.c.source_reference, links.c.units_applied).where(
                links.c.store == store, links.c.source_reference.in_(codes)
            )
        ).all()
    )
    units = linked["quantity"].to_numpy(dtype=np.int64)
    per = linked["per"].to_numpy(dtype=np.int64)
    running = linked.groupby("till_reference", sort=False)["quantity"].cumsum()
    start = linked["till_reference"].map(totals).fillna(0).to_numpy(dtype=np.int64)
    after = start + running.to_numpy(dtype=np.int64)
    stock = glass_shares(units, per, after - units)
    connection.execute(
        update(links)
        .where(links.c.store == store, links.c.source_reference == bindparam("code"))
        .values(units_applied=bindparam("total")),
        [
            {"code": code, "total": int(total)}
            for code, total in (
                pd.Series(after, index=linked.index)
                .groupby(linked["till_reference"].to_numpy(), sort=False)
                .last()
                .items()
            )
        ],
    )
    table = movement_table(
        store=store,
        run_id=run_id,
        references=pa.array(linked["item"].tolist(), pa.string()),
        quantities=-stock,
        kinds=pa.array(np.where(units >= 0, MovementKind.SALE.value, MovementKind.RETURN.value)),
        lines=linked["line"].to_numpy(dtype=np.int64),
        documents=list(documents),
        document_index=linked["document_index"].to_numpy(dtype=np.int64),
        occurred_at=arrow(linked["occurred_at"], pa.timestamp("us", tz="UTC")),
        amounts=arrow(linked["amount"], pa.int64()),
        currency=currency,
        document_numbers=arrow(linked["ticket"], pa.string()),
        source_references=arrow(linked["till_reference"], pa.string()),
    )
    if origin is not None:
        table = table.append_column(
            "origin_document_id", pa.array(origin["origin_document_id"].tolist(), pa.int64())
        ).append_column("origin_line", pa.array(origin["origin_line"].tolist(), pa.int64()))
    return table


def arrow(values: pd.Series, type_: pa.DataType) -> pa.Array:
    """A column as Arrow (zero-copy for ``pd.ArrowDtype`` columns)."""
    return pa.array(values, from_pandas=True).cast(type_)


@dataclass(frozen=True)
class JournalFiles:
    """The applier's view of the cellar store: how to read a journal and what is linked."""

    store: str
    run_id: str
    layout: JournalLayout
    timezone: str
    families: tuple[str, ...] | None
    links: dict[str, Link]
    streams_lines: bool = False
    """A journal's header names its columns: a file is always mapped whole."""

    def map_files(self, texts: list[bytes], documents: list[Document]) -> ParsedFiles:
        lines, rejects, notes = [], [], {}
        # The applier hands over each journal already decoded to UTF-8: decoding it again
        # with a named encoding (cp1252) would turn every accent into mojibake.
        layout = self.layout.model_copy(update={"encoding": "utf-8"})
        for index, (text, document) in enumerate(zip(texts, documents, strict=True)):
            try:
                journal = parse_journal(text, layout, self.timezone, self.families)
            except JournalError as exc:
                header = text.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")
                rejects.append(pd.DataFrame({"line": [1], "raw": [header], "reason": [str(exc)]}))
                rejects[-1]["document_index"] = index
                continue
            frame = journal.lines.copy()
            frame["document_index"] = index
            lines.append(frame)
            if len(journal.rejects):
                found = journal.rejects.copy()
                found["document_index"] = index
                rejects.append(found)
            if journal.not_drinks:
                notes[document.batch_id] = (
                    f"{journal.not_drinks} line(s) of other families than {self.families_text}"
                    " left out (not drinks)"
                )
        return self._parsed(lines, rejects, documents, notes)

    @property
    def families_text(self) -> str:
        return ", ".join(self.families or ())

    def map_lines(self, lines, document_index, line_numbers, documents) -> ParsedFiles:
        raise NotImplementedError("a journal is mapped whole: its header names the columns")

    def _parsed(
        self,
        lines: list[pd.DataFrame],
        rejects: list[pd.DataFrame],
        documents: list[Document],
        notes: dict[str, str],
    ) -> LinkedLines:
        frame = (
            pd.concat(lines, ignore_index=True)
            if lines
            else pd.DataFrame(
                {
                    c: pd.Series([], dtype=t)
                    for c, t in (
                        ("line", "int64"),
                        ("till_reference", "object"),
                        ("document_index", "int64"),
                    )
                }
            )
        )
        codes = frame["till_reference"].astype(object).tolist() if len(frame) else []
        known = [self.links.get(code) for code in codes]
        item = [link.item if link else None for link in known]
        status = [
            "held" if link is None else ("ignored" if link.item is None else "applied")
            for link in known
        ]
        batch_ids = [d.batch_id for d in documents]
        held = _held_table(frame, item, status, batch_ids, self.layout.currency)
        linked = None
        if "applied" in status:
            mask = np.array([s == "applied" for s in status])
            linked = frame.loc[mask, :].reset_index(drop=True)
            linked["item"] = [i for i, s in zip(item, status, strict=True) if s == "applied"]
            linked["per"] = [
                k.per for k, s in zip(known, status, strict=True) if s == "applied" and k
            ]
            linked["till_reference"] = linked["till_reference"].astype(object)
        reject_frame = (
            pd.concat(rejects, ignore_index=True)
            if rejects
            else pd.DataFrame({"line": [], "raw": [], "reason": [], "document_index": []})
        )
        document_index = reject_frame["document_index"].to_numpy(dtype=np.int64)
        empty = movement_table(
            store=self.store,
            run_id=self.run_id,
            references=pa.array([], pa.string()),
            quantities=np.zeros(0, dtype=np.int64),
            kinds=pa.array([], pa.string()),
            lines=np.zeros(0, dtype=np.int64),
            documents=documents,
            document_index=np.zeros(0, dtype=np.int64),
        )
        return LinkedLines(
            movements=empty,
            reject_batch_ids=pc.take(
                pa.array(batch_ids, pa.string()), pa.array(document_index, pa.int64())
            ),
            reject_lines=pa.array(reject_frame["line"].to_numpy(dtype=np.int64), pa.int64()),
            reject_raw=pa.array(reject_frame["raw"].astype(object).tolist(), pa.string()),
            reject_reasons=pa.array(reject_frame["reason"].astype(object).tolist(), pa.string()),
            held=held,
            linked=linked,
            store=self.store,
            run_id=self.run_id,
            currency=self.layout.currency,
            documents=tuple(documents),
            notes=notes,
        )


def _held_table(
    frame: pd.DataFrame,
    item: list[str | None],
    status: list[str],
    batch_ids: list[str],
    currency: str,
) -> pa.Table:
    size = len(frame)
    if size == 0:
        return HELD_SCHEMA.empty_table()
    index = pa.array(frame["document_index"].to_numpy(dtype=np.int32))
    quantity = frame["quantity"].to_numpy(dtype=np.int64)
    amount = arrow(frame["amount"], pa.int64())
    amount_mask = pc.is_null(amount).to_numpy(zero_copy_only=False)
    amounts = quantities_to_decimal(amount.fill_null(0).to_numpy(zero_copy_only=False))
    if amount_mask.any():
        amounts = pc.if_else(pa.array(amount_mask), pa.scalar(None, amounts.type), amounts)
    return pa.table(
        [
            pa.DictionaryArray.from_arrays(index, pa.array(batch_ids, pa.string())),
            pa.array(frame["line"].to_numpy(dtype=np.int64)),
            arrow(frame["till_reference"], pa.string()),
            arrow(frame["label"], pa.string()),
            quantities_to_decimal(quantity),
            pa.array(np.where(quantity >= 0, "sale", "return")),
            arrow(frame["occurred_at"], pa.timestamp("us", tz="UTC")),
            amounts,
            pa.repeat(currency, size),
            arrow(frame["ticket"], pa.string()),
            pa.array(status, pa.string()),
            pa.array(item, pa.string()),
        ],
        schema=HELD_SCHEMA,
    )


assert HELD_SCHEMA.field("batch_id").type == PER_DOCUMENT
