"""The ShopFactory flow's own steps: synchronise (read the shop's levels, record the web
sales) and publish (read them again, record a sale that landed meanwhile, write the stock
file). The edits between them go through the shared applier (``tasks.apply``)."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from stockbridge.context import RunContext
from stockbridge.integrations.shopfactory.levels import Observed, ShopLevels
from stockbridge.integrations.shopfactory.stockfile import (
    StockFile,
    StockFileError,
    read_stock_file,
    write_stock_file,
)
from stockbridge.locations import open_file
from stockbridge.logs import NETWORK_RETRIES

PAUSE_VARIABLE = "SB_SHOPFACTORY_PAUSE"
"""A test hook: a path; before reading the shop again to publish, the run writes
``PATH.waiting`` and waits until ``PATH`` exists (at most :data:`PAUSE_LIMIT` seconds), so
a test can make a web sale land at that very instant."""
PAUSE_LIMIT = 300.0


@dataclass
class Published:
    path: str
    skus: int
    written: bool
    negative: dict[str, int] = field(default_factory=dict)
    generation: int | None = None


def separate_publish(ctx: RunContext) -> bool:
    publish = ctx.config.publish
    return publish is not None and publish.display != ctx.config.online.display


def read_online(ctx: RunContext) -> StockFile:
    """The shop's live stock file, parsed; one sentence if it is missing or unreadable."""
    config = ctx.config
    folder, name = open_file(config.online)
    try:
        data = folder.read_bytes(name)
    except FileNotFoundError:
        raise StockFileError(
            f"the shop's stock file {config.online.display} does not exist; check 'online'"
            " (nothing was published)"
        ) from None
    return read_stock_file(data, config.layout, config.online.display)


def record_snapshot(ctx: RunContext, levels: ShopLevels, shop: StockFile) -> Observed:
    published_digest = None
    if separate_publish(ctx) and levels.pending() is not None:
        folder, name = open_file(ctx.config.publish)
        try:
            published_digest = hashlib.sha256(folder.read_bytes(name)).hexdigest()
        except FileNotFoundError:
            published_digest = ""
    return levels.observe(
        shop.name.rsplit("/", 1)[-1],
        f"{ctx.integration}:{ctx.config.online.display}",
        shop.skus,
        shop.levels,
        shop.line_numbers(),
        shop.digest,
        published_digest,
    )


@task(name="synchronise shop levels", cache_policy=NO_CACHE, **NETWORK_RETRIES)
def synchronise(ctx: RunContext, levels: ShopLevels) -> Observed:
    """Step 1 and 2: the live levels, and the web sales since they were last seen."""
    return record_snapshot(ctx, levels, read_online(ctx))


@task(name="publish stock file", cache_policy=NO_CACHE, **NETWORK_RETRIES)
def publish_stock_file(ctx: RunContext, levels: ShopLevels) -> tuple[Observed, Published]:
    """Step 4: read the shop again, record what sold meanwhile, then publish the ledger's
    available level of every SKU the shop lists, touching nothing else of the shop."""
    _pause_for_test()
    shop = read_online(ctx)
    observed = record_snapshot(ctx, levels, shop)
    listed = ctx.ledger.stock(ctx.store)
    available = dict(
        zip(
            listed.column("reference").to_pylist(),
            (listed.column("on_hand").to_numpy() - listed.column("reserved").to_numpy()).tolist(),
            strict=True,
        )
    )
    wanted = {sku: available.get(sku, 0) for sku in shop.skus}
    negative = {sku: level for sku, level in wanted.items() if level < 0}
    if ctx.config.negative_stock == "zero":
        wanted = {sku: max(level, 0) for sku, level in wanted.items()}
    data = write_stock_file(shop, wanted, ctx.config.layout)
    digest = hashlib.sha256(data).hexdigest()
    location = ctx.config.publish_location
    if _already_shown(ctx, levels, shop, wanted, digest):
        return observed, Published(location.display, len(wanted), False, negative)
    generation = levels.prepare(wanted, digest, shop.digest, location.display)
    folder, name = open_file(location)
    path = folder.write_atomic(name, data)
    levels.confirm(generation, digest)
    return observed, Published(path, len(wanted), True, negative, generation)


def _already_shown(
    ctx: RunContext, levels: ShopLevels, shop: StockFile, wanted: dict[str, int], digest: str
) -> bool:
    """Nothing to publish: the shop shows exactly these levels already (and, when the file
    is published elsewhere, that file is the one last published with them)."""
    if not separate_publish(ctx):
        return digest == shop.digest
    last = levels.last_publication()
    return last is not None and last["digest"] == digest and shop.level_of() == wanted


def _pause_for_test() -> None:
    target = os.environ.get(PAUSE_VARIABLE)
    if not target:
        return
    go = Path(target)
    Path(f"{target}.waiting").write_text("waiting\n")
    deadline = time.monotonic() + PAUSE_LIMIT
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
