"""Journal lines the ledger already recorded, found again in another journal file.

A till may upload the same night twice: once under another name, or again later with the
lines sold since appended. The file is new (other bytes or another name), its lines are not:
a sale is one event, whatever file brings it. A line is the same sale as one recorded before
when its time, ticket, till code, quantity and amount are all equal; identical lines within
one file (two glasses rung up apart in the same second of the same ticket) are told apart by
their rank, so a file that repeats an earlier one and adds lines counts only what it adds.

Per key, the lines already recorded are those of the ledger (any earlier document of the
store) plus those of the documents before it in the same batch; a document's first that many
occurrences of the key are repeats, the rest are new. A night split over two uploads and
then re-sent whole is therefore all repeats, and a re-sent file with two more glasses of a
wine counts the two. Repeats are kept as ``held_lines`` of status ``repeated`` (so every line
lands somewhere a person can look), and move nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import and_, func, select

from stockbridge.ledger.tables import held_lines
from stockbridge.movements import decimal_to_quantities

if TYPE_CHECKING:
    from sqlalchemy import Connection

KEY = ("occurred_at", "ticket", "code", "quantity", "amount")
NO_AMOUNT = np.iinfo(np.int64).min
"""Stands for a line without an amount (an offered glass) in the key."""


def repeated_lines(
    connection: Connection, store: str, integration: str, held: pa.Table
) -> np.ndarray:
    """A mask over ``held`` (``HELD_SCHEMA`` rows, in document then file order): True for a
    line that repeats a sale already recorded."""
    if held.num_rows == 0:
        return np.zeros(0, dtype=bool)
    lines = _keys(
        occurred_at=pc.cast(held.column("occurred_at"), pa.timestamp("us")),
        ticket=held.column("document_number"),
        code=held.column("source_reference"),
        quantity=decimal_to_quantities(held.column("quantity")),
        amount=_milli(held.column("amount")),
    )
    lines["document"] = (
        held.column("batch_id").combine_chunks().indices.to_numpy(zero_copy_only=False)
    )
    lines["rank"] = lines.groupby(["document", *KEY], sort=False).cumcount()
    recorded = _recorded(connection, store, integration, lines)
    repeated = np.zeros(len(lines), dtype=bool)
    for document in pd.unique(lines["document"]):
        rows = lines["document"].to_numpy() == document
        part = lines.loc[rows, [*KEY, "rank"]]
        before = part.merge(recorded, how="left", on=list(KEY))["count"].fillna(0)
        mask = part["rank"].to_numpy() < before.to_numpy(dtype=np.int64)
        repeated[rows] = mask
        added = part.loc[~mask, list(KEY)].value_counts().rename("count").reset_index()
        recorded = (
            pd.concat([recorded, added], ignore_index=True)
            .groupby(list(KEY), as_index=False, sort=False)["count"]
            .sum()
        )
    return repeated


def _recorded(
    connection: Connection, store: str, integration: str, lines: pd.DataFrame
) -> pd.DataFrame:
    """Per key, how many lines of the store's earlier documents have it (in the batch's
    time range, which the ``(store, occurred_at)`` index reads)."""
    start, end = (_datetime(lines["occurred_at"].min()), _datetime(lines["occurred_at"].max()))
    query = (
        select(
            held_lines.c.occurred_at,
            func.coalesce(held_lines.c.document_number, "").label("ticket"),
            held_lines.c.source_reference.label("code"),
            held_lines.c.quantity,
            func.coalesce(held_lines.c.amount, int(NO_AMOUNT)).label("amount"),
            func.count().label("count"),
        )
        .where(
            and_(
                held_lines.c.store == store,
                held_lines.c.integration == integration,
                held_lines.c.status != "repeated",
                held_lines.c.occurred_at >= start,
                held_lines.c.occurred_at <= end,
            )
        )
        .group_by(
            held_lines.c.occurred_at,
            held_lines.c.document_number,
            held_lines.c.source_reference,
            held_lines.c.quantity,
            held_lines.c.amount,
        )
    )
    rows = connection.execute(query).all()
    found = _keys(
        occurred_at=pa.array([r.occurred_at for r in rows], pa.timestamp("us")),
        ticket=pa.array([r.ticket for r in rows], pa.string()),
        code=pa.array([r.code for r in rows], pa.string()),
        quantity=np.array([r.quantity for r in rows], dtype=np.int64),
        amount=np.array([r.amount for r in rows], dtype=np.int64),
    )
    found["count"] = np.array([r.count for r in rows], dtype=np.int64)
    return found.groupby(list(KEY), as_index=False, sort=False)["count"].sum()


def _keys(*, occurred_at, ticket, code, quantity, amount) -> pd.DataFrame:
    """Key columns a merge compares exactly: times as integer microseconds, text as str."""
    micros = pc.cast(pc.cast(occurred_at, pa.timestamp("us")), pa.int64())
    return pd.DataFrame(
        {
            "occurred_at": np.asarray(micros.to_numpy(zero_copy_only=False), dtype=np.int64),
            "ticket": pd.Series(_text(ticket), dtype=object),
            "code": pd.Series(_text(code), dtype=object),
            "quantity": np.asarray(quantity, dtype=np.int64),
            "amount": np.asarray(amount, dtype=np.int64),
        }
    )


def _datetime(micros: int) -> datetime:
    """A key's time as the naive UTC datetime the ledger stores."""
    return datetime(1970, 1, 1) + timedelta(microseconds=int(micros))


def _text(values: pa.Array | pa.ChunkedArray) -> list[str]:
    return pc.fill_null(values, "").to_pylist()


def _milli(amounts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if isinstance(amounts, pa.ChunkedArray):
        amounts = amounts.combine_chunks()
    values = decimal_to_quantities(amounts.fill_null(0))
    return np.where(pc.is_null(amounts).to_numpy(zero_copy_only=False), NO_AMOUNT, values)
