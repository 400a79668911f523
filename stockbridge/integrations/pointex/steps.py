"""The cellar flow's own steps: the catalogue in, the links read, the stock file out.

The journal itself goes through the shared applier (``tasks.apply``) with
:class:`~stockbridge.integrations.pointex.mapping.JournalFiles` as its mapping.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import bindparam, select, update

from stockbridge.context import RunContext
from stockbridge.errors import LocationError, StockbridgeError
from stockbridge.integrations.pointex.cellar import CellarError, read_cellar
from stockbridge.integrations.pointex.links import Cellar
from stockbridge.integrations.pointex.mapping import Link
from stockbridge.ledger.ledger import NewDocument, utc_now
from stockbridge.ledger.tables import items
from stockbridge.logs import NETWORK_RETRIES
from stockbridge.movements import Document, format_quantities, movement_table
from stockbridge.schema import MovementKind
from stockbridge.summary import WaitingReference

CELLAR_CURSOR = "cellar_digest"
CORE_COLUMNS = ("item", "name", "vintage", "volume", "quantity")


@dataclass(frozen=True)
class CellarSync:
    new_items: int
    rejected_lines: int


@task(name="sync cellar catalogue", cache_policy=NO_CACHE, **NETWORK_RETRIES)
def sync_cellar(ctx: RunContext) -> CellarSync:
    """Items of the catalogue into the ledger; a new item opens with its quantity.

    As for InterStock's article file, a later change of a quantity in the catalogue does not
    reset the stock (the stock is the movements' sum); names and vintages are refreshed.
    """
    folder, name = ctx.catalogue
    try:
        data = folder.read_bytes(name)
    except FileNotFoundError:
        raise LocationError(
            f"the cellar catalogue {ctx.config.catalogue.display} does not exist; check 'catalogue'"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if ctx.ledger.cursor(ctx.store, ctx.integration, CELLAR_CURSOR) == digest:
        return CellarSync(0, 0)
    try:
        cellar = read_cellar(data)
    except CellarError as exc:
        raise StockbridgeError(f"{name}: {exc}") from None
    if len(cellar.rejects):
        examples = "; ".join(
            f"line {r.line}: {r.reason}" for r in cellar.rejects.head(5).itertuples()
        )
        ctx.logger.warning(
            "%d line(s) of the cellar catalogue %s were ignored (%s)",
            len(cellar.rejects),
            name,
            examples,
        )
    frame = cellar.items
    source = f"{ctx.integration}:{ctx.config.catalogue.display}"
    with ctx.ledger.batch(ctx.store, ctx.integration, ctx.run_id) as batch:
        connection = batch.connection
        known = {
            ref
            for (ref,) in connection.execute(
                select(items.c.reference).where(items.c.store == ctx.store)
            )
        }
        records = _item_records(ctx.store, frame)
        new = [r for r in records if r["reference"] not in known]
        old = [r for r in records if r["reference"] in known]
        if new:
            connection.execute(items.insert(), new)
        if old:
            connection.execute(
                update(items)
                .where(
                    items.c.store == ctx.store,
                    items.c.reference == bindparam("b_reference"),
                    items.c.origin == "catalogue",
                )
                .values(
                    name=bindparam("b_name"),
                    vintage=bindparam("b_vintage"),
                    volume=bindparam("b_volume"),
                    attributes=bindparam("b_attributes"),
                    updated_at=bindparam("b_updated_at"),
                ),
                [{f"b_{k}": v for k, v in r.items() if k not in ("store", "origin")} for r in old],
            )
        if new:
            opened = frame[~frame["item"].isin(known)]
            lines = (
                opened["line"].to_numpy(dtype=np.int64)
                if "line" in opened
                else (np.arange(1, len(opened) + 1, dtype=np.int64))
            )
            batch_id = hashlib.sha256(f"{name}\0{digest}\0opening".encode()).hexdigest()[:32]
            opened_at = datetime.now(UTC)
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
                    references=pa.array(opened["item"].astype(object).tolist(), pa.string()),
                    quantities=opened["quantity"].to_numpy(dtype=np.int64),
                    kinds=pa.array([MovementKind.ADJUSTMENT.value] * len(opened)),
                    lines=lines,
                    documents=[Document(batch_id, source, name, opened_at)],
                    document_index=np.zeros(len(opened), dtype=np.int64),
                )
            )
        batch.set_cursor(CELLAR_CURSOR, digest)
    if new:
        ctx.logger.info("opened %d new item(s) from %s", len(new), name)
    return CellarSync(len(new), len(cellar.rejects))


def _item_records(store: str, frame: pd.DataFrame) -> list[dict]:
    extra = [c for c in frame.columns if c not in CORE_COLUMNS and c != "line"]
    now = utc_now()
    records = []
    for row in frame.to_dict("records"):
        attributes = {c: row[c] for c in extra if isinstance(row.get(c), str) and row[c]}
        vintage = row.get("vintage")
        volume = row.get("volume")
        records.append(
            {
                "store": store,
                "reference": row["item"],
                "name": row["name"],
                "vintage": None if pd.isna(vintage) else int(vintage),
                "volume": None if volume is None or pd.isna(volume) else f"{float(volume):g}",
                "attributes": json.dumps(attributes, ensure_ascii=False) if attributes else None,
                "origin": "catalogue",
                "updated_at": now,
            }
        )
    return records


@task(name="read links", cache_policy=NO_CACHE)
def read_links(ctx: RunContext) -> dict[str, Link]:
    return Cellar(ctx.ledger, ctx.store).links()


@task(name="list drinks to link", cache_policy=NO_CACHE)
def list_waiting(ctx: RunContext) -> list[WaitingReference]:
    return [
        WaitingReference(w.till_reference, w.labels, w.quantity, w.amount, w.lines)
        for w in Cellar(ctx.ledger, ctx.store).waiting()
    ]


@dataclass(frozen=True)
class StockFile:
    path: str
    rows: int


@task(name="publish cellar stock file", cache_policy=NO_CACHE, **NETWORK_RETRIES)
def publish_cellar_stock(ctx: RunContext) -> StockFile:
    """``item;name;vintage;quantity`` for every item, in one atomic publish."""
    frame = Cellar(ctx.ledger, ctx.store).items()
    quantity = frame["quantity"].to_numpy(dtype=np.int64)
    if ctx.config.negative_stock == "zero":
        quantity = np.maximum(quantity, 0)
    text = format_quantities(quantity).to_pylist()
    lines = ["item;name;vintage;quantity"]
    for item, name, vintage, shown in zip(
        frame["item"], frame["name"], frame["vintage"], text, strict=True
    ):
        cells = [item, name, "" if pd.isna(vintage) else str(int(vintage)), shown]
        lines.append(";".join(_csv_cell(c) for c in cells))
    folder, name = ctx.export
    folder.ensure_folder()
    path = folder.write_atomic(name, ("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    return StockFile(path, len(frame))


def _csv_cell(text: str) -> str:
    if any(c in text for c in ';"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
