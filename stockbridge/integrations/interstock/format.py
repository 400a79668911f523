"""The InterStock text format: ``reference<TAB>quantity``, one movement or article per line.

Parsing is vectorised over an Arrow array of lines; every line ends up in exactly one of
three places: ignored (blank), valid, or rejected with a reason. The outcome for each odd
input is decided here and listed in README ("What the parser accepts").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stockbridge.formats.text import LONG_LINE_BYTES
from stockbridge.schema import MILLI, QUANTITY_SCALE, REJECT_RAW_LIMIT

REFERENCE_MAX_LENGTH = 64
INTEGER_DIGITS_MAX = 12
LINE_MAX_LENGTH = 4096
"""Characters in one line, carriage returns included; a longer line is rejected whole.

Only the first ``LINE_MAX_LENGTH + 1`` characters of a line are ever examined, so one huge
line costs no more than a short one, and :func:`~stockbridge.formats.text.iter_chunks` may
drop the rest of it without changing its outcome.
"""
assert 4 * (LINE_MAX_LENGTH + 1) + 3 <= LONG_LINE_BYTES

_SPACES = " \u00a0\ufeff"
"""Trimmed around lines and fields: spaces, no-break spaces and stray byte-order marks."""

_NUMBER = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$"
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
"""C0 controls but tab and CR, DEL, and C1 controls (U+0080-U+009F: mojibake, not text).

A CR inside a line has its own reason (:attr:`Reason.LONE_CR`), checked after this one so
that a UTF-16 file read without its mark (NUL after every character) says so.
"""


_PLAIN_LINE = (
    rf'^[^\x00-\x20"\x7f-\x{{a0}}\x{{feff}}\p{{Z}}]{{1,{REFERENCE_MAX_LENGTH}}}'
    rf"\t[+-]?[0-9]{{1,{INTEGER_DIGITS_MAX}}}\r?$"
)
"""A line that no rule trims, unquotes or rejects: ``8880000000116<TAB>-1``, maybe a CR.

The reference holds no space of any kind, quote, tab, control (C0, DEL, C1), no-break space
or byte-order mark; RE2 counts its length in characters, as the rules do. The quantity is a
whole number within :data:`INTEGER_DIGITS_MAX` digits.
"""


class Reason:
    """Reasons shown to users in error files, the ledger and run summaries."""

    LONE_CR = (
        "carriage return (CR) inside the line: old Mac line ends are not read;"
        " save the file with CR LF or LF line ends"
    )
    LINE_TOO_LONG = f"line longer than {LINE_MAX_LENGTH} characters: is this a movement file?"
    CONTROL = "contains control characters (NUL or similar): is the file binary or UTF-16?"
    MISSING_REFERENCE = "missing reference before the tab"
    MISSING_QUANTITY = "missing quantity: expected reference<TAB>quantity"
    SEMICOLON = (
        "missing quantity: expected reference<TAB>quantity, and this line uses ';' instead:"
        " InterStock separates with a tab (was the file saved as CSV?)"
    )
    EXTRA_FIELDS = "extra fields: expected exactly reference<TAB>quantity"
    NOT_A_NUMBER = "quantity is not a number (write it like -1, 2 or 0.5)"
    SCIENTIFIC = "quantity in scientific notation is not accepted (write 1000, not 1E3)"
    TOO_MANY_DECIMALS = f"quantity has more than {QUANTITY_SCALE} decimals"
    TOO_LARGE = f"quantity has more than {INTEGER_DIGITS_MAX} digits before the decimal mark"
    REFERENCE_TOO_LONG = f"reference longer than {REFERENCE_MAX_LENGTH} characters"
    UNKNOWN_REFERENCE = "unknown reference: it is not in the till's article file"
    DUPLICATE_ARTICLE = "reference listed again in the article file; the first line counts"


@dataclass(frozen=True)
class ParsedLines:
    """The result of parsing one array of lines.

    ``valid`` and ``rejected`` hold positions into the input array, so callers can attach
    document names and line numbers without re-deriving them.
    """

    valid: np.ndarray
    references: pa.Array
    quantities: np.ndarray
    """Signed quantities in thousandths (``int64``), aligned with ``references``."""
    rejected: np.ndarray
    reasons: pa.Array
    raw: pa.Array

    @property
    def valid_count(self) -> int:
        return int(self.valid.size)


def parse_lines(lines: pa.Array) -> ParsedLines:
    """Split, validate and convert ``reference<TAB>quantity`` lines.

    Nearly every line a till writes is plain (see :data:`_PLAIN_LINE`): one regular
    expression finds those and a few kernels convert them, several times faster than the
    full rules. Only the other lines go through the full rules (:func:`_parse_slowly`), which
    decide every outcome; a plain line would come out of them unchanged, so the result is
    the same as theirs for every input.
    """
    plain = pc.fill_null(pc.match_substring_regex(lines, _PLAIN_LINE), False)
    plain = plain.to_numpy(zero_copy_only=False)
    plain_at = np.flatnonzero(plain)
    if plain_at.size == 0:
        return _parse_slowly(lines)
    if plain_at.size == len(lines):
        references, quantities = _parse_plain(lines)
        return ParsedLines(
            valid=plain_at,
            references=references,
            quantities=quantities,
            rejected=np.flatnonzero(~plain),
            reasons=pa.array([], pa.string()),
            raw=pa.array([], pa.string()),
        )

    other_at = np.flatnonzero(~plain)
    slow = _parse_slowly(lines.filter(pa.array(~plain)))
    references, quantities = _parse_plain(lines.filter(pa.array(plain)))
    # Both parts are in line order, so a stable sort of their positions merges them.
    positions = np.concatenate([plain_at, other_at[slow.valid]])
    order = np.argsort(positions, kind="stable")
    return ParsedLines(
        valid=positions[order],
        references=pc.take(pa.concat_arrays([references, slow.references]), order),
        quantities=np.concatenate([quantities, slow.quantities])[order],
        rejected=other_at[slow.rejected],
        reasons=slow.reasons,
        raw=slow.raw,
    )


def _parse_plain(lines: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """References and thousandths of lines that all match :data:`_PLAIN_LINE`."""
    fields = pc.list_flatten(pc.split_pattern(lines, "\t", max_splits=1))
    every_other = np.arange(0, len(fields), 2)
    references = pc.take(fields, every_other).cast(pa.string())
    # Arrow reads "-5" as an integer but not "+5".
    quantity_text = pc.ascii_trim(pc.take(fields, every_other + 1), characters="+\r")
    return references, pc.cast(quantity_text, pa.int64()).to_numpy() * MILLI


def _parse_slowly(lines: pa.Array) -> ParsedLines:
    """Every rule, for any line: the outcomes :func:`parse_lines` must reproduce."""
    lines = lines.cast(pa.large_string()) if lines.type != pa.large_string() else lines
    # Byte lengths come from the offsets alone; characters are counted only when needed.
    too_long = pc.greater(pc.binary_length(lines), LINE_MAX_LENGTH)
    if pc.any(too_long).as_py():
        too_long = pc.greater(pc.utf8_length(lines), LINE_MAX_LENGTH)
        lines = pc.if_else(too_long, pc.utf8_slice_codeunits(lines, 0, LINE_MAX_LENGTH + 1), lines)
    body = pc.utf8_rtrim(lines, characters="\r")
    stripped = pc.utf8_trim(body, characters=_SPACES + "\t")
    blank = pc.and_(pc.equal(pc.utf8_length(stripped), 0), pc.invert(too_long))

    trimmed = pc.utf8_trim(body, characters=_SPACES)
    trimmed = pc.utf8_rtrim(trimmed, characters="\t" + _SPACES)
    tabs = pc.count_substring(trimmed, "\t")
    fields = pc.extract_regex(trimmed, r"(?s)^(?P<reference>[^\t]*)\t?(?P<quantity>[^\t]*)")
    reference = _clean_field(pc.struct_field(fields, "reference"))
    quantity_text = _clean_field(pc.struct_field(fields, "quantity"))
    number = pc.replace_substring(quantity_text, ",", ".")
    is_number = pc.match_substring_regex(number, _NUMBER)
    parts = pc.extract_regex(
        pc.if_else(is_number, number, ""), r"^[+-]?(?P<integer>[0-9]*)\.?(?P<fraction>[0-9]*)$"
    )
    integer_text = pc.struct_field(parts, "integer")
    fraction_text = pc.struct_field(parts, "fraction")

    conditions = [
        (pc.match_substring_regex(body, _CONTROL), Reason.CONTROL),
        (pc.match_substring(body, "\r"), Reason.LONE_CR),
        (too_long, Reason.LINE_TOO_LONG),
        (pc.equal(pc.utf8_length(reference), 0), Reason.MISSING_REFERENCE),
        (pc.and_(pc.equal(tabs, 0), pc.match_substring(trimmed, ";")), Reason.SEMICOLON),
        (pc.equal(tabs, 0), Reason.MISSING_QUANTITY),
        (pc.greater(tabs, 1), Reason.EXTRA_FIELDS),
        (pc.equal(pc.utf8_length(quantity_text), 0), Reason.MISSING_QUANTITY),
        (pc.match_substring_regex(number, r"^[+-]?[0-9.]+[eE][+-]?[0-9]+$"), Reason.SCIENTIFIC),
        (pc.invert(is_number), Reason.NOT_A_NUMBER),
        (pc.greater(pc.utf8_length(fraction_text), QUANTITY_SCALE), Reason.TOO_MANY_DECIMALS),
        (pc.greater(pc.utf8_length(integer_text), INTEGER_DIGITS_MAX), Reason.TOO_LARGE),
        (pc.greater(pc.utf8_length(reference), REFERENCE_MAX_LENGTH), Reason.REFERENCE_TOO_LONG),
    ]
    reasons = _first_reason(conditions, len(lines))
    ignored = blank.to_numpy(zero_copy_only=False)
    has_reason = pc.is_valid(reasons).to_numpy(zero_copy_only=False)
    rejected = np.flatnonzero(has_reason & ~ignored)
    valid = np.flatnonzero(~has_reason & ~ignored)

    take = pa.array(valid, pa.int64())
    quantities = _to_milli(
        pc.take(number, take), pc.take(integer_text, take), pc.take(fraction_text, take)
    )
    reject_take = pa.array(rejected, pa.int64())
    return ParsedLines(
        valid=valid,
        references=pc.take(reference, take).cast(pa.string()),
        quantities=quantities,
        rejected=rejected,
        reasons=pc.take(reasons, reject_take),
        raw=truncate_raw(pc.take(body, reject_take)),
    )


def truncate_raw(raw: pa.Array) -> pa.Array:
    """Raw text for error files: long lines are cut so one bad line cannot fill a disk.

    NUL becomes ``␀`` (U+2400): PostgreSQL text cannot hold it, and a UTF-16 file without
    its byte-order mark is full of them.
    """
    raw = pc.replace_substring(raw.cast(pa.large_string()), "\x00", "\u2400")
    long = pc.greater(pc.utf8_length(raw), REJECT_RAW_LIMIT)
    ellipsis = pa.scalar("…", pa.large_string())
    cut = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(raw, 0, REJECT_RAW_LIMIT),
        ellipsis,
        pa.scalar("", pa.large_string()),
    )
    return pc.if_else(long, cut, raw).cast(pa.string())


def _clean_field(field: pa.Array) -> pa.Array:
    """Trim spaces and one pair of spreadsheet quotes (``"8880000000116"``)."""
    field = pc.utf8_trim(field, characters=_SPACES)
    field = pc.replace_substring_regex(field, r'^"(.*)"$', r"\1")
    return pc.utf8_trim(field, characters=_SPACES)


def _to_milli(number: pa.Array, integer: pa.Array, fraction: pa.Array) -> np.ndarray:
    """Exact integer thousandths from validated text: no float on the way."""
    if len(number) == 0:
        return np.zeros(0, dtype=np.int64)
    whole = pc.cast(pc.if_else(pc.equal(integer, ""), "0", integer), pa.int64())
    padded = pc.utf8_rpad(fraction, QUANTITY_SCALE, "0")
    padded = pc.if_else(pc.equal(padded, ""), "0", padded)
    part = pc.cast(padded, pa.int64())
    magnitude = whole.to_numpy() * MILLI + part.to_numpy()
    negative = pc.starts_with(number, "-").to_numpy(zero_copy_only=False)
    return np.where(negative, -magnitude, magnitude)


def _first_reason(conditions: list[tuple[pa.Array, str]], size: int) -> pa.Array:
    """The first matching reason per line (nulls count as no match); null where none."""
    result = pa.nulls(size, pa.string())
    for condition, reason in reversed(conditions):
        result = pc.if_else(pc.fill_null(condition, False), reason, result)
    return result
