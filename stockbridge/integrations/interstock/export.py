"""The full article file: every catalogue reference with its available quantity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from stockbridge.context import RunContext
from stockbridge.formats.text import joined
from stockbridge.logs import NETWORK_RETRIES
from stockbridge.movements import format_quantities


@dataclass(frozen=True)
class ExportResult:
    path: str
    rows: int
    negative: dict[str, int]


@task(name="publish article file", cache_policy=NO_CACHE, **NETWORK_RETRIES)
def publish_export(ctx: RunContext, known_references: pa.Array) -> ExportResult:
    """Write ``reference<TAB>available`` sorted by reference (the ledger's order), in one
    atomic publish.

    Available is on hand minus reserved. A negative level stays in the ledger (the sale
    happened) and is exported as 0 unless ``negative_stock: keep``.
    """
    listed = ctx.ledger.stock(ctx.store)
    # sync_catalogue gives every reference of the article file a stock row, so the stock
    # lists exactly the article file unless some reference was dropped from it since.
    if listed.num_rows != len(known_references):
        listed = listed.filter(pc.is_in(listed.column("reference"), value_set=known_references))
    available = (
        listed.column("on_hand").to_numpy() - listed.column("reserved").to_numpy()
        if listed.num_rows
        else np.zeros(0, dtype=np.int64)
    )
    negative_mask = available < 0
    references = listed.column("reference").combine_chunks()
    negative = dict(
        zip(
            references.filter(pa.array(negative_mask)).to_pylist(),
            available[negative_mask].tolist(),
            strict=True,
        )
    )
    if ctx.config.negative_stock == "zero":
        available = np.maximum(available, 0)
    rows = pc.binary_join_element_wise(references, format_quantities(available), "\t")
    data = joined(rows, "\n") + b"\n" if len(rows) else b""

    folder, name = ctx.export
    folder.ensure_folder()
    path = folder.write_atomic(name, data)
    return ExportResult(path, listed.num_rows, negative)
