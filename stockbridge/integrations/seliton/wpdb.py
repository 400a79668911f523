"""Warehouse Pro, read and written: the settings' rows, goods to export, orders written once.

Reads are batch queries (one per kind of thing per run). An order is written in one
transaction: its ``documents`` row, one ``operations`` row per line and its row in
stockbridge's own ``stockbridge_seliton`` table, whose unique keys (order number, УНП) make
the database refuse the same order or the same УНП twice, whatever a killed run left.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from stockbridge.errors import LedgerError, StockbridgeError
from stockbridge.integrations.seliton.config import SelitonConfig
from stockbridge.integrations.seliton.warehouse import (
    DEFAULT_PARTNER,
    SALE,
    documents,
    goods,
    goodsgroups,
    imported_orders,
    objects,
    operations,
    store,
    users,
)
from stockbridge.ledger.database import create_ledger_engine, describe, safe_url

LOOKUP_CHUNK = 500


class WarehouseError(StockbridgeError):
    """Warehouse Pro's database unreachable, or a setting naming nothing in it."""


@dataclass(frozen=True)
class Setup:
    """What the store file's names stand for in this Warehouse Pro database."""

    operator_id: int
    object_id: int
    groups: dict[int, str]
    """Every exported group (the chosen ones and their subgroups): ID -> name."""
    first_group: int


@dataclass(frozen=True)
class Good:
    id: int
    code: str
    barcode: str
    name: str
    price: float
    group: str
    quantity: float


@dataclass(frozen=True)
class WrittenOrder:
    order_id: int
    unp: str
    acct: int


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def open_warehouse(config: SelitonConfig) -> Engine:
    try:
        url = make_url(config.warehouse.url)
    except ArgumentError:
        raise WarehouseError(
            f"warehouse '{config.warehouse.url}' is not a database URL; use"
            " mysql://user@host/warehouse (or mssql+pyodbc://...)"
        ) from None
    if config.warehouse.password is not None:
        url = url.set(password=config.warehouse.password.get_secret_value())
    try:
        return create_ledger_engine(url.render_as_string(hide_password=False))
    except LedgerError as exc:
        raise WarehouseError(str(exc).replace("ledger", "warehouse")) from None


@contextmanager
def connected(engine: Engine, write: bool = False) -> Iterator[Connection]:
    """A transaction on Warehouse Pro; an unreachable database is one sentence."""
    try:
        with engine.begin() if write else engine.connect() as connection:
            yield connection
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        raise WarehouseError(
            f"cannot reach Warehouse Pro's database at {safe_url(engine.url)}: {describe(exc)}"
        ) from None


def ensure_own_table(engine: Engine) -> None:
    with connected(engine, write=True) as connection:
        imported_orders.create(connection, checkfirst=True)


def resolve(
    connection: Connection, config: SelitonConfig, found: dict[str, str] | None = None
) -> Setup | None:
    """The operator, object and groups of the store file, or one sentence naming the one
    that Warehouse Pro does not have. With ``found``, each key's problem (or ``""``) is
    put there instead (doctor) and None is returned when one is missing."""
    problems: list[str] = []
    keyed = {"operator": "", "object": "", "groups": ""}
    operator = connection.execute(
        select(users.c.ID).where(users.c.Code == config.operator, _alive(users))
    ).scalar()
    if operator is None:
        problems.append(f"operator: no user with code '{config.operator}' in Warehouse Pro")
        keyed["operator"] = problems[-1]
    place = connection.execute(
        select(objects.c.ID)
        .where(or_(objects.c.Name == config.object, objects.c.Code == config.object))
        .where(_alive(objects))
        .order_by(objects.c.ID)
    ).scalar()
    if place is None:
        problems.append(f"object: no object named or coded '{config.object}' in Warehouse Pro")
        keyed["object"] = problems[-1]
    all_groups = connection.execute(
        select(goodsgroups.c.ID, goodsgroups.c.Name, goodsgroups.c.Code)
    ).all()
    chosen: dict[int, str] = {}
    first = None
    for wanted in config.groups:
        roots = [g for g in all_groups if wanted in (g.Name, g.Code)]
        if not roots:
            problems.append(f"groups: no goods group named or coded '{wanted}' in Warehouse Pro")
            keyed["groups"] = problems[-1]
            continue
        for root in roots:
            first = first if first is not None else root.ID
            prefix = root.Code or ""
            for group in all_groups:
                if group.ID == root.ID or (prefix and (group.Code or "").startswith(prefix)):
                    chosen[group.ID] = group.Name or ""
    if found is not None:
        found.update(keyed)
        if problems:
            return None
    if problems:
        raise WarehouseError(
            "; ".join(problems) + " (check the store file's names against Warehouse Pro)"
        )
    assert operator is not None and place is not None and first is not None
    return Setup(int(operator), int(place), chosen, int(first))


def _alive(table) -> object:
    return or_(table.c.Deleted.is_(None), table.c.Deleted == 0)


def goods_for_export(connection: Connection, setup: Setup) -> list[Good]:
    quantity = (
        select(store.c.GoodID, func.sum(store.c.Qtty).label("qtty"))
        .where(store.c.ObjectID == setup.object_id)
        .group_by(store.c.GoodID)
        .subquery()
    )
    rows = connection.execute(
        select(
            goods.c.ID,
            goods.c.Code,
            goods.c.BarCode1,
            goods.c.Name,
            goods.c.PriceOut2,
            goods.c.GroupID,
            quantity.c.qtty,
        )
        .select_from(goods.outerjoin(quantity, quantity.c.GoodID == goods.c.ID))
        .where(goods.c.GroupID.in_(list(setup.groups)), _alive(goods))
        .order_by(goods.c.ID)
    ).all()
    return [
        Good(
            int(r.ID),
            (r.Code or "").strip(),
            (r.BarCode1 or "").strip(),
            r.Name or "",
            float(r.PriceOut2 or 0),
            setup.groups.get(r.GroupID, ""),
            float(r.qtty or 0),
        )
        for r in rows
        if (r.Code or "").strip()
    ]


def goods_by_code(
    connection: Connection, codes: Iterable[str]
) -> dict[str, tuple[int, str, float]]:
    """Shop codes -> (good ID, good Code, retail price), matched by Code, then by barcode."""
    wanted = sorted({c for c in codes if c})
    found: dict[str, tuple[int, str, float]] = {}
    columns = (goods.c.Code, goods.c.BarCode1, goods.c.BarCode2, goods.c.BarCode3)
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        rows = connection.execute(
            select(goods.c.ID, *columns, goods.c.PriceOut2)
            .where(or_(*(column.in_(chunk) for column in columns)), _alive(goods))
            .order_by(goods.c.ID)
        ).all()
        by_code = {r.Code: r for r in rows if r.Code}
        for code in chunk:
            row = by_code.get(code) or next(
                (r for r in rows if code in (r.BarCode1, r.BarCode2, r.BarCode3)), None
            )
            if row is not None:
                found[code] = (int(row.ID), row.Code or code, float(row.PriceOut2 or 0))
    return found


def written_orders(connection: Connection, order_ids: Iterable[int]) -> dict[int, WrittenOrder]:
    ids = sorted(set(order_ids))
    found = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        rows = connection.execute(
            select(imported_orders).where(
                imported_orders.c.OrderNumber.in_(ids[start : start + LOOKUP_CHUNK])
            )
        ).all()
        found.update(
            {int(r.OrderNumber): WrittenOrder(int(r.OrderNumber), r.UNP, int(r.Acct)) for r in rows}
        )
    return found


@dataclass(frozen=True)
class OrderToWrite:
    order_id: int
    unp: str
    created_at: str
    lines: list[tuple[int, float, float]]
    """(good ID, quantity, price with VAT) per line."""


def write_orders(
    engine: Engine, config: SelitonConfig, setup: Setup, orders: list[OrderToWrite]
) -> dict[int, WrittenOrder]:
    """Write the orders Warehouse Pro does not have yet, all in one transaction; when the
    unique keys refuse the batch (another writer got there), one transaction per order."""
    try:
        with connected(engine, write=True) as connection:
            return _write_batch(connection, config, setup, orders)
    except IntegrityError:
        pass
    written: dict[int, WrittenOrder] = {}
    for order in orders:
        try:
            with connected(engine, write=True) as connection:
                written.update(_write_batch(connection, config, setup, [order]))
        except IntegrityError:
            with connected(engine) as connection:
                existing = written_orders(connection, [order.order_id])
            if order.order_id not in existing:
                raise WarehouseError(
                    f"Warehouse Pro refused order {order.order_id}: its УНП {order.unp} is"
                    " already on another order there; nothing of it was written"
                ) from None
            written[order.order_id] = existing[order.order_id]
    return written


def _write_batch(
    connection: Connection, config: SelitonConfig, setup: Setup, orders: list[OrderToWrite]
) -> dict[int, WrittenOrder]:
    oper_type = config.oper_type
    sign = -1 if oper_type == SALE else 0
    written = written_orders(connection, [o.order_id for o in orders])
    new = [o for o in orders if o.order_id not in written]
    if not new:
        return written
    last = int(
        connection.execute(
            select(func.coalesce(func.max(documents.c.Acct), 0)).where(
                documents.c.OperType == oper_type
            )
        ).scalar()
        or 0
    )
    moment = now()
    keys, heads, lines = [], [], []
    for offset, order in enumerate(new, start=1):
        acct = last + offset
        written[order.order_id] = WrittenOrder(order.order_id, order.unp, acct)
        keys.append(
            {
                "OrderNumber": order.order_id,
                "UNP": order.unp,
                "OperType": oper_type,
                "Acct": acct,
                "WrittenAt": moment,
            }
        )
        heads.append(
            {
                "Acct": acct,
                "InvoiceNumber": "",
                "OperType": oper_type,
                "InvoiceDate": moment,
                "DocumentType": 0,
                "ExternalInvoiceNumber": order.unp,
                "PaymentType": 1,
                "Reason": f"Seliton {order.order_id}",
                "Description": f"УНП {order.unp}",
            }
        )
        lines.extend(
            {
                "OperType": oper_type,
                "Acct": acct,
                "GoodID": good_id,
                "PartnerID": DEFAULT_PARTNER,
                "ObjectID": setup.object_id,
                "OperatorID": setup.operator_id,
                "Qtty": quantity,
                "Sign": sign,
                "PriceIn": 0.0,
                "PriceOut": price,
                "VATIn": 0.0,
                "VATOut": 0.0,
                "Discount": 0.0,
                "CurrencyID": 1,
                "CurrencyRate": 1.0,
                "Date": moment,
                "Lot": " ",
                "LotID": 1,
                "Note": order.unp,
                "SrcDocID": 0,
                "UserID": setup.operator_id,
                "UserRealTime": moment,
            }
            for good_id, quantity, price in order.lines
        )
    connection.execute(imported_orders.insert(), keys)
    connection.execute(documents.insert(), heads)
    connection.execute(operations.insert(), lines)
    if sign:
        sold: dict[int, float] = {}
        for order in new:
            for good_id, quantity, _ in order.lines:
                sold[good_id] = sold.get(good_id, 0.0) + quantity
        for good_id, quantity in sold.items():
            connection.execute(
                store.update()
                .where(store.c.ObjectID == setup.object_id, store.c.GoodID == good_id)
                .values(Qtty=store.c.Qtty - quantity)
            )
    return written


def closed_orders(connection: Connection, oper_type: int, accts: Iterable[int]) -> dict[int, str]:
    """Of these order documents, those no longer open: ``sale`` (a sale operation points at
    it: ``SrcDocID`` = its Acct) or ``cancelled`` (its lines are gone while stockbridge's
    keys row for it is still there: a Warehouse Pro database restored from before the order,
    or another database, releases nothing)."""
    accts = sorted(set(accts))
    closed: dict[int, str] = {}
    for start in range(0, len(accts), LOOKUP_CHUNK):
        chunk = accts[start : start + LOOKUP_CHUNK]
        alive = set(
            connection.execute(
                select(operations.c.Acct)
                .where(operations.c.OperType == oper_type, operations.c.Acct.in_(chunk))
                .distinct()
            ).scalars()
        )
        sold = set(
            connection.execute(
                select(operations.c.SrcDocID)
                .where(operations.c.OperType == SALE, operations.c.SrcDocID.in_(chunk))
                .distinct()
            ).scalars()
        )
        keyed = set(
            connection.execute(
                select(imported_orders.c.Acct).where(
                    imported_orders.c.OperType == oper_type, imported_orders.c.Acct.in_(chunk)
                )
            ).scalars()
        )
        for acct in chunk:
            if acct in sold:
                closed[acct] = "sale"
            elif acct not in alive and acct in keyed:
                closed[acct] = "cancelled"
    return closed


def add_goods(engine: Engine, setup: Setup, new: list[tuple[str, str, str, float]]) -> list[str]:
    """Goods created on the shop (code, barcode, name, price) into the first chosen group."""
    if not new:
        return []
    with connected(engine, write=True) as connection:
        have = goods_by_code(connection, [code for code, *_ in new])
        rows = [
            {
                "Code": code,
                "BarCode1": barcode,
                "Name": name,
                "Name2": name,
                "Measure1": "бр.",
                "PriceIn": 0.0,
                "PriceOut2": price,
                "TaxGroup": 1,
                "GroupID": setup.first_group,
                "Deleted": 0,
            }
            for code, barcode, name, price in new
            if code not in have
        ]
        if rows:
            connection.execute(goods.insert(), rows)
    return [row["Code"] for row in rows]
