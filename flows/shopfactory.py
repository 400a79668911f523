"""ShopFactory: synchronise the shop's online stock levels, edit them, publish the stock file.

MISSION system 3. Each run: read the shop's live levels and record the web sales since the
last publish (exactly once per snapshot), apply the edits (movement files in the import
folder, exactly once, through the shared applier; ``stockbridge adjust`` commands are
already in the ledger), read the shop again just before publishing so a sale made meanwhile
is recorded rather than overwritten, and publish only the stock file, atomically. Only the
store file's path is a parameter: no secret reaches Prefect.
"""

from __future__ import annotations

import pyarrow as pa
from prefect import flow
from prefect.utilities.annotations import quote

from stockbridge.adjust import adjustments_since
from stockbridge.context import RunContext
from stockbridge.integrations.shopfactory.levels import ShopLevels
from stockbridge.integrations.shopfactory.mapping import ShopMovementFiles
from stockbridge.integrations.shopfactory.report import report
from stockbridge.integrations.shopfactory.steps import publish_stock_file, synchronise
from stockbridge.run import run_store
from tasks.apply import apply_files
from tasks.collect import find_settled_files


@flow(name="shopfactory", log_prints=False, validate_parameters=True)
def shopfactory(config_path: str):
    """One cycle of one ShopFactory shop, described by the YAML file at ``config_path``."""
    return run_store(config_path, "shopfactory", sync)


def sync(ctx: RunContext) -> None:
    levels = ShopLevels(ctx.ledger, ctx.store, ctx.run_id)
    last = levels.last_publication()
    synchronised = synchronise(quote(ctx), quote(levels))
    if ctx.config.imports:
        candidates = find_settled_files(quote(ctx))
        skus = pa.array(sorted(levels.seen()), pa.string())
        mapping = ShopMovementFiles.of(ctx.store, ctx.run_id, skus)
        apply_files(quote(ctx), quote(mapping), quote(candidates))
    again, published = publish_stock_file(quote(ctx), quote(levels))
    since = last["published_at"] if last else None
    adjusted = adjustments_since(ctx.ledger, ctx.store, since)
    report(ctx.summary, synchronised, again, published, adjusted)
