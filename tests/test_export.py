"""The full article file: every catalogue reference with its available quantity.

Flow-level tests (real Prefect runs) of what the till reads back: opening stock from the
article file, catalogue changes, negative stock, reservations, format and atomic publish.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pytest

from stockbridge.ledger.ledger import NewDocument
from stockbridge.movements import Document, movement_table
from tests.interstock_store import new_store, outcomes

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def store(make_store):
    """``store(articles, **yaml_overrides)`` -> a Store with its exchange folders."""
    return functools.partial(new_store, make_store)


def test_catalogue_changes_open_new_articles_without_resetting_stock(store):
    shop = store({"A": "10", "B": "5"})
    shop.drop("s1.txt", b"A\t-3\nC\t-1\n")
    first = shop.run()
    assert outcomes(first) == [("s1.txt", "applied", 1, 1)]
    assert shop.exported() == {"A": "7", "B": "5"}

    shop.write_catalogue({"A": "100", "B": "5", "C": "2.5", "D": "0"})
    summary = shop.run()
    assert summary.new_articles == 2
    assert shop.exported() == {"A": "7", "B": "5", "C": "2.5", "D": "0"}

    # A reference the till no longer lists is no longer exported (its stock stays known).
    shop.write_catalogue({"A": "1", "C": "9"})
    shop.drop("s2.txt", b"C\t-0,5\nB\t-1\n")
    summary = shop.run()
    assert summary.new_articles == 0
    assert outcomes(summary) == [("s2.txt", "applied", 1, 1)]
    assert shop.exported() == {"A": "7", "C": "2"}
    assert shop.stock()["B"] == (5000, 0)


def test_catalogue_problems_are_counted_and_first_line_wins(store):
    shop = store({"A": "1"})
    shop.catalogue.write_bytes(b"A\t4\nB\tx\nA\t9\n\nC\t2\n")
    summary = shop.run()
    assert summary.new_articles == 2
    assert summary.catalogue_rejects == 2
    assert shop.exported() == {"A": "4", "C": "2"}


@pytest.mark.parametrize(("setting", "shown"), [(None, "0"), ("zero", "0"), ("keep", "-2.5")])
def test_negative_stock_is_exported_as_zero_unless_kept(store, setting, shown):
    overrides = {} if setting is None else {"negative_stock": setting}
    shop = store({"A": "1", "B": "3"}, **overrides)
    shop.drop("sales.txt", b"A\t-3,5\nB\t-1\n")
    summary = shop.run()
    assert shop.exported() == {"A": shown, "B": "2"}
    assert summary.negative == {"A": -2500}
    assert "negative stock on 1 article(s): A (-2.5)" in summary.render()
    assert shop.stock()["A"] == (-2500, 0)
    ledger = shop.ledger()
    try:
        [run] = ledger.history(shop.name)
    finally:
        ledger.close()
    assert run["negative_references"] == 1


def test_export_is_the_available_quantity(store):
    shop = store({"A": "10", "B": "4"})
    shop.run()
    ledger = shop.ledger()
    try:
        with ledger.batch(shop.name, "webshop", "orders-run") as batch:
            batch.add_documents([NewDocument("orders-1", "webshop:test", "order-1", "0" * 64)])
            batch.add_movements(
                movement_table(
                    store=shop.name,
                    run_id="orders-run",
                    references=pa.array(["A", "B"]),
                    quantities=np.array([3000, 5000], dtype=np.int64),
                    kinds=pa.array(["reservation", "reservation"]),
                    lines=np.array([1, 2], dtype=np.int64),
                    documents=[Document("orders-1", "webshop:test", "order-1")],
                    document_index=np.zeros(2, dtype=np.int64),
                )
            )
    finally:
        ledger.close()
    shop.drop("sales.txt", b"A\t-1\n")
    summary = shop.run()
    assert shop.stock() == {"A": (9000, 3000), "B": (4000, 5000)}
    assert shop.exported() == {"A": "6", "B": "0"}
    assert summary.negative == {"B": -1000}


def test_export_format_sorted_with_exact_decimals(store):
    shop = store({"b-2": "0,5", "B-1": "1.250", "a-1": "+3", "0007": "0.001", "Z": "-0"})
    shop.drop("moves.txt", b"a-1\t-0.75\nb-2\t-0,5\nB-1\t2\n0007\t-0.001\n")
    shop.run()
    # Sorted by reference as text (byte order), LF endings, `.` mark, no trailing zeros.
    assert shop.export.read_bytes() == b"0007\t0\nB-1\t3.25\nZ\t0\na-1\t2.25\nb-2\t0\n"


def test_export_is_replaced_atomically_and_leaves_no_temporary_file(store):
    shop = store({"A": "5"})
    shop.run()
    before = shop.export.stat().st_ino
    reader = shop.export.open("rb")  # a till reading the old file keeps reading the old file
    try:
        shop.drop("sales.txt", b"A\t-1\n")
        shop.run()
        assert reader.read() == b"A\t5\n"
    finally:
        reader.close()
    assert shop.export.read_bytes() == b"A\t4\n"
    assert shop.export.stat().st_ino != before
    assert [p.name for p in shop.export.parent.iterdir()] == [shop.export.name]


def test_an_empty_catalogue_gives_an_empty_export(store):
    shop = store({})
    shop.drop("sales.txt", b"A\t-1\n")
    summary = shop.run()
    assert outcomes(summary) == [("sales.txt", "applied", 0, 1)]
    assert shop.export.read_bytes() == b""
    assert summary.export_rows == 0
