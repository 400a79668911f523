"""Building canonical movement tables (``stockbridge.schema.MOVEMENT_SCHEMA``) from columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stockbridge.schema import MOVEMENT_SCHEMA, QUANTITY_SCALE, QUANTITY_TYPE


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
) -> pa.Table:
    """One canonical row per movement; ``document_index`` points into ``documents``."""
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
            pc.take(times, index),
            per_document([d.source for d in documents]),
            per_document([d.name for d in documents]),
            line_numbers,
            pc.binary_join_element_wise(
                pc.take(pa.array(batch_ids, pa.string()), index),
                line_numbers.cast(pa.string()),
                ":",
            ),
            pa.nulls(size, QUANTITY_TYPE),
            pa.nulls(size, pa.string()),
            pa.nulls(size, pa.string()),
            per_document(batch_ids),
            per_run(run_id),
        ],
        schema=MOVEMENT_SCHEMA,
    )


assert QUANTITY_TYPE.scale == QUANTITY_SCALE
