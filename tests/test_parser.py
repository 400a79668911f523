"""The InterStock text format: decoding, line splitting and ``reference<TAB>quantity`` parsing.

These call the real parser on bytes as tills and spreadsheets write them. Line numbers are
physical (1 = first line of the file) and quantities are integer thousandths.
"""

from __future__ import annotations

import codecs

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockbridge.formats.text import UndecodableFile, decode, line_count, split_lines
from stockbridge.integrations.interstock.format import (
    _PLAIN_LINE,
    INTEGER_DIGITS_MAX,
    REFERENCE_MAX_LENGTH,
    ParsedLines,
    Reason,
    _parse_slowly,
    parse_lines,
)
from stockbridge.movements import format_quantities


def parse(data: bytes):
    """bytes -> (encoding, {line: (reference, milli)}, {line: (reason, raw)})."""
    decoded = decode(data)
    parsed = parse_lines(split_lines(decoded.utf8))
    valid = {
        int(line) + 1: (ref, int(qty))
        for line, ref, qty in zip(
            parsed.valid, parsed.references.to_pylist(), parsed.quantities, strict=True
        )
    }
    rejected = {
        int(line) + 1: (reason, raw)
        for line, reason, raw in zip(
            parsed.rejected, parsed.reasons.to_pylist(), parsed.raw.to_pylist(), strict=True
        )
    }
    return decoded.encoding, valid, rejected


# -- decoding --------------------------------------------------------------------------------


def test_utf8_without_bom_is_kept_as_is():
    data = "Château\t1\n".encode()
    decoded = decode(data)
    assert decoded.encoding == "utf-8"
    assert decoded.utf8 == data


def test_utf8_bom_is_removed_and_first_reference_is_clean():
    encoding, valid, rejected = parse(codecs.BOM_UTF8 + b"8880000000116\t-1\r\n")
    assert encoding == "utf-8-sig"
    assert valid == {1: ("8880000000116", -1000)}
    assert rejected == {}


def test_cp1252_is_recognised_and_converted_to_utf8():
    data = "Crème brûlée €\t2\n".encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    decoded = decode(data)
    assert decoded.encoding == "cp1252"
    assert decoded.utf8.decode("utf-8") == "Crème brûlée €\t2\n"
    _, valid, _ = parse(data)
    assert valid == {1: ("Crème brûlée €", 2000)}


def test_utf16_with_bom_is_decoded():
    data = codecs.BOM_UTF16_LE + "A\t1\r\nB\t2\r\n".encode("utf-16-le")
    encoding, valid, _ = parse(data)
    assert encoding == "utf-16"
    assert valid == {1: ("A", 1000), 2: ("B", 2000)}


def test_bytes_that_are_no_text_are_undecodable():
    with pytest.raises(UndecodableFile, match="neither UTF-8 nor Windows-1252"):
        decode(b"\x81\x8d\x8f\x90\x9d" * 20)


# -- lines -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [b"", b"\n", b"a", b"a\n", b"a\nb", b"\n\n", b"a\r\nb\r\n"])
def test_line_count_is_the_number_of_lines_split_lines_makes(text):
    assert line_count(text) == len(split_lines(text))


def test_split_lines_keeps_a_final_line_without_newline():
    assert split_lines(b"a\nb").to_pylist() == ["a", "b"]
    assert split_lines(b"a\nb\n").to_pylist() == ["a", "b"]
    assert split_lines(b"").to_pylist() == []
    assert split_lines(b"\n\n").to_pylist() == ["", ""]


def test_crlf_and_lf_mixed():
    _, valid, rejected = parse(b"A\t1\r\nB\t2\nC\t3\r\nD\t4")
    assert valid == {1: ("A", 1000), 2: ("B", 2000), 3: ("C", 3000), 4: ("D", 4000)}
    assert rejected == {}


def test_blank_and_whitespace_lines_are_ignored_but_keep_their_numbers():
    data = b"\r\nA\t1\r\n   \r\n\t\n \t \r\n\r\nB\t-2\n\nC\tx\n"
    _, valid, rejected = parse(data)
    assert valid == {2: ("A", 1000), 7: ("B", -2000)}
    assert rejected == {9: (Reason.NOT_A_NUMBER, "C\tx")}


def test_a_final_line_without_newline_is_parsed():
    _, valid, _ = parse(b"A\t1\nB\t2.5")
    assert valid == {1: ("A", 1000), 2: ("B", 2500)}


# -- quantities ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "milli"),
    [
        ("1", 1000),
        ("-1", -1000),
        ("+3", 3000),
        ("0.5", 500),
        ("0,5", 500),
        ("-0,75", -750),
        ("1.25", 1250),
        ("2.125", 2125),
        ("-2,125", -2125),
        ("5.", 5000),
        ("-.5", -500),
        ("0", 0),
        ("007", 7000),
        ("999999999999.999", 999_999_999_999_999),
        (" -1 ", -1000),
    ],
)
def test_accepted_quantities_are_exact_thousandths(text, milli):
    _, valid, rejected = parse(f"R\t{text}\n".encode())
    assert rejected == {}
    assert valid == {1: ("R", milli)}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("R\t1.2345", Reason.TOO_MANY_DECIMALS),
        ("R\t-0,0001", Reason.TOO_MANY_DECIMALS),
        ("R", Reason.MISSING_QUANTITY),
        ("R\t", Reason.MISSING_QUANTITY),
        ("R\t1\t2", Reason.EXTRA_FIELDS),
        ("R\t\t2", Reason.EXTRA_FIELDS),
        ("R\tdeux", Reason.NOT_A_NUMBER),
        ("R\t1 000", Reason.NOT_A_NUMBER),
        ("R\t1,000.5", Reason.NOT_A_NUMBER),
        ("R\t--1", Reason.NOT_A_NUMBER),
        ("R\t-", Reason.NOT_A_NUMBER),
        ("R\t1e3", Reason.SCIENTIFIC),
        ("\t5", Reason.MISSING_REFERENCE),
        ("R\t1234567890123", Reason.TOO_LARGE),
        ("R" * 65 + "\t1", Reason.REFERENCE_TOO_LONG),
    ],
)
def test_rejected_lines_say_why_and_keep_the_raw_text(line, reason):
    _, valid, rejected = parse(f"OK\t1\n{line}\r\nOK2\t2\n".encode())
    assert valid == {1: ("OK", 1000), 3: ("OK2", 2000)}
    assert rejected == {2: (reason, line)}


def test_control_characters_are_rejected():
    _, valid, rejected = parse(b"OK\t1\nR\x00\t1\nS\t2\x07\n")
    assert valid == {1: ("OK", 1000)}
    assert {line: reason for line, (reason, _) in rejected.items()} == {
        2: Reason.CONTROL,
        3: Reason.CONTROL,
    }
    assert rejected[2][1].startswith("R")
    assert rejected[2][1].endswith("\t1")


def test_trailing_tab_is_not_an_extra_field():
    _, valid, rejected = parse(b"R\t4\t\r\n")
    assert valid == {1: ("R", 4000)}
    assert rejected == {}


def test_overlong_raw_text_is_cut():
    line = "R\t" + "x" * 2000
    _, _, rejected = parse(line.encode())
    reason, raw = rejected[1]
    assert reason == Reason.NOT_A_NUMBER
    assert raw.endswith("…")
    assert raw.startswith("R\txxx")
    assert len(raw) == 501


# -- references ------------------------------------------------------------------------------


def test_references_are_text_leading_zeros_and_letters_kept():
    _, valid, _ = parse(b"0001234\t-0,75\nVIN-BDX-2015\t-2\n00\t1\n")
    assert valid == {1: ("0001234", -750), 2: ("VIN-BDX-2015", -2000), 3: ("00", 1000)}


def test_spaces_and_spreadsheet_quotes_around_fields_are_trimmed():
    _, valid, _ = parse(b'  8880000000154  \t  -1  \r\n"8880000000116"\t"2"\n')
    assert valid == {1: ("8880000000154", -1000), 2: ("8880000000116", 2000)}


def test_unknown_references_are_not_decided_by_the_parser():
    # Whether a reference exists is the ledger's business (tasks/apply rejects it there).
    _, valid, rejected = parse(b"8880000000999\t-1\n")
    assert valid == {1: ("8880000000999", -1000)}
    assert rejected == {}


def test_several_lines_for_one_reference_all_count():
    _, valid, _ = parse(b"A\t-1\nA\t-2\nB\t1\nA\t0,5\n")
    assert [v for v in valid.values() if v[0] == "A"] == [("A", -1000), ("A", -2000), ("A", 500)]


def test_sums_are_exact_without_float_drift():
    data = b"A\t0.1\n" * 1000 + b"B\t0,001\n" * 1000 + b"C\t-0.3\n" * 3 + b"C\t0.9\n"
    parsed = parse_lines(split_lines(decode(data).utf8))
    assert parsed.quantities.dtype == np.int64
    refs = np.array(parsed.references.to_pylist())
    assert int(parsed.quantities[refs == "A"].sum()) == 100_000  # exactly 100
    assert int(parsed.quantities[refs == "B"].sum()) == 1_000  # exactly 1
    assert int(parsed.quantities[refs == "C"].sum()) == 0
    assert sum(0.1 for _ in range(1000)) != 100  # what a float would have done


def test_windows_sample_file():
    with open("data_samples/interstock/import/caisse-export-windows.txt", "rb") as handle:
        data = handle.read()
    encoding, valid, rejected = parse(data)
    assert encoding == "cp1252"
    assert valid == {
        1: ("8880000000109", -1000),
        2: ("8880000000130", 3000),
        4: ("0001234", -750),
        5: ("VIN-BDX-2015", -2000),
        6: ("8880000000999", -1000),
        7: ("Château Margaux", -1000),
        11: ("8880000000154", -1000),
    }
    assert {line: reason for line, (reason, _) in rejected.items()} == {
        8: Reason.NOT_A_NUMBER,
        9: Reason.MISSING_QUANTITY,
        10: Reason.TOO_MANY_DECIMALS,
        12: Reason.EXTRA_FIELDS,
    }
    assert rejected[10][1] == "8880000000130\t-1,2345"


# -- the fast path for plain lines -----------------------------------------------------------


def assert_same_as_slow_path(lines: list[str], large: bool = False) -> ParsedLines:
    """``parse_lines`` equals the full rules alone, field by field, types included."""
    array = pa.array(lines, pa.large_string() if large else pa.string())
    fast, slow = parse_lines(array), _parse_slowly(array)
    for name in ("valid", "quantities", "rejected"):
        mine, theirs = getattr(fast, name), getattr(slow, name)
        assert mine.dtype == theirs.dtype, name
        np.testing.assert_array_equal(mine, theirs, err_msg=name)
    for name in ("references", "reasons", "raw"):
        mine, theirs = getattr(fast, name), getattr(slow, name)
        assert mine.type == theirs.type, name
        assert mine.to_pylist() == theirs.to_pylist(), name
    return fast


def is_plain(line: str) -> bool:
    return pc.match_substring_regex(pa.array([line]), _PLAIN_LINE)[0].as_py()


def test_no_lines():
    parsed = assert_same_as_slow_path([])
    assert parsed.valid.size == parsed.rejected.size == 0


def test_all_plain_lines_skip_the_full_rules():
    lines = ["8880000000116\t-3", "A\t+5\r", "B\t-0", "é€😀\t007"]
    assert all(is_plain(line) for line in lines)
    parsed = assert_same_as_slow_path(lines)
    assert parsed.valid.tolist() == [0, 1, 2, 3]
    assert parsed.references.to_pylist() == ["8880000000116", "A", "B", "é€😀"]
    assert parsed.quantities.tolist() == [-3000, 5000, 0, 7000]


def test_no_plain_line():
    lines = ["", " A\t1", "B\t1,5", "C\tx", '"D"\t2']
    assert not any(is_plain(line) for line in lines)
    parsed = assert_same_as_slow_path(lines)
    assert parsed.valid.tolist() == [1, 2, 4]
    assert parsed.rejected.tolist() == [3]


def test_mixed_lines_keep_their_order():
    lines = ["C\tx", "A\t1", "", " B \t2", "C\t3\r", "D\r\t4", "E\t5.5", "F\t6", "G\t1\t2"]
    parsed = assert_same_as_slow_path(lines)
    assert parsed.valid.tolist() == [1, 3, 4, 6, 7]
    assert parsed.references.to_pylist() == ["A", "B", "C", "E", "F"]
    assert parsed.quantities.tolist() == [1000, 2000, 3000, 5500, 6000]
    assert parsed.rejected.tolist() == [0, 5, 8]
    assert parsed.reasons.to_pylist() == [
        Reason.NOT_A_NUMBER,
        Reason.LONE_CR,
        Reason.EXTRA_FIELDS,
    ]
    assert parsed.raw.to_pylist() == ["C\tx", "D\r\t4", "G\t1\t2"]


@pytest.mark.parametrize(
    ("line", "plain", "outcome"),
    [
        ("R\t+5", True, 5000),
        ("R\t-0", True, 0),
        ("R\t+0", True, 0),
        ("R\t" + "9" * INTEGER_DIGITS_MAX, True, int("9" * INTEGER_DIGITS_MAX) * 1000),
        ("R\t-" + "9" * INTEGER_DIGITS_MAX, True, -int("9" * INTEGER_DIGITS_MAX) * 1000),
        ("R\t" + "9" * (INTEGER_DIGITS_MAX + 1), False, Reason.TOO_LARGE),
        ("R" * REFERENCE_MAX_LENGTH + "\t1", True, 1000),
        ("R" * (REFERENCE_MAX_LENGTH + 1) + "\t1", False, Reason.REFERENCE_TOO_LONG),
        ("é" * REFERENCE_MAX_LENGTH + "\t1", True, 1000),
        ("é" * (REFERENCE_MAX_LENGTH + 1) + "\t1", False, Reason.REFERENCE_TOO_LONG),
        ("😀" * REFERENCE_MAX_LENGTH + "\t1", True, 1000),
        ("😀" * (REFERENCE_MAX_LENGTH + 1) + "\t1", False, Reason.REFERENCE_TOO_LONG),
        ("R\t1\r", True, 1000),
        ("R\t1\r\r", False, 1000),
        ("R\r\t1", False, Reason.LONE_CR),
        ("R\t1\r2", False, Reason.LONE_CR),
        ("R\t1\n", False, Reason.NOT_A_NUMBER),
        ("R\t++5", False, Reason.NOT_A_NUMBER),
        ("R\t+", False, Reason.NOT_A_NUMBER),
        ("R\u3000\t1", False, 1000),
        ("R\x85\t1", False, Reason.CONTROL),
    ],
)
def test_edges_of_the_fast_path(line, plain, outcome):
    assert is_plain(line) == plain
    parsed = assert_same_as_slow_path(["A\t1", line, "B\t2"])
    if isinstance(outcome, int):
        assert parsed.valid.tolist() == [0, 1, 2]
        assert parsed.quantities[1] == outcome
    else:
        assert parsed.reasons.to_pylist() == [outcome]


EDGES = " \t\r\n\"',.+-eE0123456789\u00a0\ufeff\x00\x1f\x7f\x85\x9f\u2028\u3000é€😀"
"""Characters the full rules treat specially, and some they do not."""


def often(common: list, rare: list) -> st.SearchStrategy:
    """One of ``common`` seven times in eight, else one of ``rare``."""
    return st.integers(0, 7).flatmap(lambda n: st.sampled_from(rare if n == 0 else common))


def sized(alphabet: str, sizes: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    return sizes.flatmap(lambda size: st.text(alphabet, min_size=size, max_size=size))


edge_sizes = [0, REFERENCE_MAX_LENGTH - 1, REFERENCE_MAX_LENGTH, REFERENCE_MAX_LENGTH + 1]
around = often(
    [("", "")],
    [('"', '"'), ('"', '"'), ('"', ""), (" ", ""), ("", " "), ("\u00a0", ""), ("\ufeff", "")],
)
plain_looking = st.tuples(
    around,
    sized("0123456789ABZaz-_./'=é€😀", st.integers(1, 14) | st.sampled_from(edge_sizes)),
    often(["\t"], ["\t\t", " \t", "", ";"]),
    around,
    often(["", "-", "+"], ["--", "+-", " ", "\r"]),
    sized("0123456789", st.integers(1, 4) | st.integers(0, INTEGER_DIGITS_MAX + 1)),
    often([""], [".", ",5", ".25", ",125", ".1234", "e3"]),
    often(["", "\r"], ["\r\r", "\t", " ", "\n", "\x00", "\t1"]),
).map(lambda p: p[0][0] + p[1] + p[0][1] + p[2] + p[3][0] + "".join(p[4:7]) + p[3][1] + p[7])


@st.composite
def mutated(draw) -> str:
    """A plain-looking line with one odd character put somewhere."""
    line = draw(plain_looking)
    at = draw(st.integers(0, len(line)))
    return line[:at] + draw(st.sampled_from(EDGES) | st.characters(codec="utf-8")) + line[at:]


any_line = st.one_of(
    plain_looking,
    plain_looking,
    plain_looking,
    mutated(),
    st.text(st.sampled_from(EDGES) | st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(["", " ", "\t", "\r", " \t\u00a0\r"]),
)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(
    lines=st.lists(any_line, max_size=40),
    large=st.booleans(),
)
def test_fast_path_gives_what_the_full_rules_give(lines, large):
    assert_same_as_slow_path(lines, large)


# -- formatting ------------------------------------------------------------------------------


def test_format_quantities():
    milli = np.array([5000, -2000, 500, 1250, 0, -500, 1, -1, 10_000, 123_456_789_012_345])
    assert format_quantities(milli).to_pylist() == [
        "5",
        "-2",
        "0.5",
        "1.25",
        "0",
        "-0.5",
        "0.001",
        "-0.001",
        "10",
        "123456789012.345",
    ]


def test_format_round_trips_through_the_parser():
    milli = np.array([1, -1, 10, 100, 999, 1000, -1010, 42_000, -123_456])
    text = "".join(f"R\t{q}\n" for q in format_quantities(milli).to_pylist())
    _, valid, _ = parse(text.encode())
    assert [q for _, q in valid.values()] == milli.tolist()
