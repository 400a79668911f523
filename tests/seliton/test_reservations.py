"""An imported order reserves its quantities until Warehouse Pro sells or cancels it; an
exported quantity never sells what an open order took."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.seliton.store import Warehouse, ledger_rows


def stock_of(shop, code: str) -> tuple[int, int]:
    [row] = ledger_rows(
        shop.ledger_url,
        "SELECT on_hand, reserved FROM stock WHERE store = :s AND reference = :r",
        s=shop.store,
        r=code,
    )
    return int(row.on_hand), int(row.reserved)


def execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))
    engine.dispose()


def test_sale_and_cancellation_release_the_reservation(make_shop, warehouse_url, run, fake):
    shop = make_shop(warehouse_url)
    fake.add_order(7, [("1001", "2", "3.49")])
    fake.add_order(8, [("1001", "3", "3.49"), ("1002", "1", "3.19")])
    assert run(shop).state == "completed"
    assert stock_of(shop, "1001") == (24_000, 5_000)
    assert fake.products["1001"]["quantity"] == "19"

    warehouse = Warehouse(warehouse_url)
    try:
        accts = {r.order_id: r.acct for r in warehouse.orders()}
    finally:
        warehouse.close()
    # Warehouse Pro turns order 7 into a sale (the stock goes down) and cancels order 8.
    execute(
        warehouse_url,
        "INSERT INTO operations (OperType, Acct, GoodID, ObjectID, Qtty, Sign, SrcDocID)"
        f" VALUES (2, 1, 1, 1, 2, -1, {accts[7]})",
        "UPDATE store SET Qtty = Qtty - 2 WHERE GoodID = 1 AND ObjectID = 1",
        f"DELETE FROM operations WHERE OperType = 19 AND Acct = {accts[8]}",
    )
    summary = run(shop)
    assert summary.state == "completed", summary.render()
    assert "2 reservation(s) released" in summary.message
    assert stock_of(shop, "1001") == (22_000, 0)
    assert stock_of(shop, "1002") == (12_000, 0)
    assert fake.products["1001"]["quantity"] == "22"
    assert fake.products["1002"]["quantity"] == "12"
    states = ledger_rows(
        shop.ledger_url,
        "SELECT order_id, status FROM seliton_orders WHERE store = :s ORDER BY order_id",
        s=shop.store,
    )
    assert [(r.order_id, r.status) for r in states] == [(7, "released"), (8, "released")]
    assert run(shop).state == "completed"  # released once only
    assert stock_of(shop, "1001") == (22_000, 0)


def test_reserved_beyond_on_hand_exports_zero(make_shop, sqlite_warehouse_url, run, fake):
    shop = make_shop(sqlite_warehouse_url)
    fake.add_order(1, [("1005", "7", "3.99")])  # 5 on hand
    assert run(shop).state == "completed"
    assert fake.products["1005"]["quantity"] == "0"
    assert fake.products["1005"]["availabilityStatus"] == "out_of_stock"


def test_orders_as_sales_move_stock_and_reserve_nothing(make_shop, warehouse_url, run, fake):
    shop = make_shop(warehouse_url, document_type="sale")
    fake.add_order(3, [("1002", "2", "3.19")])
    assert run(shop).state == "completed"
    rows = Warehouse(warehouse_url)
    try:
        [line] = rows.rows("SELECT OperType, Sign, Qtty FROM operations")
        [left] = rows.rows("SELECT Qtty FROM store WHERE GoodID = 2 AND ObjectID = 1")
    finally:
        rows.close()
    assert (line.OperType, line.Sign, line.Qtty) == (2, -1, 2.0)
    assert left.Qtty == 10.0
    assert stock_of(shop, "1002") == (10_000, 0)
    assert fake.products["1002"]["quantity"] == "10"


def test_an_order_cancelled_on_the_shop_before_import_is_never_written(
    make_shop, sqlite_warehouse_url, run, fake
):
    shop = make_shop(sqlite_warehouse_url)
    fake.add_order(1, [("1001", "1", "3.49")], status="cancelled")
    fake.add_order(2, [("1002", "1", "3.19")])
    summary = run(shop)
    assert summary.state == "completed", summary.render()
    warehouse = Warehouse(sqlite_warehouse_url)
    try:
        assert [r.order_id for r in warehouse.orders()] == [2]
    finally:
        warehouse.close()
    assert fake.updates == [(2, "DY447824-0001-0000001")]  # no number spent on order 1
    cursor = ledger_rows(
        shop.ledger_url,
        "SELECT value FROM cursors WHERE name = 'last_order' AND store = :s",
        s=shop.store,
    )
    assert cursor[0].value == "2"


def test_a_warehouse_restored_from_before_the_order_releases_nothing(
    make_shop, sqlite_warehouse_url, run, fake
):
    shop = make_shop(sqlite_warehouse_url)
    fake.add_order(9, [("1001", "4", "3.49")])
    assert run(shop).state == "completed"
    execute(sqlite_warehouse_url, "DELETE FROM operations", "DELETE FROM stockbridge_seliton")
    summary = run(shop)
    assert summary.state == "completed", summary.render()
    assert "released" not in summary.message
    assert stock_of(shop, "1001") == (24_000, 4_000)
