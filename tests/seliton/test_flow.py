"""End to end: orders in once with their УНП, reservations, goods out by digest, on a
Warehouse Pro database on SQLite and on MariaDB, against the contract fake over HTTPS."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.seliton.store import Warehouse, ledger_rows

UNP = re.compile(r"^DY447824-0001-\d{7}$")


def reserved(shop) -> dict[str, int]:
    rows = ledger_rows(
        shop.ledger_url,
        "SELECT reference, reserved FROM stock WHERE store = :s AND reserved <> 0",
        s=shop.store,
    )
    return {r.reference: int(r.reserved) for r in rows}


def test_orders_imported_once_with_unp_on_both_sides(make_shop, warehouse_url, run, fake):
    shop = make_shop(warehouse_url)
    fake.add_order(1001, [("1001", "2", "3.49"), ("3800012345708", "1", "2.99")])
    fake.add_order(1002, [("1002", "1", "3.19")])
    fake.add_order(1003, [("1002", "1", "3.19"), ("9999", "1", "5.00")])
    fake.add_order(1004, [("1001", "1", "3.49")])

    summary = run(shop)
    assert summary.state == "completed", summary.render()
    warehouse = Warehouse(warehouse_url)
    try:
        written = warehouse.orders()
        assert [r.order_id for r in written] == [1001, 1002, 1004]
        assert [r.unp for r in written] == [
            "DY447824-0001-0000001",
            "DY447824-0001-0000002",
            "DY447824-0001-0000003",
        ]
        assert [(r.heads, r.line_count) for r in written] == [(1, 2), (1, 1), (1, 1)]
        heads = warehouse.rows(
            "SELECT ExternalInvoiceNumber, OperType FROM documents ORDER BY Acct"
        )
        assert [(h.ExternalInvoiceNumber, h.OperType) for h in heads] == [
            (r.unp, 19) for r in written
        ]
        lines = warehouse.rows(
            "SELECT o.Acct, g.Code, o.Qtty, o.ObjectID, o.OperatorID, o.Note FROM operations o"
            " JOIN goods g ON g.ID = o.GoodID ORDER BY o.ID"
        )
        assert [(r.Code, r.Qtty, r.ObjectID, r.OperatorID) for r in lines] == [
            ("1001", 2.0, 1, 1),
            ("1004", 1.0, 1, 1),  # matched by its barcode
            ("1002", 1.0, 1, 1),
            ("1001", 1.0, 1, 1),
        ]
    finally:
        warehouse.close()
    assert {o: fake.orders[o].unp for o in (1001, 1002, 1004)} == {
        r.order_id: r.unp for r in written
    }
    assert fake.orders[1003].unp == ""
    # The waiting order: its line, raw values and reason in the run's history and output.
    assert "order 1003 line 2 (code='9999' quantity='1' price='5.00')" in summary.message
    assert "no good in Warehouse Pro has this code or barcode" in summary.message
    history = ledger_rows(
        shop.ledger_url, "SELECT message FROM runs WHERE store = :s", s=shop.store
    )
    assert "order 1003 line 2" in history[-1].message
    cursor = ledger_rows(
        shop.ledger_url,
        "SELECT value FROM cursors WHERE store = :s AND name = 'last_order'",
        s=shop.store,
    )
    assert cursor[0].value == "1002"  # not past the waiting order
    assert reserved(shop) == {"1001": 3000, "1004": 1000, "1002": 1000}

    # Seen again: nothing written twice, no number spent; the waiting order still waits.
    updates = len(fake.updates)
    summary = run(shop)
    assert summary.state == "completed", summary.render()
    warehouse = Warehouse(warehouse_url)
    try:
        assert [r.order_id for r in warehouse.orders()] == [1001, 1002, 1004]
        assert warehouse.documents_by_reason() == {
            "Seliton 1001": 1,
            "Seliton 1002": 1,
            "Seliton 1004": 1,
        }
        # The good appears in Warehouse Pro: the next run writes the order.
        with warehouse.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO goods (Code, Name, PriceOut2, GroupID, Deleted)"
                    " VALUES ('9999', 'Сок нар', 5.0, 2, 0)"
                )
            )
    finally:
        warehouse.close()
    assert len(fake.updates) == updates
    summary = run(shop)
    assert summary.state == "completed", summary.render()
    assert fake.orders[1003].unp == "DY447824-0001-0000004"
    cursor = ledger_rows(
        shop.ledger_url,
        "SELECT value FROM cursors WHERE store = :s AND name = 'last_order'",
        s=shop.store,
    )
    assert cursor[0].value == "1004"
    assert reserved(shop) == {"1001": 3000, "1004": 1000, "1002": 2000, "9999": 1000}


def test_export_sends_only_changes_with_available_quantities(make_shop, warehouse_url, run, fake):
    shop = make_shop(warehouse_url)
    fake.add_order(1, [("1001", "5", "3.49")])
    summary = run(shop)
    assert summary.state == "completed", summary.render()
    # Groups Сок and its subgroup Натурален сок; not Напитки (parent) nor Хляб.
    assert sorted(fake.products) == ["1001", "1002", "1003", "1004", "1005"]
    assert fake.products["1001"]["quantity"] == "19"  # 24 on hand - 5 reserved
    assert fake.products["1003"]["availabilityStatus"] == "out_of_stock"
    assert {p["isActive"] for p in fake.products.values()} == {"0"}  # new: invisible
    assert fake.products["1004"]["category"] == "Натурален сок"
    assert fake.products["1002"]["price"] == "3.19"
    feeds = len(fake.actions("postxmlfeed"))

    summary = run(shop)  # nothing changed: nothing sent
    assert len(fake.actions("postxmlfeed")) == feeds
    assert "0 of 5 good(s) sent" in summary.message

    fake.products["1002"]["isActive"] = "1"  # the shop owner made it visible
    engine = sa.create_engine(warehouse_url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE goods SET PriceOut2 = 3.39 WHERE Code = '1002'"))
        connection.execute(sa.text("UPDATE store SET Qtty = 30 WHERE GoodID = 1"))
    engine.dispose()
    summary = run(shop)
    assert "2 of 5 good(s) sent" in summary.message, summary.message
    assert fake.products["1002"]["price"] == "3.39"
    assert fake.products["1002"]["isActive"] == "1"  # visibility is the shop's once created
    assert fake.products["1001"]["quantity"] == "25"


def test_visible_and_batches(make_shop, sqlite_warehouse_url, run, fake):
    shop = make_shop(
        sqlite_warehouse_url, export={"visible": True, "batch": 2, "quantities": False}
    )
    summary = run(shop)
    assert summary.state == "completed", summary.render()
    assert len(fake.actions("postxmlfeed")) == 3  # 5 goods, 2 a request
    assert {p["isActive"] for p in fake.products.values()} == {"1"}
    assert all("quantity" not in p for p in fake.products.values())
