"""Shop orders into Warehouse Pro exactly once, each with its УНП on both sides.

Each run takes every order above the saved number, in order, and moves each through
``assigned`` (its УНП committed in the ledger) -> ``written`` (in Warehouse Pro, quantities
reserved, in one ledger transaction) -> ``confirmed`` (``updateorder`` accepted by the shop).
A run killed at any point leaves an order in one of these states and the next run takes it
on from there with the same УНП: Warehouse Pro's unique keys make its write happen once,
and the shop takes the same УНП again harmlessly. The saved number only moves over orders
that are confirmed, so it never skips one; an order with a line naming no known good is
``waiting`` with the reason, tried again each run, and holds the saved number behind it.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, select, update

from stockbridge.integrations.seliton import wire
from stockbridge.integrations.seliton.client import ShopClient
from stockbridge.integrations.seliton.config import SelitonConfig
from stockbridge.integrations.seliton.state import seliton_orders
from stockbridge.integrations.seliton.unp import format_unp, next_number
from stockbridge.integrations.seliton.warehouse import SALE
from stockbridge.integrations.seliton.wpdb import (
    OrderToWrite,
    Setup,
    closed_orders,
    connected,
    goods_by_code,
    write_orders,
    written_orders,
)
from stockbridge.ledger.ledger import Ledger, utc_now
from stockbridge.ledger.tables import stock

INTEGRATION = "seliton"
CURSOR = "last_order"
BATCH = 200
"""Orders per Warehouse Pro transaction and per ledger transaction."""
LOOKUP_CHUNK = 500
DONE = ("confirmed", "released", "cancelled")
CANCELLED = ("cancelled", "canceled")
"""Shop statuses of an order cancelled before it was imported: recorded, never written."""


@dataclass(frozen=True)
class OrderProblem:
    """A line of a shop order that cannot be written: where, as sent, and why."""

    order_id: int
    line: int
    raw: str
    reason: str

    def sentence(self) -> str:
        return (
            f"order {self.order_id} line {self.line} ({self.raw}): {self.reason};"
            " the order waits and is tried again next run"
        )


@dataclass
class ImportReport:
    imported: list[tuple[int, str]] = field(default_factory=list)
    """(order number, УНП) of the orders confirmed on both sides by this run."""
    problems: list[OrderProblem] = field(default_factory=list)
    cursor: int = 0
    seen: int = 0


def fetch_orders(shop: ShopClient, after: int) -> list[wire.ShopOrder]:
    found: list[wire.ShopOrder] = []
    while True:
        page = wire.orders(
            shop.call("getorders", from_id=str(after), limit=str(wire.ORDERS_PER_PAGE)).root
        )
        page = [order for order in page if order.id > after]
        found.extend(page)
        if len(page) < wire.ORDERS_PER_PAGE:
            return found
        after = page[-1].id


def _known(ledger: Ledger, store: str, ids: list[int]) -> dict[int, object]:
    known = {}
    with ledger.reading() as connection:
        for start in range(0, len(ids), LOOKUP_CHUNK):
            rows = connection.execute(
                select(seliton_orders).where(
                    seliton_orders.c.store == store,
                    seliton_orders.c.order_id.in_(ids[start : start + LOOKUP_CHUNK]),
                )
            ).all()
            known.update({int(r.order_id): r for r in rows})
    return known


def _match(
    order: wire.ShopOrder, goods: dict[str, tuple[int, str, float]]
) -> tuple[list[list], list[OrderProblem]]:
    """The order's lines as ``[code, thousandths, good ID, price]``, or what is wrong."""
    lines, problems = [], []
    if not order.lines:
        problems.append(OrderProblem(order.id, 0, "(no items)", "the order has no lines"))
    for line in order.lines:
        quantity = wire.decimal(line.quantity)
        price = wire.decimal(line.price) if line.price else None
        reason = ""
        if line.code not in goods:
            reason = "no good in Warehouse Pro has this code or barcode"
        elif (
            quantity is None
            or quantity <= 0
            or quantity != quantity.quantize(wire.Decimal("0.001"))
        ):
            reason = "the quantity is not a positive number with at most 3 decimals"
        elif line.price and price is None:
            reason = "the price is not a number"
        if reason:
            problems.append(OrderProblem(order.id, line.line, line.raw, reason))
            continue
        good_id, code, retail = goods[line.code]
        lines.append(
            [code, int(quantity * 1000), good_id, float(price if price is not None else retail)]
        )
    return lines, problems


def add_reserved(connection: Connection, store: str, deltas: dict[str, int]) -> None:
    """``stock.reserved += delta`` per good code (a row opened at 0 when missing)."""
    if not deltas:
        return
    codes = sorted(deltas)
    have = set(
        connection.execute(
            select(stock.c.reference).where(stock.c.store == store, stock.c.reference.in_(codes))
        ).scalars()
    )
    moment = utc_now()
    missing = [c for c in codes if c not in have]
    if missing:
        connection.execute(
            stock.insert(),
            [
                {"store": store, "reference": c, "on_hand": 0, "reserved": 0, "updated_at": moment}
                for c in missing
            ],
        )
    for code in codes:
        connection.execute(
            update(stock)
            .where(stock.c.store == store, stock.c.reference == code)
            .values(reserved=stock.c.reserved + deltas[code], updated_at=moment)
        )


def _reservation(lines_json: str) -> Counter[str]:
    reserved: Counter[str] = Counter()
    for code, milli, *_ in json.loads(lines_json):
        reserved[code] += int(milli)
    return reserved


def import_orders(
    ledger: Ledger,
    warehouse: Engine,
    shop: ShopClient,
    config: SelitonConfig,
    setup: Setup,
    run_id: str,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> ImportReport:
    logger = logger or logging.getLogger(__name__)
    store = config.store
    report = ImportReport(cursor=int(ledger.cursor(store, INTEGRATION, CURSOR) or 0))
    shop_orders = fetch_orders(shop, report.cursor)
    report.seen = len(shop_orders)
    if not shop_orders:
        return report
    ids = [order.id for order in shop_orders]
    known = _known(ledger, store, ids)
    with connected(warehouse) as connection:
        in_warehouse = written_orders(connection, ids)
    fresh = [o for o in shop_orders if o.id not in known or known[o.id].status == "waiting"]
    if fresh:
        with connected(warehouse) as connection:
            goods = goods_by_code(connection, (line.code for o in fresh for line in o.lines))
        _assign(ledger, config, fresh, goods, in_warehouse, run_id, report)
        known = _known(ledger, store, ids)
    by_id = {order.id: order for order in shop_orders}
    pending = [known[i] for i in ids if i in known and known[i].status in ("assigned", "written")]
    for start in range(0, len(pending), BATCH):
        batch = pending[start : start + BATCH]
        _write(ledger, warehouse, config, setup, batch, by_id)
        _confirm(ledger, shop, config, [known[r.order_id] for r in batch], report, logger)
    known = _known(ledger, store, ids)
    cursor = report.cursor
    for order_id in ids:
        if order_id not in known or known[order_id].status not in DONE:
            break
        cursor = order_id
    if cursor != report.cursor:
        ledger.set_cursor(store, INTEGRATION, CURSOR, str(cursor))
        report.cursor = cursor
    return report


def _assign(
    ledger: Ledger,
    config: SelitonConfig,
    fresh: list[wire.ShopOrder],
    goods: dict[str, tuple[int, str, float]],
    in_warehouse: dict,
    run_id: str,
    report: ImportReport,
) -> None:
    """One ledger transaction: each complete order gets its УНП (the one Warehouse Pro
    already has for it, if a lost ledger forgot it), each incomplete one waits."""
    store = config.store
    moment = utc_now()
    with ledger.transaction() as connection:
        for order in fresh:
            lines, problems = _match(order, goods)
            existing = connection.execute(
                select(seliton_orders.c.status).where(
                    seliton_orders.c.store == store, seliton_orders.c.order_id == order.id
                )
            ).scalar()
            if order.status.lower() in CANCELLED and order.id not in in_warehouse:
                values = {
                    "status": "cancelled",
                    "lines": "[]",
                    "reason": f"cancelled on the shop (status {order.status!r}) before import",
                    "run_id": run_id,
                    "updated_at": moment,
                }
            elif problems:
                report.problems.extend(problems)
                values = {
                    "status": "waiting",
                    "lines": "[]",
                    "reason": "; ".join(p.sentence() for p in problems)[:4000],
                    "run_id": run_id,
                    "updated_at": moment,
                }
            else:
                if order.id in in_warehouse:
                    unp = in_warehouse[order.id].unp
                else:
                    number = next_number(connection, config.fiscal_device)
                    unp = format_unp(config.fiscal_device, config.operator, number)
                values = {
                    "status": "assigned",
                    "unp": unp,
                    "lines": json.dumps(lines),
                    "reason": None,
                    "run_id": run_id,
                    "updated_at": moment,
                }
            if existing is None:
                connection.execute(
                    seliton_orders.insert().values(store=store, order_id=order.id, **values)
                )
            else:
                connection.execute(
                    update(seliton_orders)
                    .where(seliton_orders.c.store == store, seliton_orders.c.order_id == order.id)
                    .values(**values)
                )


def _write(ledger, warehouse, config, setup, batch, by_id) -> None:
    """The batch's ``assigned`` orders into Warehouse Pro, then ``written`` + reserved."""
    assigned = [row for row in batch if row.status == "assigned"]
    if not assigned:
        return
    to_write = [
        OrderToWrite(
            row.order_id,
            row.unp,
            by_id[row.order_id].created_at,
            [(good_id, milli / 1000, price) for _, milli, good_id, price in json.loads(row.lines)],
        )
        for row in assigned
    ]
    written = write_orders(warehouse, config, setup, to_write)
    reserves = config.oper_type != SALE
    with ledger.transaction() as connection:
        deltas: Counter[str] = Counter()
        for row in assigned:
            changed = connection.execute(
                update(seliton_orders)
                .where(
                    seliton_orders.c.store == config.store,
                    seliton_orders.c.order_id == row.order_id,
                    seliton_orders.c.status == "assigned",
                )
                .values(status="written", acct=written[row.order_id].acct, updated_at=utc_now())
            )
            if changed.rowcount and reserves:
                deltas.update(_reservation(row.lines))
        add_reserved(connection, config.store, dict(deltas))


def _confirm(ledger, shop, config, rows, report, logger) -> None:
    """``updateorder`` for each written order, then ``confirmed`` for the batch."""
    done = []
    try:
        for row in rows:
            if row.status in DONE:
                continue
            shop.call("updateorder", id=str(row.order_id), unp=row.unp)
            done.append((row.order_id, row.unp))
    finally:
        if done:
            with ledger.transaction() as connection:
                for order_id, _ in done:
                    connection.execute(
                        update(seliton_orders)
                        .where(
                            seliton_orders.c.store == config.store,
                            seliton_orders.c.order_id == order_id,
                            seliton_orders.c.status == "written",
                        )
                        .values(status="confirmed", updated_at=utc_now())
                    )
            report.imported.extend(done)


def release_closed(
    ledger: Ledger, warehouse: Engine, config: SelitonConfig
) -> list[tuple[int, str, str]]:
    """Release the reservation of every confirmed order Warehouse Pro turned into a sale
    or cancelled: (order number, УНП, how it closed)."""
    if config.oper_type == SALE:
        return []
    with ledger.reading() as connection:
        open_rows = connection.execute(
            select(seliton_orders).where(
                seliton_orders.c.store == config.store,
                seliton_orders.c.status == "confirmed",
                seliton_orders.c.acct.is_not(None),
            )
        ).all()
    if not open_rows:
        return []
    with connected(warehouse) as connection:
        closed = closed_orders(connection, config.oper_type, (r.acct for r in open_rows))
    released = []
    with ledger.transaction() as connection:
        deltas: Counter[str] = Counter()
        for row in open_rows:
            if row.acct not in closed:
                continue
            changed = connection.execute(
                update(seliton_orders)
                .where(
                    seliton_orders.c.store == config.store,
                    seliton_orders.c.order_id == row.order_id,
                    seliton_orders.c.status == "confirmed",
                )
                .values(status="released", updated_at=utc_now())
            )
            if changed.rowcount:
                deltas.subtract(_reservation(row.lines))
                released.append((int(row.order_id), row.unp, closed[row.acct]))
        add_reserved(connection, config.store, {k: v for k, v in deltas.items() if v})
    return released


def waiting_orders(ledger: Ledger, store: str) -> list[tuple[int, str]]:
    with ledger.reading() as connection:
        return [
            (int(r.order_id), r.reason or "")
            for r in connection.execute(
                select(seliton_orders.c.order_id, seliton_orders.c.reason)
                .where(seliton_orders.c.store == store, seliton_orders.c.status == "waiting")
                .order_by(seliton_orders.c.order_id)
            )
        ]
