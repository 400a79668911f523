"""Opening stock from the till's article file.

The article file lists every reference the till knows. A reference seen for the first time
opens with the file's quantity, recorded as an ``adjustment`` movement that points at the
article file and its line, so the stock always equals the sum of its movements.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from stockbridge.context import RunContext
from stockbridge.errors import LocationError, StockbridgeError
from stockbridge.formats.text import UndecodableFile, decode, split_lines
from stockbridge.integrations.interstock.format import parse_lines
from stockbridge.ledger.ledger import NewDocument
from stockbridge.movements import Document, movement_table
from stockbridge.schema import MovementKind

CATALOGUE_CURSOR = "catalogue_digest"


@dataclass(frozen=True)
class Catalogue:
    references: pa.Array
    """Every known reference, unique, in file order."""
    new_articles: int
    rejected_lines: int


@task(name="sync article file", cache_policy=NO_CACHE)
def sync_catalogue(ctx: RunContext) -> Catalogue:
    folder, name = ctx.catalogue
    try:
        data = folder.read_bytes(name)
    except FileNotFoundError:
        raise LocationError(
            f"the article file {ctx.config.catalogue.display} does not exist; check 'catalogue'"
        ) from None
    try:
        decoded = decode(data)
    except UndecodableFile as exc:
        raise StockbridgeError(f"the article file {name} {exc}") from None

    parsed = parse_lines(split_lines(decoded.utf8))
    if parsed.rejected.size:
        examples = "; ".join(
            f"line {line + 1}: {reason}"
            for line, reason in zip(
                parsed.rejected[:5], parsed.reasons.to_pylist()[:5], strict=False
            )
        )
        ctx.logger.warning(
            "%d line(s) of the article file %s were ignored (%s)",
            parsed.rejected.size,
            name,
            examples,
        )
    # First line of each reference: index_in finds a value's first position in value_set.
    unique = pc.unique(parsed.references)
    first = np.sort(pc.index_in(unique, value_set=parsed.references).to_numpy())
    duplicates = parsed.valid.size - first.size
    if duplicates:
        ctx.logger.warning(
            "%d reference(s) appear more than once in the article file %s; the first line counts",
            duplicates,
            name,
        )
    keep = pa.array(first, pa.int64())
    references = pc.take(parsed.references, keep)
    quantities = parsed.quantities[first]
    lines = parsed.valid[first] + 1

    digest = hashlib.sha256(data).hexdigest()
    new_articles = 0
    if ctx.ledger.cursor(ctx.store, ctx.integration, CATALOGUE_CURSOR) != digest:
        new_articles = _open_new_articles(ctx, name, digest, references, quantities, lines)
    return Catalogue(references, new_articles, int(parsed.rejected.size + duplicates))


def _open_new_articles(
    ctx: RunContext,
    name: str,
    digest: str,
    references: pa.Array,
    quantities: np.ndarray,
    lines: np.ndarray,
) -> int:
    known = ctx.ledger.references(ctx.store)
    new = pc.invert(pc.is_in(references, value_set=known)).to_numpy(zero_copy_only=False)
    source = f"{ctx.integration}:{ctx.config.catalogue.display}"
    opened = pc.take(references, pa.array(np.flatnonzero(new), pa.int64()))
    batch_id = hashlib.sha256(
        f"{name}\0{digest}\0".encode() + "\n".join(opened.to_pylist()).encode()
    ).hexdigest()[:32]
    opened_at = datetime.now(UTC)
    with ctx.ledger.batch(ctx.store, ctx.integration, ctx.run_id) as batch:
        if new.any():
            batch.add_documents(
                [
                    NewDocument(
                        batch_id,
                        source,
                        name,
                        digest,
                        status="archived",
                        note="opening stock",
                        occurred_at=opened_at,
                    )
                ]
            )
            batch.add_movements(
                movement_table(
                    store=ctx.store,
                    run_id=ctx.run_id,
                    references=opened,
                    quantities=quantities[new],
                    kinds=pa.array([MovementKind.ADJUSTMENT.value] * int(new.sum())),
                    lines=lines[new],
                    documents=[Document(batch_id, source, name, opened_at)],
                    document_index=np.zeros(int(new.sum()), dtype=np.int64),
                )
            )
        batch.set_cursor(CATALOGUE_CURSOR, digest)
    if new.any():
        ctx.logger.info("opened %d new article(s) from %s", int(new.sum()), name)
    return int(new.sum())
