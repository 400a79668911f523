"""Goods of the chosen groups to the shop: only what changed, in batches, never oversold.

A digest of what the shop was sent is kept per good (``seliton_goods``); a good whose
digest is unchanged is not sent again, so a 50,000-good shop sends a few dozen goods a run.
Each batch's digests are committed once the shop accepted it: a run killed mid-export sends
the rest, and at worst one batch again (``postxmlfeed`` updates by code, so that is
harmless). The quantity sent is the *available* one: the object's on hand in Warehouse Pro
minus what open web orders reserve in the ledger, never below 0.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Engine, bindparam, select, update

from stockbridge.integrations.seliton import wire
from stockbridge.integrations.seliton.client import ShopClient
from stockbridge.integrations.seliton.config import SelitonConfig
from stockbridge.integrations.seliton.state import seliton_goods
from stockbridge.integrations.seliton.wpdb import Good, Setup, connected, goods_for_export
from stockbridge.ledger.ledger import Ledger, utc_now
from stockbridge.ledger.tables import stock

CENT = Decimal("0.01")
MILLI = Decimal("0.001")


@dataclass
class ExportReport:
    considered: int = 0
    sent: list[wire.Product] = field(default_factory=list)
    new: int = 0
    requests: int = 0


def _price(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(CENT, ROUND_HALF_UP)


def _milli(value: float) -> int:
    return int(Decimal(repr(value)).quantize(MILLI, ROUND_HALF_UP) * 1000)


def digest(product: wire.Product) -> str:
    text = "\x1f".join(
        str(v)
        for v in (
            product.code,
            product.barcode,
            product.name,
            product.price,
            product.category,
            product.quantity,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def sync_on_hand(ledger: Ledger, store: str, goods: list[Good]) -> dict[str, int]:
    """The ledger's ``on_hand`` set to Warehouse Pro's for the exported goods; returns
    ``reserved`` per code (what open orders hold)."""
    on_hand = {g.code: _milli(g.quantity) for g in goods}
    moment = utc_now()
    with ledger.transaction() as connection:
        rows = {
            r.reference: (int(r.on_hand), int(r.reserved))
            for r in connection.execute(
                select(stock.c.reference, stock.c.on_hand, stock.c.reserved).where(
                    stock.c.store == store
                )
            )
        }
        new = [
            {"store": store, "reference": c, "on_hand": q, "reserved": 0, "updated_at": moment}
            for c, q in on_hand.items()
            if c not in rows
        ]
        if new:
            connection.execute(stock.insert(), new)
        changed = [
            {"b_reference": c, "b_on_hand": q}
            for c, q in on_hand.items()
            if c in rows and rows[c][0] != q
        ]
        if changed:
            connection.execute(
                update(stock)
                .where(stock.c.store == store, stock.c.reference == bindparam("b_reference"))
                .values(on_hand=bindparam("b_on_hand"), updated_at=moment),
                changed,
            )
    return {c: rows.get(c, (0, 0))[1] for c in on_hand}


def export_goods(
    ledger: Ledger, warehouse: Engine, shop: ShopClient, config: SelitonConfig, setup: Setup
) -> ExportReport:
    store = config.store
    with connected(warehouse) as connection:
        goods = goods_for_export(connection, setup)
    reserved = sync_on_hand(ledger, store, goods)
    with ledger.reading() as connection:
        known = dict(
            connection.execute(
                select(seliton_goods.c.code, seliton_goods.c.digest).where(
                    seliton_goods.c.store == store
                )
            ).all()
        )
    report = ExportReport(considered=len(goods))
    changed: list[tuple[wire.Product, str, bool]] = []
    seen: set[str] = set()
    for good in goods:
        if good.code in seen:  # two goods with one code: the shop knows one product
            continue
        seen.add(good.code)
        quantity = None
        if config.export.quantities:
            available = max(0, _milli(good.quantity) - reserved.get(good.code, 0))
            quantity = (Decimal(available) / 1000).normalize()
        product = wire.Product(
            good.code, good.barcode, good.name, _price(good.price), good.group, quantity
        )
        mark = digest(product)
        if known.get(good.code) == mark:
            continue
        is_new = good.code not in known
        if is_new:
            product = wire.Product(**{**vars(product), "is_active": config.export.visible})
        changed.append((product, mark, is_new))
    size = config.export.batch
    for start in range(0, len(changed), size):
        batch = changed[start : start + size]
        shop.call("postxmlfeed", xml=wire.feed(store, [p for p, _, _ in batch]).decode())
        report.requests += 1
        _remember(ledger, store, [(p.code, mark) for p, mark, _ in batch], known)
        report.sent.extend(p for p, _, _ in batch)
        report.new += sum(1 for _, _, is_new in batch if is_new)
    return report


def _remember(ledger: Ledger, store: str, digests: list[tuple[str, str]], known: dict) -> None:
    moment = utc_now()
    with ledger.transaction() as connection:
        new = [
            {"store": store, "code": c, "digest": d, "exported_at": moment}
            for c, d in digests
            if c not in known
        ]
        old = [{"b_code": c, "b_digest": d} for c, d in digests if c in known]
        if new:
            connection.execute(seliton_goods.insert(), new)
        if old:
            connection.execute(
                update(seliton_goods)
                .where(seliton_goods.c.store == store, seliton_goods.c.code == bindparam("b_code"))
                .values(digest=bindparam("b_digest"), exported_at=moment),
                old,
            )
    known.update(dict(digests))


def download_goods(
    ledger: Ledger, warehouse: Engine, shop: ShopClient, config: SelitonConfig, setup: Setup
) -> list[str]:
    """Goods created on the shop into Warehouse Pro (i); their codes. Known to the shop
    already, they are remembered with an empty digest, so the next export updates them
    without touching their visibility."""
    from stockbridge.integrations.seliton.wpdb import add_goods

    cursor_name = "last_product"
    after = int(ledger.cursor(config.store, "seliton", cursor_name) or 0)
    products = wire.products(
        shop.call("getproducts", from_id=str(after), limit=str(wire.ORDERS_PER_PAGE)).root
    )
    products = [p for p in products if p.code and (p.shop_id or 0) > after]
    if not products:
        return []
    added = add_goods(
        warehouse,
        setup,
        [(p.code, p.barcode, p.name or p.code, float(p.price)) for p in products],
    )
    with ledger.reading() as connection:
        known = dict(
            connection.execute(
                select(seliton_goods.c.code, seliton_goods.c.digest).where(
                    seliton_goods.c.store == config.store
                )
            ).all()
        )
    fresh = [(p.code, "") for p in products if p.code not in known]
    if fresh:
        _remember(ledger, config.store, fresh, known)
    ledger.set_cursor(
        config.store, "seliton", cursor_name, str(max(p.shop_id or 0 for p in products))
    )
    return added
