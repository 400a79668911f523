"""The cellar catalogue: a CSV of wines and their opening stock, as a spreadsheet writes it."""

from __future__ import annotations

import codecs
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockbridge.integrations.pointex.cellar import Cellar, CellarError, read_cellar

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples" / "pointex"


def rows(cellar: Cellar) -> list[dict]:
    return [
        {key: (None if value is pd.NA else value) for key, value in row.items()}
        for row in cellar.items.to_dict("records")
    ]


def reasons(cellar: Cellar) -> dict[int, str]:
    return {row.line: row.reason for row in cellar.rejects.itertuples()}


def test_a_semicolon_catalogue_with_extra_columns():
    cellar = read_cellar(
        "item;name;vintage;volume;quantity;Producer;Appellation;Colour\n"
        "V001;Château Margaux;2015;75;6;Château Margaux;Margaux;rouge\n"
        "V002;Dom Pérignon;NV;150;1,5;Moët & Chandon;Champagne;\n".encode()
    )
    assert rows(cellar) == [
        {
            "item": "V001",
            "name": "Château Margaux",
            "vintage": 2015,
            "volume": 75.0,
            "quantity": 6000,
            "producer": "Château Margaux",
            "appellation": "Margaux",
            "colour": "rouge",
        },
        {
            "item": "V002",
            "name": "Dom Pérignon",
            "vintage": None,
            "volume": 150.0,
            "quantity": 1500,
            "producer": "Moët & Chandon",
            "appellation": "Champagne",
            "colour": None,
        },
    ]
    assert cellar.rejects.empty
    assert {c: str(t) for c, t in cellar.items.dtypes.items()} == {
        "item": "string[pyarrow]",
        "name": "string[pyarrow]",
        "vintage": "int64[pyarrow]",
        "volume": "double[pyarrow]",
        "quantity": "int64[pyarrow]",
        "producer": "string[pyarrow]",
        "appellation": "string[pyarrow]",
        "colour": "string[pyarrow]",
    }


def test_comma_separated_cp1252_with_bom_free_quotes_and_crlf():
    data = (
        "ITEM,Name,Vintage,Volume,Quantity,Producer\r\n"
        '0042,"Côte-Rôtie, Brune et Blonde",2018,"37,5",2.5,Guigal\r\n'
        "0043,Crémant,,,,\r\n"
    ).encode("cp1252")
    assert rows(read_cellar(data)) == [
        {
            "item": "0042",
            "name": "Côte-Rôtie, Brune et Blonde",
            "vintage": 2018,
            "volume": 37.5,
            "quantity": 2500,
            "producer": "Guigal",
        },
        {
            "item": "0043",
            "name": "Crémant",
            "vintage": None,
            "volume": None,
            "quantity": 0,
            "producer": None,
        },
    ]


def test_utf8_bom_tabs_and_french_header_names():
    data = (
        codecs.BOM_UTF8
        + (
            "Article\tNom\tMillésime\tContenance\tQuantité\nA1\tSancerre\t2022\t75 cl\t24\n"
        ).encode()
    )
    assert rows(read_cellar(data)) == [
        {"item": "A1", "name": "Sancerre", "vintage": 2022, "volume": 75.0, "quantity": 24000}
    ]


def test_only_item_and_name_are_required():
    cellar = read_cellar(b"name;item\nKrug;K1\n")
    assert rows(cellar) == [
        {"item": "K1", "name": "Krug", "vintage": None, "volume": None, "quantity": 0}
    ]


def test_bad_lines_are_rejected_with_line_raw_and_reason():
    data = (
        b"item;name;vintage;volume;quantity\n"
        b"V1;Talbot;2016;75;12\n"
        b";No id;2016;75;1\n"
        b"V1;Talbot again;2018;75;1\n"
        b"V2;;2016;75;1\n"
        b"V3;Old;15;75;1\n"
        b"V4;Future;2250;75;1\n"
        b"V5;Magnum;2016;magnum;1\n"
        b"V6;Zero;2016;0;1\n"
        b"V7;Odd;2016;75;douze\n"
        b"V8;Precise;2016;75;1.2345\n"
        b"V9;Short;2016\n"
        b"\n"
        b"V10;Fine;;;\n"
    )
    cellar = read_cellar(data)
    assert reasons(cellar) == {
        3: "empty item id",
        4: "item id already listed on line 2",
        5: "empty name",
        6: "vintage is not a year between 1800 and 2199 like 2018 (leave it empty, or write"
        " NV, for a wine without vintage)",
        7: "vintage is not a year between 1800 and 2199 like 2018 (leave it empty, or write"
        " NV, for a wine without vintage)",
        8: "volume is not a size in centilitres like 75, 150 or 37.5",
        9: "volume is not a size in centilitres like 75, 150 or 37.5",
        10: "quantity is not a number (write it like -1, 2 or 0.5)",
        11: "quantity has more than 3 decimals",
        12: "3 fields separated by ';' where the header has 5",
    }
    assert cellar.rejects["raw"].tolist()[1] == "V1;Talbot again;2018;75;1"
    assert cellar.items["item"].tolist() == ["V1", "V10"]


def test_a_duplicate_of_a_rejected_line_is_not_a_duplicate():
    cellar = read_cellar(b"item;name;vintage\nV1;A;bad\nV1;B;2016\nV1;C;2017\n")
    assert reasons(cellar) == {
        2: reasons(cellar)[2],
        4: "item id already listed on line 3",
    }
    assert cellar.items["name"].tolist() == ["B"]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "is empty"),
        (b"\n\n", "is empty"),
        (b"id;title\nV1;A\n", r"has no 'item' and 'name' columns \(header found: 'id;title'\)"),
        (b"item;title\nV1;A\n", "has no 'name' column"),
        (b"item;name;Name\n", "has 2 columns for 'name'"),
        (b"item;name;region;Region\n", "names the column 'region' more than once"),
        (b"\x81\x8d\x8f", "neither UTF-8 nor Windows-1252"),
        (b"item;name\rV1;A\r", "carriage return"),
    ],
)
def test_files_that_cannot_be_a_catalogue_are_one_sentence(data, message):
    with pytest.raises(CellarError, match=message) as caught:
        read_cellar(data)
    assert "\n" not in str(caught.value) and str(caught.value).endswith(".")


def test_a_header_alone_is_an_empty_cellar():
    cellar = read_cellar(b"item;name;vintage;volume;quantity;producer\n")
    assert cellar.items.empty and cellar.rejects.empty
    assert list(cellar.items.columns) == [
        "item",
        "name",
        "vintage",
        "volume",
        "quantity",
        "producer",
    ]


def test_the_sample_cellar():
    cellar = read_cellar((SAMPLES / "cellar.csv").read_bytes())
    assert cellar.rejects.empty
    assert len(cellar.items) == 39
    assert cellar.items["item"].is_unique
    by_item = cellar.items.set_index("item")
    assert by_item.loc["V007", "volume"] == 150.0
    assert by_item.loc["V009", "volume"] == 37.5
    assert pd.isna(by_item.loc["V031", "vintage"]) and pd.isna(by_item.loc["V033", "vintage"])
    assert by_item.loc["V019", ["name", "vintage", "producer"]].tolist() == [
        "Côtes du Rhône",
        2020,
        "E. Guigal",
    ]
    assert {"producer", "appellation", "colour", "region"} <= set(cellar.items.columns)
    talbot = cellar.items[cellar.items["name"] == "Château Talbot"]
    assert sorted(talbot["vintage"].tolist()) == [2016, 2018]


CELLAR_PIECES = st.sampled_from(
    [
        *(b"item", b"name", b"vintage", b"quantity", b";", b",", b'"', b"\n", b"\r\n", b"\r"),
        *(b"V1", b"2016", b"NV", b"75", b"37,5", b"1.5", b"\x00", b"\xe9", b"\x81", b" "),
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    body=st.lists(CELLAR_PIECES | st.binary(max_size=4), max_size=40).map(b"".join),
    header=st.sampled_from([b"", b"item;name;vintage;volume;quantity\n", b"item,name,x\n"]),
)
def test_arbitrary_bytes_give_a_cellar_or_one_sentence(body, header):
    try:
        cellar = read_cellar(header + body)
    except CellarError as exc:
        assert "\n" not in str(exc)
        return
    lines = set(cellar.rejects["line"].tolist())
    assert len(lines) == len(cellar.rejects)
    assert cellar.items["item"].is_unique
    assert (cellar.items["item"].str.len() > 0).all()
