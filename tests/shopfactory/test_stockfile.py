"""The shop's stock file: the default layout, mapped layouts, and files refused whole."""

from __future__ import annotations

import codecs

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stockbridge.integrations.shopfactory.stockfile import (
    StockFileError,
    StockLayout,
    read_stock_file,
    write_stock_file,
)

DEFAULT = StockLayout()


def levels(data: bytes, layout: StockLayout = DEFAULT) -> dict[str, int]:
    return read_stock_file(data, layout, "stock.txt").level_of()


def test_default_layout_without_header_combined_skus_are_plain_references():
    data = b"P1_red_17\t4\nP1_red_18\t0\nMUG-01\t12\n"
    shop = read_stock_file(data, DEFAULT, "stock.txt")
    assert shop.level_of() == {"P1_red_17": 4000, "P1_red_18": 0, "MUG-01": 12000}
    assert shop.header is None
    assert shop.line_numbers().tolist() == [1, 2, 3]


def test_a_header_is_recognised_when_its_quantity_is_not_a_number():
    data = b"SKU\tQuantity\r\nP1_red_17\t4\r\n\r\nMUG-01\t-2\r\n"
    shop = read_stock_file(data, DEFAULT, "stock.txt")
    assert shop.header == 0
    assert shop.level_of() == {"P1_red_17": 4000, "MUG-01": -2000}
    assert shop.line_numbers().tolist() == [2, 4]


def test_header_false_refuses_a_first_line_that_is_not_a_level():
    with pytest.raises(StockFileError, match="line 1: level 'Quantity' is not a number"):
        levels(b"SKU\tQuantity\nA\t1\n", StockLayout(header=False))


def test_mapped_columns_delimiter_and_decimal_comma():
    layout = StockLayout(
        delimiter=";", header=True, columns={"sku": "Ref", "quantity": "Stock"}, decimal=","
    )
    data = 'Name;Stock;Ref\nTasse bleue;2,5;MUG-01\n"Tee; noir";10;TEE\n'.encode("cp1252")
    # The quoted name holds the delimiter: the line splits into 4 fields, the SKU's field
    # (3rd) is then the name's tail. A strict reader cannot guess; the shop's real files
    # quote nothing, so this line is refused rather than misread.
    with pytest.raises(StockFileError, match="line 3"):
        levels(data, layout)
    data = "Name;Stock;Ref\nTasse bleue;2,5;MUG-01\nTee noir;10;TEE\n".encode("cp1252")
    assert levels(data, layout) == {"MUG-01": 2500, "TEE": 10000}


def test_positions_of_other_columns():
    layout = StockLayout(delimiter=",", columns={"sku": 3, "quantity": 1})
    assert levels(b"7,Mug,MUG-01\n0.25,Cap,CAP\n", layout) == {"MUG-01": 7000, "CAP": 250}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "is empty"),
        (b"SKU\tQuantity\n", "holds a header and no SKU"),
        (b"A\t1\nB\tlots\n", "line 2: level 'lots' is not a number"),
        (b"A\t1\nB\n", "line 2: 1 field(s)"),
        (b"A\t1\n\t2\n", "line 2 has no SKU"),
        (b"A\t1\nB\t2\nA\t3\n", "lists SKU A twice (lines 1 and 3)"),
        (b"A\t1.2345\n", "line 1: level '1.2345'"),
        (b"A\t1\nB\t1e3\n", "line 2: level '1e3'"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x81\x8d", "is neither UTF-8 nor Windows-1252"),
    ],
)
def test_an_unreadable_file_is_one_sentence_naming_file_and_line(data, words):
    with pytest.raises(StockFileError) as caught:
        levels(data)
    message = str(caught.value)
    assert words in message and "stock.txt" in message and "nothing was published" in message
    assert "\n" not in message


def test_a_named_column_missing_from_the_header_says_which():
    layout = StockLayout(header=True, columns={"sku": "SKU", "quantity": "Stock"})
    with pytest.raises(StockFileError, match=r"no column 'Stock' \(layout.columns.quantity\)"):
        levels(b"SKU\tQty\nA\t1\n", layout)


def test_writing_back_replaces_only_the_levels():
    data = codecs.BOM_UTF8 + b"SKU\tName\tQuantity\r\nA\tMug\t4\r\n\r\nB\tCap\t0.5\r\n"
    layout = StockLayout(header=True, columns={"sku": "SKU", "quantity": "Quantity"})
    shop = read_stock_file(data, layout, "stock.txt")
    written = write_stock_file(shop, {"A": 16_000, "B": 1_250}, layout)
    assert written == codecs.BOM_UTF8 + b"SKU\tName\tQuantity\r\nA\tMug\t16\r\n\r\nB\tCap\t1.25\r\n"
    again = read_stock_file(written, layout, "stock.txt")
    assert again.level_of() == {"A": 16_000, "B": 1_250}


def test_writing_with_a_decimal_comma_and_no_final_newline():
    layout = StockLayout(delimiter=";", decimal=",")
    shop = read_stock_file(b"A;1,5\nB;2", layout, "stock.csv")
    assert write_stock_file(shop, {"A": 500, "B": -3_000}, layout) == b"A;0,5\nB;-3"


def test_layout_mistakes_are_refused_in_the_store_file():
    with pytest.raises(ValidationError, match="both ','"):
        StockLayout(delimiter=",", decimal=",")
    with pytest.raises(ValidationError, match="named but 'header' is false"):
        StockLayout(header=False, columns={"sku": "SKU", "quantity": 2})
    with pytest.raises(ValidationError, match="same column"):
        StockLayout(columns={"sku": 2, "quantity": 2})


def test_a_large_file_reads_vectorised():
    count = 50_000
    data = "".join(f"SKU{i:06d}\t{i % 97}\n" for i in range(count)).encode()
    shop = read_stock_file(data, DEFAULT, "stock.txt")
    assert len(shop.skus) == count
    assert np.array_equal(shop.levels, (np.arange(count) % 97) * 1000)


SKU_TEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./é"


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text(SKU_TEXT, min_size=1, max_size=20),
        st.integers(-(10**9), 10**9),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["\t", ";", "|"]),
    st.sampled_from([".", ","]),
    st.booleans(),
    st.sampled_from(["\n", "\r\n"]),
)
def test_written_levels_read_back_exactly(levels, delimiter, decimal, header, newline):
    """Any levels written into a shop's file (any layout) read back as written."""
    if delimiter == decimal:
        return
    layout = StockLayout(delimiter=delimiter, decimal=decimal, header=header)
    rows = ([f"SKU{delimiter}Quantity"] if header else []) + [
        f"{sku}{delimiter}0{delimiter}note" for sku in levels
    ]
    shop = read_stock_file((newline.join(rows) + newline).encode(), layout, "stock.txt")
    written = write_stock_file(shop, levels, layout)
    assert read_stock_file(written, layout, "stock.txt").level_of() == levels
    assert written.count(newline.encode()) == len(rows)
