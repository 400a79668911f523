"""Building canonical movement tables (``stockbridge.schema.MOVEMENT_SCHEMA``) from columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stockbridge.schema import MILLI, MOVEMENT_SCHEMA, QUANTITY_SCALE, QUANTITY_TYPE


@dataclass(frozen=True)
class Document:
    """The origin shared by a group of movements: one file, journal or order."""

    batch_id: str
    source: str
    name: str
    occurred_at: datetime | None = None


def quantities_to_decimal(milli: np.ndarray) -> pa.Array:
    """int64 thousandths -> decimal128(18, 3), exactly (same unscaled integers)."""
    low = np.asarray(milli, dtype=np.int64)
    words = np.empty((low.size, 2), dtype=np.int64)
    words[:, 0] = low
    words[:, 1] = np.where(low < 0, -1, 0)  # two's-complement sign extension to 128 bits
    return pa.Array.from_buffers(QUANTITY_TYPE, low.size, [None, pa.py_buffer(words)])


def decimal_to_quantities(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """decimal128(18, 3) -> int64 thousandths; the inverse of :func:`quantities_to_decimal`."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != QUANTITY_TYPE:
        values = values.cast(QUANTITY_TYPE)
    words = np.frombuffer(values.buffers()[1], dtype=np.int64)
    start = values.offset * 2
    return words[start : start + 2 * len(values) : 2].copy()


def movement_table(
    *,
    store: str,
    run_id: str,
    references: pa.Array,
    quantities: np.ndarray,
    kinds: pa.Array,
    lines: np.ndarray,
    documents: list[Document],
    document_index: np.ndarray,
    occurred_at: pa.Array | None = None,
    amounts: np.ndarray | pa.Array | None = None,
    currency: str | None = None,
    document_numbers: pa.Array | None = None,
    source_references: pa.Array | None = None,
) -> pa.Table:
    """One canonical row per movement; ``document_index`` points into ``documents``.

    ``occurred_at`` (UTC) defaults to each document's time; ``amounts`` are thousandths
    (a masked or Arrow int64 array may hold nulls); the other optional columns are null
    when not given.
    """
    size = len(references)
    now = datetime.now(UTC)
    index = pa.array(np.asarray(document_index, dtype=np.int32))

    def per_document(values: list[str]) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(index, pa.array(values, pa.string()))

    def per_run(value: str) -> pa.DictionaryArray:
        zeros = pa.array(np.zeros(size, dtype=np.int32))
        return pa.DictionaryArray.from_arrays(zeros, pa.array([value], pa.string()))

    batch_ids = [d.batch_id for d in documents]
    line_numbers = pa.array(np.asarray(lines, dtype=np.int64))
    times = pa.array([d.occurred_at or now for d in documents], pa.timestamp("us", tz="UTC"))
    return pa.table(
        [
            per_run(store),
            references.cast(pa.string()),
            quantities_to_decimal(quantities),
            kinds.cast(pa.string()),
            pc.take(times, index) if occurred_at is None else occurred_at,
            per_document([d.source for d in documents]),
            per_document([d.name for d in documents]),
            line_numbers,
            pc.binary_join_element_wise(
                pc.take(pa.array(batch_ids, pa.string()), index),
                line_numbers.cast(pa.string()),
                ":",
            ),
            pa.nulls(size, QUANTITY_TYPE) if amounts is None else _amounts(amounts),
            pa.nulls(size, pa.string()) if currency is None else pa.repeat(currency, size),
            pa.nulls(size, pa.string()) if document_numbers is None else document_numbers,
            pa.nulls(size, pa.string()) if source_references is None else source_references,
            per_document(batch_ids),
            per_run(run_id),
        ],
        schema=MOVEMENT_SCHEMA,
    )


def _amounts(values: np.ndarray | pa.Array) -> pa.Array:
    """int64 thousandths with nulls -> decimal128(18, 3)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        mask = pc.is_null(values).to_numpy(zero_copy_only=False)
        milli = values.fill_null(0).to_numpy(zero_copy_only=False)
    else:
        mask = np.ma.getmaskarray(values)
        milli = np.ma.getdata(values)
    decimals = quantities_to_decimal(np.asarray(milli, dtype=np.int64))
    if not mask.any():
        return decimals
    return pc.if_else(pa.array(mask), pa.scalar(None, QUANTITY_TYPE), decimals)


def format_quantities(milli: np.ndarray) -> pa.Array:
    """Thousandths to text: ``5``, ``-2``, ``0.5``, ``1.25`` (``.`` mark, no trailing zeros)."""
    milli = np.asarray(milli, dtype=np.int64)
    if not (milli % MILLI).any():
        return pa.array(milli // MILLI).cast(pa.string())
    sign = np.where(milli < 0, "-", "")
    magnitude = np.abs(milli)
    whole = pa.array(magnitude // MILLI).cast(pa.string())
    fraction = pa.array(magnitude % MILLI)
    fraction_text = pc.utf8_rtrim(
        pc.utf8_lpad(fraction.cast(pa.string()), QUANTITY_SCALE, "0"), characters="0"
    )
    with_mark = pc.if_else(
        pc.equal(fraction, 0), "", pc.binary_join_element_wise(".", fraction_text, "")
    )
    return pc.binary_join_element_wise(pa.array(sign), whole, with_mark, "")


assert QUANTITY_TYPE.scale == QUANTITY_SCALE
