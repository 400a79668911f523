"""Property-based fuzzing of decode -> split_lines -> parse_lines.

Whatever the bytes, the only exception is :class:`UndecodableFile`; every line lands in
exactly one of blank, valid or rejected, at its own position; valid quantities equal what
:class:`decimal.Decimal` makes of the same text (so sums are exact); rejected raw text is
bounded. The plain-Python oracle (``oracle.py``) states the rules independently.
"""

from __future__ import annotations

import codecs
import io
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockbridge.formats.text import (
    LONG_LINE_BYTES,
    UndecodableFile,
    decode,
    iter_chunks,
    split_lines,
)
from stockbridge.integrations.interstock.format import (
    LINE_MAX_LENGTH,
    REFERENCE_MAX_LENGTH,
    parse_lines,
)
from tests.hostile.oracle import BLANK, expected, expected_raw, outcomes, physical_lines

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies ------------------------------------------------------------------------------

ODD = " \t\r\"',.;+-eE0\u00a0\ufeff\x00\x01\x1b\x7f\x85\u2028\u3000１é€"
"""Characters that sit on the parser's edges: separators, signs, marks, spaces, controls."""

odd_text = st.text(alphabet=st.sampled_from(ODD) | st.characters(codec="utf-8"), max_size=12)


def often(common: list, rare: list, one_in: int = 8) -> st.SearchStrategy:
    """One of ``common``; one time in ``one_in``, one of ``rare``."""
    return st.integers(1, one_in).flatmap(
        lambda n: st.sampled_from(rare if n == one_in else common)
    )


reference = st.one_of(
    st.text(alphabet="0123456789", min_size=1, max_size=14),
    st.text(alphabet="0123456789", min_size=1, max_size=14),
    st.text(alphabet="ABCXYZ-_ ./0123456789é", min_size=1, max_size=20),
    st.integers(REFERENCE_MAX_LENGTH - 1, REFERENCE_MAX_LENGTH + 1).map(lambda n: "R" * n),
    odd_text,
)


@st.composite
def quantity(draw) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(odd_text)
    sign = draw(often(["", "-", "+"], ["--", "+-", " -", "-+"]))
    integer = draw(st.text(alphabet="0123456789", min_size=draw(often([1], [0])), max_size=13))
    mark = draw(often(["", ".", ","], [",,", ".,", " "]))
    fraction = draw(st.text(alphabet="0123456789", max_size=draw(often([3], [4, 5, 6], one_in=4))))
    exponent = draw(often([""], ["e3", "E-2", "E", "e+10"]))
    return sign + integer + mark + fraction + exponent


def wrap(field: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Spaces and spreadsheet quotes around a field, sometimes (and now and then unbalanced)."""
    pad = often([""], [" ", "  ", "\u00a0", "\ufeff"])
    quotes = often([("", "")], [('"', '"'), ('"', '"'), ('"', ""), ("", '"'), ('""', '""')])
    return st.tuples(pad, quotes, field, pad).map(lambda t: t[0] + t[1][0] + t[2] + t[1][1] + t[3])


near_valid_line = st.tuples(
    often([""], [" ", "\t", "\ufeff"]),
    wrap(reference),
    often(["\t"], ["\t\t", " ", "", ";", ",", "\t \t"]),
    wrap(quantity()),
    often([""], ["\t", " ", "\r", "\r\r", "\tX", "\x00"]),
).map("".join)

line_end = often(["\n", "\r\n"], ["\r\r\n", "\r"])


@st.composite
def near_valid_file(draw) -> str:
    lines = draw(
        st.lists(
            st.one_of(
                near_valid_line, near_valid_line, near_valid_line, often([""], [" ", "\t\r"])
            ),
            max_size=30,
        )
    )
    ends = [draw(line_end) for _ in lines]
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    if lines and draw(st.booleans()):
        text = text.removesuffix(ends[-1])  # a last line without its newline
    return text


# -- checks ----------------------------------------------------------------------------------


def check(text: str, parsed) -> list[tuple]:
    """Compare the parser with the oracle; return the outcomes for further checks."""
    lines = physical_lines(text)
    got = outcomes(parsed, len(lines))
    want = [expected(line) for line in lines]
    for number, (line, mine, theirs) in enumerate(zip(lines, got, want, strict=True), start=1):
        assert mine == theirs, f"line {number} {line!r}: parser {mine}, oracle {theirs}"
    blank = sum(1 for outcome in got if outcome == BLANK)
    assert parsed.valid.size + parsed.rejected.size + blank == len(lines)
    # Rejected rows carry their raw text, truncated; line numbers are positions + 1.
    for position, raw in zip(parsed.rejected.tolist(), parsed.raw.to_pylist(), strict=True):
        assert raw == expected_raw(lines[position])
    # The sum of what is applied is exact: Decimal over the same texts.
    total = sum((_decimal_of(lines[p]) for p in parsed.valid.tolist()), start=Decimal(0)).scaleb(3)
    assert int(parsed.quantities.sum()) == total
    return got


def _decimal_of(line: str) -> Decimal:
    from tests.hostile.oracle import SPACES, _clean

    fields = line.rstrip("\r").strip(SPACES).rstrip("\t" + SPACES)
    return Decimal(_clean(fields.partition("\t")[2]).replace(",", "."))


def parse_bytes(data: bytes):
    decoded = decode(data)
    return decoded, parse_lines(split_lines(decoded.utf8))


# -- properties ------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_ever_raise_undecodable(data):
    try:
        decoded, parsed = parse_bytes(data)
    except UndecodableFile:
        return
    text = decoded.utf8.decode("utf-8")  # decode() always hands over UTF-8
    if decoded.encoding == "utf-8":
        assert decoded.utf8 == data
    check(text, parsed)


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            [
                b"\xef\xbb\xbf",
                b"\xff\xfe",
                b"\xfe\xff",
                b"\x00",
                b"\r",
                b"\n",
                b"\t",
                b"1",
                b"-",
                b",",
                b"A",
                b"\xe9",
                b"\x81",
                b"\xc3",
                b"\xa9",
                b"\xf0\x9f\x98",
                b"\x80",
                b'"',
                b" ",
            ]
        ),
        max_size=60,
    ).map(b"".join)
)
def test_byte_soup_of_marks_and_separators(data):
    test_arbitrary_bytes_only_ever_raise_undecodable.hypothesis.inner_test(data)


@FUZZ
@given(near_valid_file())
def test_near_valid_files_agree_with_the_oracle(text):
    decoded, parsed = parse_bytes(text.encode("utf-8"))
    assert decoded.encoding == ("utf-8-sig" if text.startswith("\ufeff") else "utf-8")
    check(text.removeprefix("\ufeff"), parsed)


@FUZZ
@given(near_valid_file(), st.sampled_from(["utf-8-sig", "utf-16-le", "utf-16-be", "cp1252"]))
def test_every_encoding_gives_the_same_lines(text, encoding):
    try:
        if encoding == "utf-16-le":
            data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
        elif encoding == "utf-16-be":
            data = codecs.BOM_UTF16_BE + text.encode("utf-16-be")
        else:
            data = text.encode(encoding)
    except UnicodeEncodeError:
        return  # cp1252 cannot write every character
    decoded, parsed = parse_bytes(data)
    if encoding == "cp1252" and text.isascii():
        assert decoded.encoding == "utf-8"  # ASCII is UTF-8 too
    assert decoded.utf8.decode("utf-8") == text
    check(text, parsed)


@FUZZ
@given(st.text(alphabet=st.sampled_from(ODD) | st.characters(codec="utf-8"), max_size=300))
def test_arbitrary_text_agrees_with_the_oracle(text):
    decoded, parsed = parse_bytes(text.encode("utf-8"))
    check(decoded.utf8.decode("utf-8"), parsed)


# -- iter_chunks -----------------------------------------------------------------------------


@FUZZ
@given(
    st.text(alphabet=st.sampled_from("ab\t\n\r é€😀"), max_size=200),
    st.integers(1, 40),
    st.integers(4, 24),
)
def test_chunks_end_on_line_ends_and_cut_only_long_lines(text, chunk_bytes, long_line_bytes):
    data = text.encode("utf-8")
    chunks = list(iter_chunks(io.BytesIO(data), chunk_bytes, long_line_bytes))
    assert all(chunks)
    assert all(len(c) <= chunk_bytes + long_line_bytes + 1 for c in chunks)
    assert all(c.endswith(b"\n") for c in chunks[:-1])
    got = b"".join(chunks).split(b"\n")
    want = data.split(b"\n")
    assert len(got) == len(want)  # no line lost or added: numbers stay
    for cut, line in zip(got, want, strict=True):
        # A line is kept whole, or (only when longer than the limit) cut to its start.
        assert len(cut) <= long_line_bytes + chunk_bytes
        if cut != line:
            assert len(line) > long_line_bytes and line.startswith(cut)
            assert long_line_bytes - 3 <= len(cut) <= long_line_bytes
            cut.decode("utf-8")  # never in the middle of a character


long_piece = st.sampled_from(
    [
        "x" * (LINE_MAX_LENGTH - 2),
        "é" * (LINE_MAX_LENGTH + 1),
        " " * (LINE_MAX_LENGTH + 5),
        "\r" * (LINE_MAX_LENGTH + 5),
        "😀" * (LONG_LINE_BYTES // 4 + 3),
        " " * (LONG_LINE_BYTES + 7),
        "\r" * (LONG_LINE_BYTES + 1),
    ]
)


@settings(FUZZ, max_examples=60)
@given(
    st.lists(
        st.one_of(
            near_valid_line, st.tuples(near_valid_line, long_piece, near_valid_line).map("".join)
        ),
        max_size=6,
    ),
    st.sampled_from([1024, 4096, 65536, 1 << 20]),
)
def test_streaming_in_chunks_gives_the_same_outcome_as_one_piece(lines, chunk_bytes):
    """iter_chunks may drop the tail of a huge line; its outcome must not change."""
    text = "".join(line + "\n" for line in lines)
    data = text.encode("utf-8")
    whole = outcomes(parse_lines(split_lines(data)), len(lines))
    streamed: list[tuple] = []
    raws: list[str] = []
    for chunk in iter_chunks(io.BytesIO(data), chunk_bytes):
        parsed = parse_lines(split_lines(chunk))
        streamed += outcomes(parsed, chunk.count(b"\n"))
        raws += parsed.raw.to_pylist()
    assert streamed == whole == [expected(line) for line in lines]
    assert raws == [
        expected_raw(line) for line, o in zip(lines, whole, strict=True) if o[0] == "rejected"
    ]
