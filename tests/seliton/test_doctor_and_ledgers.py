"""Doctor checks, downloading goods (i), the ledger's Seliton tables on SQLite, PostgreSQL and
MariaDB (migration 0007 both ways), and the parts that are pure functions."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.pool import NullPool

from stockbridge.config.loader import load_store
from stockbridge.integrations import get
from stockbridge.integrations.seliton import safexml, unp
from stockbridge.ledger.database import MIGRATIONS, create_ledger_engine, migrate
from tests.seliton.store import SECRET, Warehouse, ledger_rows


def test_doctor_checks_pass_and_name_what_is_missing(make_shop, sqlite_warehouse_url, fake):
    shop = make_shop(sqlite_warehouse_url)
    checks = get("seliton").load_doctor()
    results = list(checks(load_store(shop.config), shop.config))
    assert [c.name for c in results] == [
        "shop secret from the environment",
        "shop answers and accepts the credentials",
        "Warehouse Pro database reachable",
        "operator exists in Warehouse Pro",
        "object exists in Warehouse Pro",
        "groups exists in Warehouse Pro",
    ]
    assert all(c.ok for c in results), results
    assert fake.updates == [] and fake.products == {}  # doctor only reads

    shop.rewrite(operator="7", object="Магазин 9", groups=["Сок", "Вино"])
    fake.secret = "changed on the shop"
    results = {c.name: c for c in checks(load_store(shop.config), shop.config)}
    assert not results["shop answers and accepts the credentials"].ok
    assert "refused user 'admin'" in results["shop answers and accepts the credentials"].detail
    assert "no user with code '7'" in results["operator exists in Warehouse Pro"].detail
    assert "'Магазин 9'" in results["object exists in Warehouse Pro"].detail
    assert "'Вино'" in results["groups exists in Warehouse Pro"].detail
    assert all(SECRET not in c.detail for c in results.values())

    shop.rewrite(warehouse="mysql://nobody@127.0.0.1:1/none")
    results = {c.name: c for c in checks(load_store(shop.config), shop.config)}
    reach = results["Warehouse Pro database reachable"]
    assert not reach.ok and "cannot reach Warehouse Pro's database" in reach.detail


def test_goods_created_on_the_shop_are_downloaded_once(make_shop, sqlite_warehouse_url, run, fake):
    shop = make_shop(sqlite_warehouse_url, **{"import": {"goods": True}})
    fake.online_products.extend(
        [
            {
                "id": "5",
                "code": "W-1",
                "barcode": "3800099999991",
                "name": "Сок дюля",
                "price": "4.20",
            },
            {"id": "6", "code": "1001", "barcode": "", "name": "вече я има", "price": "1"},
        ]
    )
    fake.products["W-1"] = {"isActive": "1"}  # created visible on the shop
    summary = run(shop)
    assert summary.state == "completed", summary.render()
    assert "1 good(s) downloaded into Warehouse Pro" in summary.message
    warehouse = Warehouse(sqlite_warehouse_url)
    try:
        rows = warehouse.rows("SELECT Code, Name, PriceOut2, GroupID FROM goods WHERE Code = 'W-1'")
        assert [(r.Name, r.PriceOut2, r.GroupID) for r in rows] == [("Сок дюля", 4.2, 2)]
        assert len(warehouse.rows("SELECT ID FROM goods WHERE Code = '1001'")) == 1
    finally:
        warehouse.close()
    assert fake.products["W-1"]["isActive"] == "1"  # exported back, visibility untouched
    assert run(shop).state == "completed"
    assert "downloaded" not in run(shop).message


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def server_ledger_url(request):
    return request.getfixturevalue(
        {"postgresql": "postgres_url", "mariadb": "mariadb_url"}[request.param]
    )


def test_orders_on_a_server_ledger(make_shop, server_ledger_url, sqlite_warehouse_url, run, fake):
    shop = make_shop(sqlite_warehouse_url, ledger_url=server_ledger_url)
    fake.add_order(1, [("1001", "1", "3.49")])
    fake.add_order(2, [("1001", "2", "3.49")])
    assert run(shop).state == "completed"
    assert run(shop).state == "completed"
    rows = ledger_rows(
        server_ledger_url,
        "SELECT order_id, unp, status FROM seliton_orders WHERE store = :s ORDER BY order_id",
        s=shop.store,
    )
    assert [(r.order_id, r.status) for r in rows] == [(1, "confirmed"), (2, "confirmed")]
    assert len({r.unp for r in rows}) == 2
    [stock] = ledger_rows(
        server_ledger_url,
        "SELECT reserved FROM stock WHERE store = :s AND reference = '1001'",
        s=shop.store,
    )
    assert stock.reserved == 3000


@pytest.mark.parametrize(
    "which",
    [
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_migration_0007_up_and_down(which, request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'm.db'}"
        if which == "sqlite"
        else request.getfixturevalue(
            {"postgresql": "postgres_url", "mariadb": "mariadb_url"}[which]
        )
    )
    engine = create_ledger_engine(url)
    migrate(engine)
    names = set(sa.inspect(engine).get_table_names())
    assert {"seliton_orders", "seliton_sequences", "seliton_goods"} <= names
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    assert not {"seliton_orders", "seliton_sequences", "seliton_goods"} & set(
        sa.inspect(engine).get_table_names()
    )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert "seliton_orders" in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_unp_format_and_sequence(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'l.db'}", poolclass=NullPool)
    from stockbridge.integrations.seliton.state import metadata

    metadata.create_all(engine)
    with engine.begin() as connection:
        numbers = [unp.next_number(connection, "DY447824") for _ in range(3)]
        other = unp.next_number(connection, "AB123456")
    assert numbers == [1, 2, 3] and other == 1
    text = unp.format_unp("DY447824", "1", 3)
    assert text == "DY447824-0001-0000003" and unp.PATTERN.match(text)
    engine.dispose()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b'<!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]><x>&a;</x>', "DTD or entities"),
        (b"<a>" * 100 + b"</a>" * 100, "deeper than"),
        (b"<a><b></a>", "not well-formed"),
        (b"x" * 2000, "above the 1,000 allowed"),
    ],
)
def test_hostile_xml_is_refused(data, words):
    with pytest.raises(safexml.UnsafeXML, match=words):
        safexml.parse(data, max_bytes=1000)
