"""The Seliton flow's steps, one Prefect task each: orders in, reservations released, goods
out, goods down. Each is safe to repeat; what each did goes into the run's summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine

from stockbridge.context import RunContext
from stockbridge.integrations.seliton.client import ShopClient
from stockbridge.integrations.seliton.export import ExportReport, download_goods, export_goods
from stockbridge.integrations.seliton.orders import (
    ImportReport,
    import_orders,
    release_closed,
    waiting_orders,
)
from stockbridge.integrations.seliton.wpdb import (
    Setup,
    connected,
    ensure_own_table,
    open_warehouse,
    resolve,
)

SHOWN = 50


@dataclass
class Session:
    """What the steps of one run share: Warehouse Pro, the shop, the settings' rows."""

    warehouse: Engine
    shop: ShopClient
    setup: Setup

    def close(self) -> None:
        self.shop.close()
        self.warehouse.dispose()


def open_session(ctx: RunContext) -> Session:
    config = ctx.config
    warehouse = open_warehouse(config)
    try:
        with connected(warehouse) as connection:
            setup = resolve(connection, config)
        ensure_own_table(warehouse)
    except BaseException:
        warehouse.dispose()
        raise
    assert setup is not None
    return Session(warehouse, ShopClient(config.shop, ctx.logger), setup)


@dataclass
class Outcome:
    imported: ImportReport | None = None
    released: list[tuple[int, str, str]] = field(default_factory=list)
    exported: ExportReport | None = None
    downloaded: list[str] = field(default_factory=list)
    waiting: list[tuple[int, str]] = field(default_factory=list)


@task(name="import shop orders", cache_policy=NO_CACHE)
def import_step(ctx: RunContext, session: Session) -> ImportReport:
    return import_orders(
        ctx.ledger,
        session.warehouse,
        session.shop,
        ctx.config,
        session.setup,
        ctx.run_id,
        ctx.logger,
    )


@task(name="release reservations", cache_policy=NO_CACHE)
def release_step(ctx: RunContext, session: Session) -> list[tuple[int, str, str]]:
    return release_closed(ctx.ledger, session.warehouse, ctx.config)


@task(name="export goods", cache_policy=NO_CACHE)
def export_step(ctx: RunContext, session: Session) -> ExportReport:
    return export_goods(ctx.ledger, session.warehouse, session.shop, ctx.config, session.setup)


@task(name="download goods", cache_policy=NO_CACHE)
def download_step(ctx: RunContext, session: Session) -> list[str]:
    return download_goods(ctx.ledger, session.warehouse, session.shop, ctx.config, session.setup)


def describe(ctx: RunContext, outcome: Outcome) -> None:
    """The run's sentence (history, Prefect) and its detail lines (CLI, artifact)."""
    summary, config = ctx.summary, ctx.config
    parts = []
    notes = summary.notes
    if outcome.imported is not None:
        imported = outcome.imported.imported
        parts.append(f"{len(imported)} order(s) imported")
        for order_id, unp in imported[:SHOWN]:
            notes.append(f"order {order_id} imported as {config.document_type}, УНП {unp}")
        if len(imported) > SHOWN:
            notes.append(f"... and {len(imported) - SHOWN} more order(s)")
        notes.extend(p.sentence() for p in outcome.imported.problems[:SHOWN])
    if outcome.waiting:
        first = outcome.waiting[0]
        parts.append(
            f"{len(outcome.waiting)} order(s) waiting (first: {first[1] or f'order {first[0]}'})"
        )
    if outcome.released:
        parts.append(f"{len(outcome.released)} reservation(s) released")
        notes.extend(
            f"order {o} ({unp}): {how} in Warehouse Pro, reservation released"
            for o, unp, how in outcome.released[:SHOWN]
        )
    if outcome.exported is not None:
        exported = outcome.exported
        visibility = "visible" if config.export.visible else "invisible"
        parts.append(
            f"{len(exported.sent)} of {exported.considered} good(s) sent to the shop"
            f" ({exported.new} new, {visibility})"
        )
        for product in exported.sent[:SHOWN]:
            quantity = "" if product.quantity is None else f", {product.quantity} available"
            notes.append(f"sent {product.code} {product.name} {product.price}{quantity}")
        if len(exported.sent) > SHOWN:
            notes.append(f"... and {len(exported.sent) - SHOWN} more good(s)")
    if outcome.downloaded:
        parts.append(f"{len(outcome.downloaded)} good(s) downloaded into Warehouse Pro")
        notes.extend(f"downloaded {code}" for code in outcome.downloaded[:SHOWN])
    summary.headline_text = ", ".join(parts) or "nothing to do"
    summary.message = f"{config.store}: {summary.headline_text}"


def run_steps(ctx: RunContext, session: Session) -> Outcome:
    from prefect.utilities.annotations import quote

    config = ctx.config
    outcome = Outcome()
    try:
        if config.imports.orders:
            outcome.imported = import_step(quote(ctx), quote(session))
            outcome.released = release_step(quote(ctx), quote(session))
        if config.imports.goods:
            outcome.downloaded = download_step(quote(ctx), quote(session))
        if config.export.goods:
            outcome.exported = export_step(quote(ctx), quote(session))
    finally:
        outcome.waiting = waiting_orders(ctx.ledger, ctx.store)
        describe(ctx, outcome)
    return outcome
