"""Real-world oddities, each with its decided outcome (the table in docs/input-format.md).

Files are generated here, never committed; the 200 MB one is streamed into ``tmp_path``.
"""

from __future__ import annotations

import codecs
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stockbridge.formats.text import UndecodableFile, decode, split_lines
from stockbridge.integrations.interstock.format import LINE_MAX_LENGTH, Reason, parse_lines
from stockbridge.schema import REJECT_RAW_LIMIT

VALID = "valid"


def parse(data: bytes) -> tuple[str, dict[int, tuple], dict[int, tuple[str, str]]]:
    """bytes -> (encoding, {line: (reference, thousandths)}, {line: (reason, raw)})."""
    decoded = decode(data)
    parsed = parse_lines(split_lines(decoded.utf8))
    valid = {
        int(p) + 1: (ref, int(q))
        for p, ref, q in zip(
            parsed.valid, parsed.references.to_pylist(), parsed.quantities, strict=True
        )
    }
    rejected = {
        int(p) + 1: (reason, raw)
        for p, reason, raw in zip(
            parsed.rejected, parsed.reasons.to_pylist(), parsed.raw.to_pylist(), strict=True
        )
    }
    return decoded.encoding, valid, rejected


# -- one line, one outcome (docs/input-format.md, "Lines") ------------------------------------

LINES = [
    # (case, line, outcome): outcome is (reference, thousandths) or a Reason
    ("plain sale", "8880000000116\t-1", ("8880000000116", -1000)),
    ("Excel quotes", '"8880000000116"\t"-1"', ("8880000000116", -1000)),
    ("quotes, one side", '"8880000000116\t-1', ('"8880000000116', -1000)),
    ("doubled quotes", '""R""\t1', ('"R"', 1000)),
    ("quoted across the tab", '"R\t1"', Reason.NOT_A_NUMBER),
    ("spaces around fields", "  8880000000116  \t  -1  ", ("8880000000116", -1000)),
    ("inner spaces kept", "REF A B\t1", ("REF A B", 1000)),
    ("no-break space trimmed", "R\u00a0\t\u00a01", ("R", 1000)),
    ("ideographic space kept", "R\u3000\t1", ("R\u3000", 1000)),
    ("BOM inside a file", "\ufeffR\t1", ("R", 1000)),
    ("leading zeros kept", "0001234\t1", ("0001234", 1000)),
    ("apostrophe prefix kept", "'0001234\t1", ("'0001234", 1000)),
    ("formula-like reference", "=1+1\t1", ("=1+1", 1000)),
    ("reference of 64", "R" * 64 + "\t1", ("R" * 64, 1000)),
    ("reference of 65", "R" * 65 + "\t1", Reason.REFERENCE_TOO_LONG),
    ("scientific 1E3", "R\t1E3", Reason.SCIENTIFIC),
    ("scientific 1e-2", "R\t1e-2", Reason.SCIENTIFIC),
    ("thousands with space", "R\t1 000", Reason.NOT_A_NUMBER),
    ("thousands with no-break space", "R\t1\u00a0000", Reason.NOT_A_NUMBER),
    ("1,000 is one unit", "R\t1,000", ("R", 1000)),
    ("1.000 is one unit", "R\t1.000", ("R", 1000)),
    ("1,000.5", "R\t1,000.5", Reason.NOT_A_NUMBER),
    ("1.000,5", "R\t1.000,5", Reason.NOT_A_NUMBER),
    ("decimal comma", "R\t-0,5", ("R", -500)),
    ("plus sign", "R\t+3", ("R", 3000)),
    ("double minus", "R\t--1", Reason.NOT_A_NUMBER),
    ("plus minus", "R\t+-1", Reason.NOT_A_NUMBER),
    ("minus after", "R\t1-", Reason.NOT_A_NUMBER),
    ("space after sign", "R\t- 1", Reason.NOT_A_NUMBER),
    ("accounting brackets", "R\t(1)", Reason.NOT_A_NUMBER),
    (".5", "R\t.5", ("R", 500)),
    ("5.", "R\t5.", ("R", 5000)),
    ("-0", "R\t-0", ("R", 0)),
    ("sign alone", "R\t-", Reason.NOT_A_NUMBER),
    ("mark alone", "R\t.", Reason.NOT_A_NUMBER),
    ("4 decimals", "R\t1.2345", Reason.TOO_MANY_DECIMALS),
    ("4 decimals, zeros", "R\t1.5000", Reason.TOO_MANY_DECIMALS),
    ("12 digits", "R\t999999999999.999", ("R", 999_999_999_999_999)),
    ("13 digits", "R\t1000000000000", Reason.TOO_LARGE),
    ("13 digits, leading zeros", "R\t0000000000001", Reason.TOO_LARGE),
    ("full-width digit", "R\t\uff11", Reason.NOT_A_NUMBER),
    ("Arabic-Indic digit", "R\t\u0661", Reason.NOT_A_NUMBER),
    ("currency", "R\t1€", Reason.NOT_A_NUMBER),
    ("formula quantity", "R\t=1", Reason.NOT_A_NUMBER),
    ("NaN", "R\tNaN", Reason.NOT_A_NUMBER),
    ("Infinity", "R\tinf", Reason.NOT_A_NUMBER),
    ("trailing tab", "R\t1\t", ("R", 1000)),
    ("third field", "R\t1\t2", Reason.EXTRA_FIELDS),
    ("empty middle field", "R\t\t1", Reason.EXTRA_FIELDS),
    ("no tab", "R 1", Reason.MISSING_QUANTITY),
    ("semicolon separator", "R;1", Reason.SEMICOLON),
    ("reference missing", "\t1", Reason.MISSING_REFERENCE),
    ("quotes only", '""\t1', Reason.MISSING_REFERENCE),
    ("quantity missing", "R\t", Reason.MISSING_QUANTITY),
    ("reference alone", "R", Reason.MISSING_QUANTITY),
    ("NUL", "R\x00\t1", Reason.CONTROL),
    ("bell", "R\x07\t1", Reason.CONTROL),
    ("ANSI escape", "\x1b[31mR\t1", Reason.CONTROL),
    ("form feed", "R\t1\x0c", Reason.CONTROL),
    ("DEL", "R\x7f\t1", Reason.CONTROL),
    ("C1 control (mojibake)", "R\u0080\t1", Reason.CONTROL),
    ("NEL", "R\u0085\t1", Reason.CONTROL),
    ("CR LF", "R\t1\r", ("R", 1000)),
    ("CR CR LF", "R\t1\r\r", ("R", 1000)),
    ("lone CR inside", "A\t1\rB\t2", Reason.LONE_CR),
    ("line of 4096", "R\t1" + " " * (LINE_MAX_LENGTH - 3), ("R", 1000)),
    ("line of 4097", "R\t1" + " " * (LINE_MAX_LENGTH - 2), Reason.LINE_TOO_LONG),
    ("4097 spaces", " " * (LINE_MAX_LENGTH + 1), Reason.LINE_TOO_LONG),
]


@pytest.mark.parametrize(("line", "outcome"), [c[1:] for c in LINES], ids=[c[0] for c in LINES])
def test_each_odd_line_has_its_decided_outcome(line, outcome):
    _, valid, rejected = parse(f"OK\t1\n{line}\nOK\t2\n".encode())
    assert valid.pop(1) == ("OK", 1000) and valid.pop(3) == ("OK", 2000)
    if isinstance(outcome, tuple):
        assert valid == {2: outcome} and rejected == {}
    else:
        assert valid == {}
        reason, raw = rejected[2]
        assert reason == outcome
        body = line.rstrip("\r").replace("\x00", "\u2400")
        assert raw == (body if len(body) <= REJECT_RAW_LIMIT else body[:REJECT_RAW_LIMIT] + "…")


# -- encodings --------------------------------------------------------------------------------

LINES_TEXT = "8880000000116\t-1\r\nChâteau Margaux\t2,5\r\n€uro\t-0.5\r\n"
WANT = {1: ("8880000000116", -1000), 2: ("Château Margaux", 2500), 3: ("€uro", -500)}


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (LINES_TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + LINES_TEXT.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + LINES_TEXT.encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF16_BE + LINES_TEXT.encode("utf-16-be"), "utf-16"),
        (LINES_TEXT.encode("cp1252"), "cp1252"),
    ],
    ids=["utf-8", "utf-8 BOM", "utf-16 LE BOM", "utf-16 BE BOM", "cp1252"],
)
def test_every_supported_encoding_reads_the_same_lines(data, encoding):
    assert parse(data) == (encoding, WANT, {})


def test_two_concatenated_utf8_files_keep_the_second_bom_out_of_the_reference():
    one = codecs.BOM_UTF8 + b"A\t1\r\nB\t2\r\n"
    two = codecs.BOM_UTF8 + b"C\t3\r\n"
    assert parse(one + two) == ("utf-8-sig", {1: ("A", 1000), 2: ("B", 2000), 3: ("C", 3000)}, {})


def test_two_concatenated_utf16_files_read_whole():
    part = codecs.BOM_UTF16_LE + "A\t1\r\n".encode("utf-16-le")
    assert parse(part + part) == ("utf-16", {1: ("A", 1000), 2: ("A", 1000)}, {})


def test_utf16_without_bom_is_rejected_line_by_line_as_control_characters():
    encoding, valid, rejected = parse("A\t1\r\nB\t2\r\n".encode("utf-16-le"))
    assert encoding == "utf-8"  # NUL-riddled ASCII is valid UTF-8
    assert valid == {}
    # Each newline is followed by the NUL half of its UTF-16 unit: one more line, a lone NUL.
    assert {n: reason for n, (reason, _) in rejected.items()} == {
        1: Reason.CONTROL,
        2: Reason.CONTROL,
        3: Reason.CONTROL,
    }
    assert rejected[1][1] == "A␀\t␀1␀\r␀"  # NUL shown as ␀ (PostgreSQL cannot store NUL)
    assert rejected[3][1] == "␀"


def test_utf8_then_utf16_in_one_file_keeps_the_ascii_part():
    data = b"A\t1\r\n" + codecs.BOM_UTF16_LE + "B\t2\r\n".encode("utf-16-le")
    encoding, valid, rejected = parse(data)
    assert encoding == "cp1252"  # FF FE is not UTF-8
    assert valid == {1: ("A", 1000)}
    assert {n: reason for n, (reason, _) in rejected.items()} == {
        2: Reason.CONTROL,
        3: Reason.CONTROL,
    }


def test_utf32_is_not_supported_and_never_applies():
    encoding, valid, rejected = parse("\ufeffA\t1\r\n".encode("utf-32-le"))
    assert encoding == "utf-16"  # FF FE 00 00 starts like UTF-16
    assert valid == {}
    assert set(reason for reason, _ in rejected.values()) == {Reason.CONTROL}


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x81\x8d",
        b"PK\x03\x04\x14\x00\x08\x00\x08\x00\x8f\x90\x9d",
        codecs.BOM_UTF16_LE + b"A\x00\t",  # odd length
        codecs.BOM_UTF16_LE + b"\x00\xd8A\x00",  # lone surrogate
        codecs.BOM_UTF8 + b"A\t1\xff\n",
    ],
    ids=["png", "zip", "utf-16 odd length", "utf-16 lone surrogate", "utf-8 BOM then not UTF-8"],
)
def test_binary_and_broken_files_are_set_aside_whole(data):
    with pytest.raises(UndecodableFile):
        decode(data)


def test_split_lines_refuses_bytes_that_are_not_utf8():
    with pytest.raises(UndecodableFile):
        split_lines(b"A\t1\n\xc3")


@pytest.mark.parametrize("data", [b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b"\n", b"\r\n"])
def test_empty_files_have_nothing_to_apply(data):
    _, valid, rejected = parse(data)
    assert valid == {} and rejected == {}


def test_nul_bytes_inside_a_line_reject_that_line_only():
    _, valid, rejected = parse(b"A\t1\nB\x00\x00\t2\nC\t3\n")
    assert valid == {1: ("A", 1000), 3: ("C", 3000)}
    assert rejected == {2: (Reason.CONTROL, "B␀␀\t2")}


# -- line ends --------------------------------------------------------------------------------


def test_mixed_crlf_lf_and_a_last_line_without_newline():
    _, valid, rejected = parse(b"A\t1\r\nB\t2\nC\t3\r\r\nD\t4\r\n\nE\t5")
    assert valid == {1: ("A", 1000), 2: ("B", 2000), 3: ("C", 3000), 4: ("D", 4000), 6: ("E", 5000)}
    assert rejected == {}


def test_old_mac_line_ends_are_one_rejected_line_and_nothing_applies():
    data = ("8880000000116\t-1\r" * 200).encode()
    _, valid, rejected = parse(data)
    assert valid == {}
    assert list(rejected) == [1]
    reason, raw = rejected[1]
    assert reason == Reason.LONE_CR
    assert len(raw) == REJECT_RAW_LIMIT + 1 and raw.endswith("…")


def test_a_million_blank_lines_are_quick_and_leave_nothing():
    data = b"\n" * 400_000 + b"\r\n" * 400_000 + b" \t\xc2\xa0\r\n" * 200_000
    start = time.perf_counter()
    decoded = decode(data)
    lines = split_lines(decoded.utf8)
    parsed = parse_lines(lines)
    elapsed = time.perf_counter() - start
    assert len(lines) == 1_000_000
    assert parsed.valid.size == 0 and parsed.rejected.size == 0
    assert elapsed < 10, f"{elapsed:.1f}s for a million blank lines"


# -- a 200 MB line ----------------------------------------------------------------------------

HUGE_LINE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from stockbridge.integrations.interstock.format import parse_lines
    from stockbridge.formats.text import iter_chunks, split_lines

    lines, valid, rejected, biggest = 0, [], [], 0
    with open(sys.argv[1], "rb") as handle:
        for chunk in iter_chunks(handle, 8 * 1024 * 1024):
            biggest = max(biggest, len(chunk))
            parsed = parse_lines(split_lines(chunk))
            valid += [(lines + int(p) + 1, r, int(q)) for p, r, q in zip(
                parsed.valid, parsed.references.to_pylist(), parsed.quantities)]
            rejected += [(lines + int(p) + 1, reason, raw) for p, reason, raw in zip(
                parsed.rejected, parsed.reasons.to_pylist(), parsed.raw.to_pylist())]
            lines += chunk.count(b"\\n") + (not chunk.endswith(b"\\n"))
    # VmHWM is this process's peak resident memory (ru_maxrss would include the parent's).
    with open("/proc/self/status") as status:
        peak = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmHWM:"))
    print(json.dumps({"lines": lines, "valid": valid, "rejected": rejected,
                      "biggest_chunk": biggest, "peak_rss": peak}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="measures memory in /proc")
def test_a_200_mb_line_is_rejected_with_its_raw_text_cut_in_bounded_memory(tmp_path):
    path = tmp_path / "runaway.txt"
    size = 200 * 1024 * 1024
    with open(path, "wb") as handle:
        handle.write(b"A\t1\r\n8880000000116\t-1")  # a valid start, then 200 MB of spaces
        block = b" " * (1024 * 1024)
        for _ in range(size // len(block)):
            handle.write(block)
        handle.write(b"\r\nB\t2\r\n")
    assert path.stat().st_size > size
    script = tmp_path / "stream.py"
    script.write_text(HUGE_LINE_SCRIPT)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(script), str(path)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["lines"] == 3
    assert result["valid"] == [[1, "A", 1000], [3, "B", 2000]]
    [(line, reason, raw)] = result["rejected"]
    assert (line, reason) == (2, Reason.LINE_TOO_LONG)
    assert raw == ("8880000000116\t-1" + " " * REJECT_RAW_LIMIT)[:REJECT_RAW_LIMIT] + "…"
    assert result["biggest_chunk"] <= 8 * 1024 * 1024 + 64 * 1024 + 1
    # The interpreter with numpy and pyarrow is ~70 MB; reading the line whole would need
    # 400 MB and more (the line, then the joined block).
    assert result["peak_rss"] < 200 * 1024 * 1024, result["peak_rss"]
