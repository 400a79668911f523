"""Pointex's sales journal: bytes as a till writes them in, drink lines and rejects out.

Line numbers are physical (1 = the header line), quantities and amounts integer thousandths,
times UTC. The fuzz tests at the end build journals from generated rows and check every
value on the way back, and feed arbitrary bytes to check that every line lands somewhere.
"""

from __future__ import annotations

import codecs
import os
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stockbridge.integrations.pointex.journal import (
    LINE_MAX_LENGTH,
    Journal,
    JournalColumns,
    JournalError,
    JournalLayout,
    parse_journal,
)

HEADER = "Date;Heure;Ticket;Code;Libellé;Famille;Quantité;Montant TTC"
LAYOUT = JournalLayout()
PARIS = "Europe/Paris"
SAMPLES = Path(__file__).resolve().parents[2] / "data_samples" / "pointex"
EXAMPLES = 300 if os.environ.get("CI") else 60


def journal(*rows: str, header: str = HEADER, end: str = "\n") -> bytes:
    return end.join([header, *rows, ""]).encode("utf-8")


def parse(
    data: bytes,
    layout: JournalLayout = LAYOUT,
    timezone: str = PARIS,
    families: list[str] | None = None,
) -> Journal:
    return parse_journal(data, layout, timezone, families)


def records(result: Journal) -> list[dict]:
    return [
        {key: (None if value is pd.NA else value) for key, value in row.items()}
        for row in result.lines.to_dict("records")
    ]


def rejects(result: Journal) -> dict[int, tuple[str, str]]:
    return {row.line: (row.reason, row.raw) for row in result.rejects.itertuples()}


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# -- the default layout ------------------------------------------------------------------------


def test_a_plain_line_gives_every_value_typed():
    result = parse(journal("27/11/2026;21:03;1042;000123;CH MARGAUX 15;Vins rouges;1;480,00"))
    assert records(result) == [
        {
            "line": 2,
            "occurred_at": utc("2026-11-27 20:03"),
            "ticket": "1042",
            "till_reference": "000123",
            "label": "CH MARGAUX 15",
            "family": "Vins rouges",
            "quantity": 1000,
            "amount": 480000,
        }
    ]
    assert result.rejects.empty
    assert result.not_drinks == 0
    assert result.encoding == "utf-8"


def test_frames_have_arrow_types_even_when_empty():
    for data in (journal("27/11/2026;21:03;1;7;L;F;1;1"), journal()):
        result = parse(data)
        assert {c: str(t) for c, t in result.lines.dtypes.items()} == {
            "line": "int64[pyarrow]",
            "occurred_at": "timestamp[us, tz=UTC][pyarrow]",
            "ticket": "string[pyarrow]",
            "till_reference": "string[pyarrow]",
            "label": "string[pyarrow]",
            "family": "string[pyarrow]",
            "quantity": "int64[pyarrow]",
            "amount": "int64[pyarrow]",
        }
        assert {c: str(t) for c, t in result.rejects.dtypes.items()} == {
            "line": "int64[pyarrow]",
            "raw": "string[pyarrow]",
            "reason": "string[pyarrow]",
        }
        assert isinstance(result.lines.index, pd.RangeIndex)


def test_codes_are_text_with_their_leading_zeros():
    result = parse(
        journal(
            "27/11/2026;21:03;1;000123;A;F;1;1",
            "27/11/2026;21:03;1;0;B;F;1;1",
            '27/11/2026;21:03;1;"007";C;F;1;1',
            "27/11/2026;21:03;1; 00042 ;D;F;1;1",
        )
    )
    assert result.lines["till_reference"].tolist() == ["000123", "0", "007", "00042"]


def test_refunds_and_decimal_quantities():
    result = parse(
        journal(
            "27/11/2026;21:03;1;1;A;F;-1;-12,50",
            "27/11/2026;21:03;1;1;A;F;0,5;3,5",
            "27/11/2026;21:03;1;1;A;F;+2;0",
            "27/11/2026;21:03;1;1;A;F;1,125;,5",
            "27/11/2026;21:03;1;1;A;F;-0,001;-0,001",
            "27/11/2026;21:03;1;1;A;F;12,;1,000",
            "27/11/2026;21:03;1;1;A;F;0;",
        )
    )
    assert result.lines["quantity"].tolist() == [-1000, 500, 2000, 1125, -1, 12000, 0]
    assert result.lines["amount"].tolist() == [-12500, 3500, 0, 1125 - 625, -1, 1000, pd.NA]


def test_too_many_decimals_and_other_bad_numbers_are_rejected_with_reasons():
    result = parse(
        journal(
            "27/11/2026;21:03;1;1;A;F;0,1234;1",
            "27/11/2026;21:03;1;1;A;F;1;2,3456",
            "27/11/2026;21:03;1;1;A;F;1.5;1",
            "27/11/2026;21:03;1;1;A;F;1E3;1",
            "27/11/2026;21:03;1;1;A;F;deux;1",
            "27/11/2026;21:03;1;1;A;F;;1",
            "27/11/2026;21:03;1;1;A;F;1 000;1",
            "27/11/2026;21:03;1;1;A;F;1234567890123;1",
            "27/11/2026;21:03;1;1;A;F;1;12,50 €",
        )
    )
    assert {line: reason for line, (reason, _) in rejects(result).items()} == {
        2: "quantity has more than 3 decimals",
        3: "amount has more than 3 decimals",
        4: "quantity is written with '.' but this journal's decimal mark is ','"
        " (write it like -1, 2 or 0,5)",
        5: "quantity in scientific notation (write 1000, not 1E3)",
        6: "quantity is not a number (write it like -1, 2 or 0,5)",
        7: "empty quantity",
        8: "quantity is not a number (write it like -1, 2 or 0,5)",
        9: "quantity has more than 12 digits before the decimal mark",
        10: "amount is not a number (write it like -1, 2 or 0,5)",
    }
    assert result.lines.empty


def test_times_with_or_without_seconds():
    result = parse(
        journal(
            "27/11/2026;21:03;1;1;A;F;1;1",
            "27/11/2026;21:03:45;1;1;A;F;1;1",
            "27/11/2026;9:05;1;1;A;F;1;1",
            "28/11/2026;00:00:00;1;1;A;F;1;1",
            "27/11/2026;24:00;1;1;A;F;1;1",
            "27/11/2026;21:60;1;1;A;F;1;1",
            "27/11/2026;2103;1;1;A;F;1;1",
            "27/11/2026;;1;1;A;F;1;1",
        )
    )
    assert result.lines["occurred_at"].tolist() == [
        utc("2026-11-27 20:03"),
        utc("2026-11-27 20:03:45"),
        utc("2026-11-27 08:05"),
        utc("2026-11-27 23:00"),
    ]
    bad_time = "time is not like 21:05 or 21:05:30 (hh:mm or hh:mm:ss)"
    assert {line: reason for line, (reason, _) in rejects(result).items()} == {
        6: bad_time,
        7: bad_time,
        8: bad_time,
        9: "empty time",
    }


def test_dates_are_strict():
    result = parse(
        journal(
            "31/11/2026;21:03;1;1;A;F;1;1",
            "2026-11-27;21:03;1;1;A;F;1;1",
            ";21:03;1;1;A;F;1;1",
            "1/2/2026;21:03;1;1;A;F;1;1",
            "29/02/2028;21:03;1;1;A;F;1;1",
        )
    )
    bad = "date is not like 27/11/2026 (%d/%m/%Y)"
    assert {line: reason for line, (reason, _) in rejects(result).items()} == {
        2: bad,
        3: bad,
        4: "empty date",
    }
    assert result.lines["occurred_at"].tolist() == [
        utc("2026-02-01 20:03"),
        utc("2028-02-29 20:03"),
    ]


# -- time zones --------------------------------------------------------------------------------


def test_the_autumn_hour_that_happens_twice_is_taken_as_summer_time():
    result = parse(
        journal(
            "25/10/2026;01:59;1;1;A;F;1;1",
            "25/10/2026;02:00;1;1;A;F;1;1",
            "25/10/2026;02:30;1;1;A;F;1;1",
            "25/10/2026;03:00;1;1;A;F;1;1",
        )
    )
    assert result.lines["occurred_at"].tolist() == [
        utc("2026-10-24 23:59"),
        utc("2026-10-25 00:00"),
        utc("2026-10-25 00:30"),
        utc("2026-10-25 02:00"),
    ]


def test_the_spring_hour_that_never_happens_is_moved_forward_by_the_gap():
    result = parse(
        journal(
            "29/03/2026;01:59;1;1;A;F;1;1",
            "29/03/2026;02:00;1;1;A;F;1;1",
            "29/03/2026;02:30;1;1;A;F;1;1",
            "29/03/2026;03:00;1;1;A;F;1;1",
        )
    )
    # 02:30 is read with the winter offset (+01:00), i.e. 03:30 summer time.
    assert result.lines["occurred_at"].tolist() == [
        utc("2026-03-29 00:59"),
        utc("2026-03-29 01:00"),
        utc("2026-03-29 01:30"),
        utc("2026-03-29 01:00"),
    ]


def test_other_time_zones_and_utc():
    data = journal("27/11/2026;21:03;1;1;A;F;1;1")
    assert parse(data, timezone="UTC").lines["occurred_at"][0] == utc("2026-11-27 21:03")
    assert parse(data, timezone="America/New_York").lines["occurred_at"][0] == utc(
        "2026-11-28 02:03"
    )


def test_an_unknown_time_zone_is_one_sentence():
    with pytest.raises(JournalError, match="Unknown time zone 'Europe/Pariss'"):
        parse(journal(), timezone="Europe/Pariss")


# -- encodings and line ends -------------------------------------------------------------------

ROW = "27/11/2026;21:03;1;1;CRÈME BRÛLÉE;Entrées;1;1"


def test_utf8_with_bom():
    result = parse(codecs.BOM_UTF8 + journal(ROW, end="\r\n"))
    assert result.encoding == "utf-8"
    assert result.lines["label"].tolist() == ["CRÈME BRÛLÉE"]


def test_cp1252_is_recognised():
    data = "\r\n".join([HEADER, ROW, ""]).encode("cp1252")
    result = parse(data)
    assert result.encoding == "cp1252"
    assert result.lines["label"].tolist() == ["CRÈME BRÛLÉE"]
    assert result.lines["family"].tolist() == ["Entrées"]


def test_utf16_with_its_mark_is_read_too():
    data = codecs.BOM_UTF16_LE + "\r\n".join([HEADER, ROW, ""]).encode("utf-16-le")
    result = parse(data)
    assert result.encoding == "utf-16"
    assert result.lines["label"].tolist() == ["CRÈME BRÛLÉE"]


def test_a_named_encoding_is_used_as_it_is():
    header = "Date;Heure;Ticket;Code;Libelle;Famille;Quantite;Montant TTC"
    text = "\n".join([header, ROW, ""])
    as_cp1252 = JournalLayout(encoding="cp1252")
    # UTF-8 bytes read as cp1252 on purpose give mojibake, not an error.
    assert parse(text.encode(), as_cp1252).lines["label"].tolist() == ["CRÃˆME BRÃ›LÃ‰E"]
    assert parse(text.encode("cp1252"), as_cp1252).encoding == "cp1252"
    with pytest.raises(JournalError, match=r"^The journal is not UTF-8 text \(byte 0xc8"):
        parse(text.encode("cp1252"), JournalLayout(encoding="utf-8"))
    with_mark = codecs.BOM_UTF8 + text.encode()
    assert parse(with_mark, JournalLayout(encoding="utf-8")).encoding == "utf-8"


def test_utf8_read_as_cp1252_says_so():
    with pytest.raises(JournalError, match=r"starts with a UTF-8 mark.*set encoding: auto"):
        parse(codecs.BOM_UTF8 + journal(ROW), JournalLayout(encoding="cp1252"))
    with pytest.raises(JournalError, match=r"looks like UTF-8 read as cp1252: set encoding"):
        parse(journal(ROW), JournalLayout(encoding="cp1252"))


def test_crlf_lf_and_mixed_line_ends_read_the_same():
    rows = ["27/11/2026;21:03;1;1;A;F;1;1", "27/11/2026;21:04;1;2;B;F;2;2"]
    lf = parse(journal(*rows))
    crlf = parse(journal(*rows, end="\r\n"))
    mixed = parse(f"{HEADER}\r\n{rows[0]}\n{rows[1]}\r\r\n".encode())
    for other in (crlf, mixed):
        pd.testing.assert_frame_equal(lf.lines, other.lines)
        assert other.rejects.empty


def test_old_mac_line_ends_refuse_the_file():
    with pytest.raises(JournalError, match=r"carriage return \(CR\) alone"):
        parse("\r".join([HEADER, ROW, ""]).encode())


def test_a_cr_inside_a_line_rejects_that_line():
    result = parse(journal("27/11/2026;21:03;1;1;A\rB;F;1;1", ROW))
    assert rejects(result) == {
        2: (
            "carriage return (CR) inside the line: old Mac line ends are not read;"
            " save the file with CR LF or LF line ends",
            "27/11/2026;21:03;1;1;A\rB;F;1;1",
        )
    }
    assert len(result.lines) == 1


def test_binary_files_and_utf16_without_mark_are_refused():
    with pytest.raises(JournalError, match="neither UTF-8 nor Windows-1252"):
        parse(b"PK\x03\x04\x81\x8d\x00\x00")
    with pytest.raises(JournalError, match="control characters"):
        parse("\n".join([HEADER, ROW]).encode("utf-16-le"))


# -- header ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "DATE;HEURE;TICKET;CODE;LIBELLE;FAMILLE;QUANTITE;MONTANT TTC",
        "date;heure;ticket;code;libelle;famille;quantite;montant ttc",
        " Date ; Heure ;Ticket; Code ;Libellé; Famille ; quantite ; Montant  TTC ",
        '"Date";"Heure";"Ticket";"Code";"Libellé";"Famille";"Quantité";"Montant TTC"',
        "\ufeffDate;Heure;Ticket;Code;LIBELLÉ;Famille;QUANTITÉ;Montant TTC",
    ],
)
def test_header_names_ignore_case_accents_and_spaces(header):
    result = parse(journal("27/11/2026;21:03;1;007;A;F;1;2", header=header))
    assert records(result)[0]["till_reference"] == "007"
    assert records(result)[0]["amount"] == 2000


def test_columns_are_found_by_name_in_any_order_and_extra_columns_are_ignored():
    header = "Montant TTC;Remise;Quantité;Code;Libellé;Heure;Date"
    result = parse(journal("9,90;10%;2;0042;VRE;21:03;27/11/2026", header=header))
    assert records(result) == [
        {
            "line": 2,
            "occurred_at": utc("2026-11-27 20:03"),
            "ticket": None,
            "till_reference": "0042",
            "label": "VRE",
            "family": None,
            "quantity": 2000,
            "amount": 9900,
        }
    ]


def test_a_missing_required_column_is_one_sentence_naming_it_and_the_header():
    with pytest.raises(JournalError) as caught:
        parse(journal(header="Date;Heure;Ticket;Code;Libellé;Famille;Qté;Montant TTC"))
    message = str(caught.value)
    assert message == (
        "The journal has no column 'Quantité' (header found:"
        " 'Date;Heure;Ticket;Code;Libellé;Famille;Qté;Montant TTC'); map the till's own names"
        " under journal: columns: in the store file."
    )


def test_several_missing_columns_are_all_named():
    with pytest.raises(JournalError, match="no columns 'Libellé' and 'Quantité'"):
        parse(journal(header="Date;Heure;Code"))


@pytest.mark.parametrize("delimiter, shown", [(",", ","), ("\t", "\\t"), ("|", "|")])
def test_a_file_in_another_delimiter_says_which(delimiter, shown):
    header = HEADER.replace(";", delimiter)
    with pytest.raises(JournalError) as caught:
        parse(journal("27/11/2026;21:03;1;1;A;F;1;1".replace(";", delimiter), header=header))
    message = str(caught.value)
    assert f"it is separated by '{shown}', not ';': set delimiter: '{shown}'" in message
    assert "\n" not in message and message.endswith(".")


def test_lines_in_another_delimiter_than_the_header_say_which():
    result = parse(journal("27/11/2026,21:03,1,1,A,F,1,2"))
    assert rejects(result)[2][0] == (
        "1 field separated by ';' where the header has 8: is this line separated by ','?"
    )


def test_a_column_named_twice_refuses_the_file():
    with pytest.raises(JournalError, match="names the column 'Code' 2 times"):
        parse(journal(header="Date;Heure;Code;Libellé;Quantité;CODE"))


def test_empty_files_are_refused_and_a_header_alone_is_an_empty_night():
    for data in (b"", codecs.BOM_UTF8, b"\r\n\r\n", b"  ;;\n"):
        with pytest.raises(JournalError, match="The journal is empty"):
            parse(data)
    result = parse(journal())
    assert result.lines.empty and result.rejects.empty and result.not_drinks == 0
    assert parse(HEADER.encode()).lines.empty


def test_blank_lines_are_ignored_and_keep_their_numbers():
    data = f"\n{HEADER}\r\n\r\n{ROW}\r\n  \r\n;;;;;;;\r\n\t\n{ROW}\r\n\r\n".encode()
    result = parse(data)
    assert result.lines["line"].tolist() == [4, 8]
    assert result.rejects.empty


def test_a_trailing_delimiter_on_every_line():
    result = parse(journal("27/11/2026;21:03;1;1;A;F;1;2;", header=HEADER + ";"))
    assert len(result.lines) == 1 and result.rejects.empty
    result = parse(journal("27/11/2026;21:03;1;1;A;F;1;2;"))
    assert len(result.lines) == 1 and result.rejects.empty


# -- fields and bad lines ----------------------------------------------------------------------


def test_quoted_fields_may_hold_the_delimiter_and_quotes():
    result = parse(
        journal(
            '27/11/2026;21:03;"T;1";"00;7";"TARTARE; FRITES";"Cuisine";"1";"12,50"',
            '27/11/2026;21:03;1;8;"VIN ""NATURE"" 75CL";F;1;1',
            '27/11/2026;21:03;1;9;  "  SPACED  "  ;F;1;1',
            '27/11/2026;21:03;1;10;12" PIZZA;F;1;1',
            '27/11/2026;21:03;1;11;"";F;1;1',
        )
    )
    assert [(r["ticket"], r["till_reference"], r["label"]) for r in records(result)] == [
        ("T;1", "00;7", "TARTARE; FRITES"),
        ("1", "8", 'VIN "NATURE" 75CL'),
        ("1", "9", "SPACED"),
        ("1", "10", '12" PIZZA'),
        ("1", "11", ""),
    ]
    assert result.lines["amount"][0] == 12500


def test_bad_lines_are_rejected_with_line_raw_text_and_reason_and_the_rest_applies():
    rows = [
        "27/11/2026;21:03;1;;A;F;1;1",
        "27/11/2026;21:03;1;1;A;F;1",
        "27/11/2026;21:03;1;1;A;F;1;1;X;Y",
        '27/11/2026;21:03;1;"1;A;F;1;1',
        '27/11/2026;21:03;1;"1"2;A;F;1;1',
        "27/11/2026;21:03;1;1;A\x00;F;1;1",
        "27/11/2026;21:03;1;" + "X" * 65 + ";A;F;1;1",
        "27/11/2026;21:03;1;1;" + "L" * LINE_MAX_LENGTH + ";F;1;1",
        ROW,
    ]
    result = parse(journal(*rows, end="\r\n"))
    found = rejects(result)
    assert {line: reason for line, (reason, _) in found.items()} == {
        2: "empty till reference",
        3: "7 fields separated by ';' where the header has 8",
        4: "10 fields separated by ';' where the header has 8",
        5: 'a quote (") opens a field and nothing closes it on this line',
        6: 'a quote (") in the middle of a field: quote the whole field and double the quotes'
        ' inside it ("like ""this""")',
        7: "contains control characters (NUL or similar): is the file binary or UTF-16?",
        8: "till reference longer than 64 characters",
        9: f"line longer than {LINE_MAX_LENGTH} characters: is this a journal?",
    }
    assert found[2][1] == rows[0]
    assert found[7][1] == "27/11/2026;21:03;1;1;A\u2400;F;1;1"
    assert len(found[9][1]) == 501 and found[9][1].endswith("…")
    assert result.lines["line"].tolist() == [10]


def test_a_line_is_checked_in_order_and_gets_its_first_reason():
    result = parse(journal("31/11/2026;25:00;1;;A;F;x;y"))
    assert rejects(result)[2][0] == "empty till reference"


# -- families ----------------------------------------------------------------------------------


def test_lines_of_other_families_are_counted_not_returned_and_not_rejected():
    result = parse(
        journal(
            "27/11/2026;21:03;1;1;VIN;Vins rouges;1;1",
            "27/11/2026;21:03;1;2;PLAT;Cuisine;1;1",
            "27/11/2026;21:03;1;3;ROSE;VINS ROSES;1;1",
            "27/11/2026;21:03;1;4;DESSERT;Desserts;bad;1",
            "27/11/2026;21:03;1;5;SANS;;1;1",
            "27/11/2026;21:03;1;6;VIN;  vins rouges ;bad;1",
            "27/11/2026;21:03;1;7;VIN;Vins rouges",
        ),
        families=["Vins rouges", "Vins rosés"],
    )
    assert result.lines["till_reference"].tolist() == ["1", "3"]
    assert result.not_drinks == 3
    assert {line: reason for line, (reason, _) in rejects(result).items()} == {
        7: "quantity is not a number (write it like -1, 2 or 0,5)",
        8: "6 fields separated by ';' where the header has 8",
    }


def test_families_need_a_family_column():
    with pytest.raises(JournalError, match="no column 'Famille'"):
        parse(journal(header="Date;Heure;Code;Libellé;Quantité"), families=["Vins"])
    no_family = JournalLayout(columns=JournalColumns(family=None))
    with pytest.raises(JournalError, match="no family column"):
        parse(journal(), no_family, families=["Vins"])


def test_without_families_every_line_is_taken():
    result = parse(journal("27/11/2026;21:03;1;2;PLAT;Cuisine;1;1"))
    assert len(result.lines) == 1 and result.not_drinks == 0


# -- another till's layout ---------------------------------------------------------------------


def test_another_tills_layout_is_mapped_without_code():
    layout = JournalLayout.model_validate(
        {
            "delimiter": ",",
            "decimal": ".",
            "date_format": "%Y-%m-%d",
            "currency": "CHF",
            "columns": {
                "date": "sale_date",
                "time": "sale_time",
                "ticket": "receipt",
                "code": "plu",
                "label": "description",
                "family": "department",
                "quantity": "qty",
                "amount": "total",
            },
        }
    )
    data = journal(
        '2026-11-27,21:03:09,R-1,0099,"WINE, RED",Bar,-0.5,-3.25',
        "2026-11-27,21:03:09,R-1,0100,WATER,Bar,1,1,5",
        header="sale_date,sale_time,receipt,plu,description,department,qty,total",
    )
    result = parse(data, layout, timezone="Europe/Zurich")
    assert records(result) == [
        {
            "line": 2,
            "occurred_at": utc("2026-11-27 20:03:09"),
            "ticket": "R-1",
            "till_reference": "0099",
            "label": "WINE, RED",
            "family": "Bar",
            "quantity": -500,
            "amount": -3250,
        }
    ]
    assert rejects(result)[3][0] == "9 fields separated by ',' where the header has 8"


def test_date_and_time_in_one_column():
    layout = JournalLayout(
        date_format="%Y-%m-%d %H:%M:%S",
        columns=JournalColumns(date="Horodatage", time=None, ticket=None, amount=None),
    )
    data = journal(
        "2026-11-27 21:03:09;7;VIN;F;1",
        "2026-11-27 21:03;7;VIN;F;1",
        header="Horodatage;Code;Libellé;Famille;Quantité",
    )
    result = parse(data, layout)
    assert result.lines["occurred_at"].tolist() == [utc("2026-11-27 20:03:09")]
    assert rejects(result)[3][0] == "date is not like 2026-11-27 21:05:30 (%Y-%m-%d %H:%M:%S)"


def test_tab_separated_with_decimal_point():
    layout = JournalLayout(delimiter="\t", decimal=".")
    data = journal("27/11/2026\t21:03\t1\t 007 \tA B\tF\t1.5\t2", header=HEADER.replace(";", "\t"))
    assert records(parse(data, layout))[0] | {"occurred_at": None} == {
        "line": 2,
        "occurred_at": None,
        "ticket": "1",
        "till_reference": "007",
        "label": "A B",
        "family": "F",
        "quantity": 1500,
        "amount": 2000,
    }


@pytest.mark.parametrize("written", ["\t", "\\t", "tab", "TAB"])
def test_a_tab_delimiter_may_be_spelled_out(written):
    assert JournalLayout(delimiter=written).delimiter == "\t"


@pytest.mark.parametrize(
    "settings_, message",
    [
        ({"currency": "eur"}, "ISO 4217"),
        ({"currency": "EURO"}, "ISO 4217"),
        ({"delimiter": ";;"}, "one character"),
        ({"delimiter": '"'}, "one character"),
        ({"delimiter": "a"}, "one character"),
        ({"decimal": ";"}, "decimal"),
        ({"date_format": "%H:%M"}, "does not read back a date"),
        ({"encoding": "latin-1"}, "encoding"),
        ({"columns": {"code": "Libellé"}}, "both name the column"),
        ({"columns": {"code": " "}}, "empty"),
        ({"columns": {"colour": "x"}}, "Extra inputs"),
    ],
)
def test_layouts_are_validated(settings_, message):
    with pytest.raises(ValidationError, match=message):
        JournalLayout.model_validate(settings_)


# -- the sample data ---------------------------------------------------------------------------

SAMPLE_FAMILIES = ["Vins rouges", "Vins blancs", "Vins rosés", "Champagnes", "Vins au verre"]


def test_the_sample_journals_parse_as_their_readme_says():
    night1 = parse(
        (SAMPLES / "sales" / "journal-2026-11-27.csv").read_bytes(), families=SAMPLE_FAMILIES
    )
    night2 = parse(
        (SAMPLES / "sales" / "journal-2026-11-28.csv").read_bytes(), families=SAMPLE_FAMILIES
    )
    assert (night1.encoding, len(night1.lines), night1.not_drinks, len(night1.rejects)) == (
        "utf-8",
        14,
        4,
        0,
    )
    assert (night2.encoding, len(night2.lines), night2.not_drinks, len(night2.rejects)) == (
        "cp1252",
        12,
        3,
        1,
    )
    assert night2.rejects["line"].tolist() == [13]
    both = pd.concat([night1.lines, night2.lines])
    totals = both.groupby("till_reference")["quantity"].sum().to_dict()
    assert totals["000501"] == 18000 and totals["000502"] == 6000 and totals["000104"] == 1000
    assert night1.lines.loc[night1.lines["line"] == 16, "amount"].isna().all()
    assert "Vins rosés" in night2.lines["family"].tolist()


# -- fuzz: generated journals come back exactly ------------------------------------------------

TEXT = st.characters(
    codec="cp1252", exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="\u00a0"
)
CANONICAL = ("date", "time", "ticket", "code", "label", "family", "quantity", "amount")
NAMES = dict(zip(CANONICAL, HEADER.split(";"), strict=True))


def _stripped(text: str) -> str:
    return text.strip(" \t\u00a0\ufeff")


@st.composite
def rows(draw):
    local = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31)))
    seconds = draw(st.booleans())
    local = local.replace(microsecond=0, second=local.second if seconds else 0)
    quantity = draw(st.integers(-(10**9), 10**9))
    amount = draw(st.none() | st.integers(-(10**12), 10**12))
    return {
        "local": local,
        "seconds": seconds,
        "ticket": draw(st.none() | st.text(TEXT, min_size=1, max_size=8).map(_stripped)),
        "code": draw(st.text(TEXT, min_size=1, max_size=12).map(_stripped).filter(bool)),
        "label": draw(st.text(TEXT, max_size=30).map(_stripped)),
        "family": draw(st.sampled_from(["Vins", "VINS ROUGES", "Cuisine", "Entrées", ""])),
        "quantity": quantity,
        "amount": amount,
        "quote_all": draw(st.booleans()),
        "end": draw(st.sampled_from(["\n", "\r\n"])),
    }


def _number(milli: int, decimal: str, trailing_zeros: bool) -> str:
    sign = "-" if milli < 0 else ""
    whole, part = divmod(abs(milli), 1000)
    fraction = f"{part:03d}" if trailing_zeros else f"{part:03d}".rstrip("0")
    return f"{sign}{whole}{decimal}{fraction}" if fraction else f"{sign}{whole}"


def _field(value: str, delimiter: str, quote: bool) -> str:
    if quote or delimiter in value or '"' in value or value.startswith(" "):
        return '"' + value.replace('"', '""') + '"'
    return value


def _variant(name: str, how: int) -> str:
    bare = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return [name, name.upper(), bare.lower(), f"  {bare.upper()} "][how]


def _expected_utc(local: datetime) -> pd.Timestamp:
    aware = local.replace(tzinfo=ZoneInfo(PARIS), fold=0).astimezone(UTC)
    return pd.Timestamp(aware)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(rows(), max_size=25),
    delimiter=st.sampled_from([";", ",", "\t", "|"]),
    decimal=st.sampled_from([",", "."]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    order=st.permutations(CANONICAL),
    header_case=st.integers(0, 3),
    with_extra=st.booleans(),
    families=st.none() | st.sets(st.sampled_from(["vins", "Vins Rouges", "entrees"])),
    blank_every=st.integers(0, 5),
)
def test_generated_journals_round_trip_exactly(
    data, delimiter, decimal, encoding, order, header_case, with_extra, families, blank_every
):
    columns = list(order) + (["extra"] if with_extra else [])
    header = delimiter.join(
        _variant(NAMES[c], header_case) if c in NAMES else "Remise" for c in columns
    )
    text = header + "\r\n"
    expected, line, not_drinks = [], 1, 0
    wanted = None if families is None else {_variant(f, 2) for f in families}
    for index, row in enumerate(data):
        if blank_every and index % blank_every == 0:
            text += " " + row["end"]
            line += 1
        values = {
            "date": row["local"].strftime("%d/%m/%Y"),
            "time": row["local"].strftime("%H:%M:%S" if row["seconds"] else "%H:%M"),
            "ticket": row["ticket"] or "",
            "code": row["code"],
            "label": row["label"],
            "family": row["family"],
            "quantity": _number(row["quantity"], decimal, row["quote_all"]),
            "amount": "" if row["amount"] is None else _number(row["amount"], decimal, False),
            "extra": "x" + delimiter,
        }
        text += (
            delimiter.join(_field(values[c], delimiter, row["quote_all"]) for c in columns)
            + row["end"]
        )
        line += 1
        if wanted is not None and _variant(row["family"], 2) not in wanted:
            not_drinks += 1
            continue
        expected.append(
            {
                "line": line,
                "occurred_at": _expected_utc(row["local"]),
                "ticket": row["ticket"] or None,
                "till_reference": row["code"],
                "label": row["label"],
                "family": row["family"] or None,
                "quantity": row["quantity"],
                "amount": row["amount"],
            }
        )
    layout = JournalLayout(delimiter=delimiter, decimal=decimal)
    result = parse(text.encode(encoding), layout, families=None if families is None else families)
    assert result.rejects.to_dict("records") == []
    assert records(result) == expected
    assert result.not_drinks == not_drinks
    raw = text.encode(encoding)
    try:
        raw.decode("utf-8")
        assert result.encoding == "utf-8"
    except UnicodeDecodeError:
        assert result.encoding == "cp1252"


# -- fuzz: arbitrary bytes ---------------------------------------------------------------------

PIECES = st.sampled_from(
    [
        b"27/11/2026",
        b"21:03",
        b"21:03:09",
        b"25/10/2026;02:30",
        b"29/03/2026;02:30",
        b";",
        b";;",
        b",",
        b"\t",
        b'"',
        b'""',
        b"\r",
        b"\n",
        b"\r\n",
        b" ",
        b"\x00",
        b"\xef\xbb\xbf",
        b"\xe9",
        b"\xc3\xa9",
        b"\x81",
        b"-1",
        b"0,5",
        b"1.5",
        b"1E3",
        b"000123",
        b"VRE CDR",
        b"Cuisine",
        b"Vins",
        b"27/11/2026;21:03;1;007;VIN;Vins;1;7,00",
        b'27/11/2026;21:03;1;"007";"VIN; ROUGE";Vins;1;"7,00"',
        b'27/11/2026;21:03;1;8;"A"B;Vins;1;1',
        b'27/11/2026;21:03;1;8;"A;Vins;1;1',
        b'27/11/2026;21:03;1;8;"A";Vins;1',
    ]
)


def _decoded_lines(data: bytes) -> list[str] | None:
    """The oracle: the file's lines after the same decoding rule, or None if unreadable."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            text = data[3:].decode("utf-8")
        except UnicodeDecodeError:
            return None
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                return None
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _blank(line: str) -> bool:
    return not line.strip(" \t\u00a0\ufeff;")


GOOD_LINES = st.sampled_from(
    [
        b"27/11/2026;21:03;1;007;VRE CDR GUIGAL 20;Vins;1;7,00",
        b"27/11/2026;21:03:09;2;0042;PLANCHE;Cuisine;-1;-18,50",
        b'28/11/2026;00:10;"3";"00;9";"VIN ""NATURE""";vins;0,5;',
        "28/11/2026;01:00;4;10;CRÈME;Desserts;2;9,00".encode("cp1252"),
        "25/10/2026;02:30;5;11;Entrée;VINS;1;1".encode(),
    ]
)


@st.composite
def mutated(draw):
    """A good line with a few bytes replaced, inserted or removed."""
    line = bytearray(draw(GOOD_LINES))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(line)))
        cut = draw(st.integers(0, 3))
        line[at : at + cut] = draw(PIECES)
    return bytes(line)


JUNK = st.lists(PIECES | st.binary(max_size=6), max_size=8).map(b"".join)
LINES = st.lists(st.one_of(GOOD_LINES, mutated(), mutated(), JUNK), max_size=30)
ENDS = st.sampled_from([b"\n", b"\r\n", b"\r\r\n"])


@settings(max_examples=EXAMPLES * 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        st.tuples(LINES, ENDS).map(lambda pair: pair[1].join(pair[0])),
        st.lists(PIECES | st.binary(max_size=6), max_size=40).map(b"".join),
    ),
    with_header=st.sampled_from([True, True, True, False]),
    families=st.none() | st.just(["Vins"]),
)
def test_arbitrary_bytes_land_in_exactly_one_place(body, with_header, families):
    # An ASCII header reads the same whether the rest makes the file UTF-8 or cp1252.
    ascii_header = b"Date;Heure;Ticket;Code;Libelle;Famille;Quantite;Montant TTC\r\n"
    data = (ascii_header if with_header else b"") + body
    try:
        result = parse(data, families=families)
    except JournalError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    lines = _decoded_lines(data)
    if lines is None:  # UTF-16 with its mark: decoded, not checked here
        return
    header_at = next(i for i, line in enumerate(lines) if not _blank(line))
    after = lines[header_at + 1 :]
    blank = sum(_blank(line) for line in after)
    taken = result.lines["line"].tolist()
    refused = result.rejects["line"].tolist()
    assert len(taken) + len(refused) + result.not_drinks + blank == len(after)
    assert taken == sorted(taken) and refused == sorted(refused)
    assert not set(taken) & set(refused)
    numbers = range(header_at + 2, header_at + 2 + len(after))
    assert set(taken) | set(refused) <= set(numbers)
    for row in result.rejects.itertuples():
        assert row.reason
        raw = lines[row.line - 1].replace("\x00", "\u2400")
        assert row.raw == (raw if len(raw) <= 500 else raw[:500] + "…")
    for line in taken:
        assert not _blank(lines[line - 1])
    assert result.lines["quantity"].notna().all()
    assert result.lines["occurred_at"].notna().all()
    assert (result.lines["till_reference"].str.len() > 0).all()
    assert pa.types.is_timestamp(result.lines["occurred_at"].dtype.pyarrow_dtype)
