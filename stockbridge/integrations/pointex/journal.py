"""Pointex's nightly sales journal: one delimited text file per night, one row per sold line.

No public description of the journal exists, so the default layout is stockbridge's own (see
``docs/pointex-journal.md``) and every part of it can be mapped in the store file: another
till's journal fits by naming its columns and formats, without code.

Every physical line ends up in exactly one place: the header, blank (ignored), a drink line,
a line of another family (counted, never returned), or a reject with its line number, raw
text and a reason a person can act on. A file that cannot be read at all (no header, a
required column missing, not text) raises :class:`JournalError` with one sentence.

Lines are checked by one regular expression per file, cut and converted by Arrow kernels
(through pandas' ``.str`` methods on ``pd.ArrowDtype`` columns), so a million lines take a
few seconds; only the values that repeat (dates, families) are read once each in Python, and
only rejected lines with quotes are diagnosed there.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import field_validator, model_validator

from stockbridge.config.models import Strict
from stockbridge.errors import StockbridgeError
from stockbridge.formats.text import UndecodableFile, decode, split_lines
from stockbridge.schema import MILLI, QUANTITY_SCALE, REJECT_RAW_LIMIT

REFERENCE_MAX_LENGTH = 64
"""Characters in a till reference; a longer code is rejected (a till never writes one)."""
INTEGER_DIGITS_MAX = 12
"""Digits before the decimal mark of a quantity or an amount (int64 thousandths fit)."""
LINE_MAX_LENGTH = 4096
"""Characters in one line; a longer line is rejected whole before any field is read."""

SPACES = " \t\u00a0\ufeff"
"""Trimmed around fields: spaces, tabs, no-break spaces and stray byte-order marks."""

_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
_EXAMPLE_DAY = datetime(2026, 11, 27, 21, 5, 30)
"""Formatted with a layout's ``date_format`` to show the expected form in reasons."""


def normalise_name(name: str) -> str:
    """A header name or a family as compared: no accents, case folded, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().replace("\ufeff", " ").split())


class JournalColumns(Strict):
    """The journal's header names, matched ignoring case, accents and surrounding spaces.

    ``date``, ``time``, ``code``, ``label`` and ``quantity`` must be in the file. ``ticket``,
    ``family`` and ``amount`` may be absent (their values are then empty); ``None`` says the
    till never writes them. ``time: null`` says the date column carries the time too, read by
    the layout's ``date_format`` (for example ``%Y-%m-%d %H:%M:%S``).
    """

    date: str = "Date"
    time: str | None = "Heure"
    ticket: str | None = "Ticket"
    code: str = "Code"
    label: str = "Libellé"
    family: str | None = "Famille"
    quantity: str = "Quantité"
    amount: str | None = "Montant TTC"

    @model_validator(mode="after")
    def _distinct(self) -> JournalColumns:
        seen: dict[str, str] = {}
        for key, name in self.model_dump().items():
            if name is None:
                continue
            if not normalise_name(name):
                raise ValueError(f"column name for '{key}' is empty")
            other = seen.setdefault(normalise_name(name), key)
            if other != key:
                raise ValueError(f"'{other}' and '{key}' both name the column '{name}'")
        return self


REQUIRED = ("date", "time", "code", "label", "quantity")
OPTIONAL = ("ticket", "family", "amount")


class JournalLayout(Strict):
    """How a till writes its journal; the store file's ``journal:`` key."""

    delimiter: str = ";"
    decimal: Literal[",", "."] = ","
    date_format: str = "%d/%m/%Y"
    encoding: Literal["auto", "utf-8", "cp1252"] = "auto"
    currency: str = "EUR"
    columns: JournalColumns = JournalColumns()

    @field_validator("delimiter", mode="before")
    @classmethod
    def _tab_spelled_out(cls, value: object) -> object:
        """``'\\t'`` in single quotes is two characters in YAML; ``tab`` is clearer still."""
        return "\t" if isinstance(value, str) and value.lower() in ("\\t", "tab") else value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1 or value in '"\r\n ' or value.isalnum():
            raise ValueError(
                f"delimiter {value!r} must be one character that is not a letter, a digit, a"
                ' space or a quote, like ";", "," or "\\t"'
            )
        return value

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(f"currency '{value}' is not an ISO 4217 code like EUR or CHF")
        return value

    @field_validator("date_format")
    @classmethod
    def _round_trips(cls, value: str) -> str:
        try:
            written = _EXAMPLE_DAY.strftime(value)
            read = datetime.strptime(written, value)
        except ValueError:
            read = None
        if read is None or read.date() != _EXAMPLE_DAY.date():
            raise ValueError(
                f"date_format '{value}' does not read back a date; write it like %d/%m/%Y"
                " (day, month, four-digit year)"
            )
        return value


class JournalError(StockbridgeError):
    """The whole journal is refused: it cannot be read as a journal of this layout."""


@dataclass(frozen=True)
class Journal:
    lines: pd.DataFrame
    """One row per drink line, in file order, columns (``pd.ArrowDtype``): ``line`` int64
    (physical line number, header = 1), ``occurred_at`` timestamp[us, tz=UTC], ``ticket``
    string (nullable), ``till_reference`` string, ``label`` string, ``family`` string
    (nullable), ``quantity`` int64 (thousandths, signed: -1 unit = -1000), ``amount`` int64
    (thousandths, nullable)."""
    rejects: pd.DataFrame
    """``line`` int64, ``raw`` string (the line without its line end), ``reason`` string."""
    not_drinks: int
    """Lines skipped because their family is not one of the store's drink families."""
    encoding: str
    """``utf-8`` or ``cp1252`` as detected (``utf-16`` for a Notepad "Unicode" file)."""


LINES_SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64(), nullable=False),
        pa.field("occurred_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("ticket", pa.string()),
        pa.field("till_reference", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("family", pa.string()),
        pa.field("quantity", pa.int64(), nullable=False),
        pa.field("amount", pa.int64()),
    ]
)
REJECTS_SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)


class Reason:
    """Reasons shown to users; those naming a column or a form are built per layout."""

    CONTROL = "contains control characters (NUL or similar): is the file binary or UTF-16?"
    LONE_CR = (
        "carriage return (CR) inside the line: old Mac line ends are not read;"
        " save the file with CR LF or LF line ends"
    )
    LINE_TOO_LONG = f"line longer than {LINE_MAX_LENGTH} characters: is this a journal?"
    UNCLOSED_QUOTE = 'a quote (") opens a field and nothing closes it on this line'
    STRAY_QUOTE = (
        'a quote (") in the middle of a field: quote the whole field and double the quotes'
        ' inside it ("like ""this""")'
    )
    EMPTY_CODE = "empty till reference"
    CODE_TOO_LONG = f"till reference longer than {REFERENCE_MAX_LENGTH} characters"
    EMPTY_DATE = "empty date"
    EMPTY_TIME = "empty time"
    BAD_TIME = "time is not like 21:05 or 21:05:30 (hh:mm or hh:mm:ss)"
    EMPTY_QUANTITY = "empty quantity"
    SCIENTIFIC = "in scientific notation (write 1000, not 1E3)"
    TOO_MANY_DECIMALS = f"has more than {QUANTITY_SCALE} decimals"
    TOO_LARGE = f"has more than {INTEGER_DIGITS_MAX} digits before the decimal mark"


# -- decoding and header -----------------------------------------------------------------------


def decode_text(data: bytes, encoding: str) -> tuple[bytes, str]:
    """The file as UTF-8 and the encoding it was in; raises :class:`UndecodableFile`.

    ``auto`` is the rule every stockbridge reader follows (UTF-8 with or without its mark,
    UTF-16 with its mark, else Windows-1252); a named encoding is used as it is, so a
    cp1252 file whose bytes happen to be valid UTF-8 reads as the till meant.
    """
    if encoding == "auto":
        decoded = decode(data)
        return decoded.utf8, "utf-8" if decoded.encoding == "utf-8-sig" else decoded.encoding
    if encoding == "utf-8":
        body = data.removeprefix(codecs.BOM_UTF8)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UndecodableFile(
                f"is not UTF-8 text (byte 0x{body[exc.start]:02x} at offset {exc.start})"
            ) from None
        return body, "utf-8"
    try:
        return data.decode(encoding).encode("utf-8"), encoding
    except UnicodeDecodeError as exc:
        raise UndecodableFile(
            f"is not {encoding} text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def physical_lines(utf8: bytes) -> pa.Array:
    """Every physical line without its line end (all CRs before the LF are dropped)."""
    lines = split_lines(utf8)
    return pc.utf8_rtrim(lines.cast(pa.string()), characters="\r")


def blank_lines(lines: pa.Array, delimiter: str) -> np.ndarray:
    """Lines with nothing but spaces and delimiters (Excel's empty rows): ignored."""
    stripped = pc.utf8_trim(lines, characters=SPACES + delimiter)
    return pc.equal(pc.utf8_length(stripped), 0).to_numpy(zero_copy_only=False)


def header_fields(text: str, delimiter: str) -> list[str]:
    """The header's names as written (quotes removed, spaces trimmed)."""
    row = next(csv.reader([text], delimiter=delimiter, quotechar='"'), [])
    names = [field.strip(SPACES) for field in row]
    # A line ending with the delimiter has one empty field more: not a column.
    if len(names) > 1 and not names[-1]:
        names.pop()
    return names


def header_problem(text: str) -> str | None:
    """Why a first line cannot be a header of column names, said after "The file's"."""
    if re.search(_CONTROL, text):
        return (
            "first line holds control characters (NUL or similar): the file is binary or"
            " UTF-16 without its mark; save it as UTF-8 or Windows text"
        )
    if "\r" in text:
        return (
            "lines end with a carriage return (CR) alone (old Mac line ends); save it with"
            " CR LF or LF line ends"
        )
    if len(text) > LINE_MAX_LENGTH:
        return (
            f"first line is longer than {LINE_MAX_LENGTH} characters, so it is not a header of"
            " column names"
        )
    return None


def shown(delimiter: str) -> str:
    """A delimiter as people write it in the store file."""
    return "\\t" if delimiter == "\t" else delimiter


# -- splitting lines into fields ----------------------------------------------------------------


@dataclass(frozen=True)
class Fields:
    """Lines cut into fields: ``ok`` lines have every field, the others a reason."""

    ok: np.ndarray
    values: dict[int, pa.Array]
    """Column index -> trimmed, unquoted text for the ``ok`` lines, in line order."""
    reasons: pa.Array
    """One reason per line that is not ``ok`` (and not blank), in line order."""


def split_fields(
    lines: pa.Array, delimiter: str, width: int, wanted: Collection[int], skip: np.ndarray
) -> Fields:
    """Cut ``lines`` into ``width`` fields, keeping the ``wanted`` columns.

    One RE2 expression tells a line with exactly ``width`` fields (and maybe one delimiter
    after the last), each field either plain or quoted whole (``"a;b"``, with ``""`` for a
    quote inside); a line it does not match has the wrong number of fields or a misplaced
    quote, told apart by :func:`_field_count_reasons`. Lines without quotes, nearly all of
    them, are then cut by a plain split, the others by the same expression with groups.
    Multi-line quoted fields are not read: a line is a row, so line numbers stay physical.
    ``skip`` lines (blank) get neither fields nor a reason.
    """
    d = f"\\x{{{ord(delimiter):x}}}"
    space = "[ ]" if delimiter == "\t" else "[ \\t]"
    first = f'[^{d}" ]' if delimiter == "\t" else f'[^{d}" \\t]'
    field = f'{space}*"(?:[^"]|"")*"{space}*|{space}*(?:{first}[^{d}]*)?'
    end = f"(?:{d}{space}*)?$"
    pattern = "^" + d.join([f"(?:{field})"] * width) + end

    too_long = pc.greater(pc.utf8_length(lines), LINE_MAX_LENGTH)
    candidate = pc.if_else(too_long, "", lines) if pc.any(too_long).as_py() else lines
    structural = [
        (pc.match_substring_regex(lines, _CONTROL), Reason.CONTROL),
        (pc.match_substring(lines, "\r"), Reason.LONE_CR),
        (too_long, Reason.LINE_TOO_LONG),
    ]
    reasons = _first_reason(structural, len(lines))
    matched = pc.match_substring_regex(candidate, pattern).to_numpy(zero_copy_only=False)
    has_reason = pc.is_valid(reasons).to_numpy(zero_copy_only=False)
    ok = matched & ~has_reason & ~skip

    unmatched = np.flatnonzero(~ok & ~has_reason & ~skip)
    if unmatched.size:
        counted = _field_count_reasons(pc.take(lines, unmatched), delimiter, width)
        mask = np.zeros(len(lines), dtype=bool)
        mask[unmatched] = True
        reasons = pc.replace_with_mask(reasons, pa.array(mask), counted)
    rejected = np.flatnonzero(~ok & ~skip)

    kept = lines if ok.all() else pc.take(lines, pa.array(np.flatnonzero(ok), pa.int64()))
    quoted = pc.match_substring(kept, '"').to_numpy(zero_copy_only=False)
    values: dict[int, pa.Array] = {}
    if not quoted.any():
        cut = pc.split_pattern(kept, delimiter)
        for index in wanted:
            values[index] = pc.utf8_trim(pc.list_element(cut, index), characters=SPACES)
    else:
        plain = pc.split_pattern(pc.filter(kept, pa.array(~quoted)), delimiter)
        groups = [f"(?P<f{i}>{field})" if i in wanted else f"(?:{field})" for i in range(width)]
        extracted = pc.extract_regex(pc.filter(kept, pa.array(quoted)), "^" + d.join(groups) + end)
        order = pa.array(
            np.argsort(
                np.concatenate([np.flatnonzero(~quoted), np.flatnonzero(quoted)]), kind="stable"
            )
        )
        for index in wanted:
            both = pa.concat_arrays(
                [
                    pc.list_element(plain, index).cast(pa.string()),
                    _unquote(pc.struct_field(extracted, f"f{index}")).cast(pa.string()),
                ]
            )
            values[index] = pc.utf8_trim(pc.take(both, order), characters=SPACES)
    return Fields(ok=ok, values=values, reasons=pc.take(reasons, pa.array(rejected, pa.int64())))


def _unquote(field: pa.Array) -> pa.Array:
    """A field quoted whole loses its quotes (``""`` inside is one quote)."""
    quoted = pc.match_substring_regex(field, r'^[ \t]*"')
    inner = pc.replace_substring_regex(field, r'^[ \t]*"(.*)"[ \t]*$', r"\1")
    inner = pc.replace_substring(inner, '""', '"')
    return pc.if_else(quoted, inner, field)


def _field_count_reasons(lines: pa.Array, delimiter: str, width: int) -> pa.Array:
    """Why lines did not match the field pattern: a misplaced quote or a field count.

    Lines without quotes are counted by a kernel; the few with quotes go through Python's
    csv module, which says where a quote is wrong.
    """
    count = np.array(pc.add(pc.count_substring(lines, delimiter), 1), dtype=np.int64)
    quoted = pc.match_substring(lines, '"').to_numpy(zero_copy_only=False)
    reasons: list[str | None] = [None] * len(lines)
    for position in np.flatnonzero(quoted):
        text = lines[int(position)].as_py()
        try:
            row = next(csv.reader([text], delimiter=delimiter, strict=True))
        except csv.Error as exc:
            reasons[position] = (
                Reason.UNCLOSED_QUOTE if "end of data" in str(exc) else Reason.STRAY_QUOTE
            )
            continue
        if len(row) > 1 and not row[-1].strip(SPACES):
            row.pop()
        count[position] = len(row)
        if len(row) == width:
            reasons[position] = Reason.STRAY_QUOTE
    for position in np.flatnonzero(np.array([r is None for r in reasons], dtype=bool)):
        reasons[position] = _count_reason(
            lines[int(position)].as_py(), int(count[position]), delimiter, width
        )
    return pa.array(reasons, pa.string())


def _count_reason(text: str, count: int, delimiter: str, width: int) -> str:
    fields = "1 field" if count == 1 else f"{count} fields"
    reason = f"{fields} separated by '{shown(delimiter)}' where the header has {width}"
    for other in (";", ",", "\t", "|"):
        if other != delimiter and text.count(other) + 1 == width:
            return f"{reason}: is this line separated by '{shown(other)}'?"
    return reason


def _first_reason(conditions: Sequence[tuple[pa.Array, str | pa.Array]], size: int) -> pa.Array:
    """The first matching reason per line (nulls count as no match); null where none."""
    result = pa.nulls(size, pa.string())
    for condition, reason in reversed(conditions):
        result = pc.if_else(pc.fill_null(condition, False), reason, result)
    return result


def raw_text(raw: pa.Array) -> pa.Array:
    """Raw text for error files: cut at :data:`REJECT_RAW_LIMIT`, NUL shown as ``␀``."""
    raw = pc.replace_substring(raw.cast(pa.string()), "\x00", "\u2400")
    long = pc.greater(pc.utf8_length(raw), REJECT_RAW_LIMIT)
    cut = pc.binary_join_element_wise(pc.utf8_slice_codeunits(raw, 0, REJECT_RAW_LIMIT), "…", "")
    return pc.if_else(long, cut, raw)


# -- values -------------------------------------------------------------------------------------


def parse_decimal(text: pd.Series, decimal: str, what: str) -> tuple[np.ndarray, pd.Series]:
    """Exact signed thousandths of decimal text, and a reason where the text is not one.

    Only the layout's decimal mark is a decimal mark: with ``,`` the text ``1.000`` is refused
    rather than guessed (a thousands separator or a decimal?). Empty text gets no reason and
    0; the caller decides whether empty is allowed.
    """
    mark = re.escape(decimal)
    other = "." if decimal == "," else ","
    parts = text.str.extract(rf"^(?P<sign>[+-]?)(?P<whole>[0-9]*)(?:{mark}(?P<fraction>[0-9]*))?$")
    whole, fraction = parts["whole"].fillna(""), parts["fraction"].fillna("")
    number = parts["sign"].notna() & (whole.str.len() + fraction.str.len() > 0)
    empty = text.str.len() == 0
    example = f"-1, 2 or 0{decimal}5"
    rules = [
        (empty, None),
        (text.str.fullmatch(r"[+-]?[0-9.,]+[eE][+-]?[0-9]+"), f"{what} {Reason.SCIENTIFIC}"),
        (
            ~number & text.str.fullmatch(rf"[+-]?[0-9]*{re.escape(other)}[0-9]+"),
            f"{what} is written with '{other}' but this journal's decimal mark is '{decimal}'"
            f" (write it like {example})",
        ),
        (~number, f"{what} is not a number (write it like {example})"),
        (fraction.str.len() > QUANTITY_SCALE, f"{what} {Reason.TOO_MANY_DECIMALS}"),
        (whole.str.len() > INTEGER_DIGITS_MAX, f"{what} {Reason.TOO_LARGE}"),
    ]
    reason = first_rule(rules, text.index)
    good = (reason.isna() & ~empty).to_numpy(dtype=bool, na_value=False)
    milli = np.zeros(len(text), dtype=np.int64)
    if good.any():
        units = whole[good].str.pad(1, fillchar="0").astype(pd.ArrowDtype(pa.int64()))
        thousandths = (
            fraction[good]
            .str.pad(QUANTITY_SCALE, side="right", fillchar="0")
            .astype(pd.ArrowDtype(pa.int64()))
        )
        magnitude = units.to_numpy(np.int64) * MILLI + thousandths.to_numpy(np.int64)
        negative = (parts["sign"][good] == "-").to_numpy(dtype=bool)
        milli[good] = np.where(negative, -magnitude, magnitude)
    return milli, reason


def first_rule(
    rules: Sequence[tuple[pd.Series, str | pd.Series | None]], index: pd.Index
) -> pd.Series:
    """The first rule that holds per row (missing values hold no rule); NA where none.

    A rule with reason ``None`` ends the search for its rows without a reason (an empty
    optional value).
    """
    taken = np.zeros(len(index), dtype=bool)
    reason = pd.Series(pd.NA, index=index, dtype=pd.ArrowDtype(pa.string()))
    for condition, why in rules:
        holds = condition.to_numpy(dtype=bool, na_value=False) & ~taken
        if why is not None:
            reason = reason.mask(holds, why)
        taken |= holds
    return reason


def parse_dates(text: pd.Series, date_format: str) -> tuple[np.ndarray, np.ndarray]:
    """Local times (``datetime64[us]``) of dates in ``date_format``, and where they failed.

    Python's ``strptime`` reads them (strict: no 31 February) once per distinct value: a
    night's journal holds one or two dates, so a million lines cost one dictionary encoding.
    """
    encoded = pc.dictionary_encode(pa.array(text.array))
    parsed: list[np.datetime64] = []
    for value in encoded.dictionary.to_pylist():
        try:
            parsed.append(np.datetime64(datetime.strptime(value, date_format), "us"))
        except ValueError:
            parsed.append(np.datetime64("NaT", "us"))
    lookup = np.array(parsed, dtype="datetime64[us]")
    local = lookup[encoded.indices.to_numpy(zero_copy_only=False)]
    return local, np.isnat(local)


def parse_times(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds since midnight of ``hh:mm`` or ``hh:mm:ss``, and where they failed."""
    parts = text.str.extract(r"^(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})(?::(?P<s>[0-9]{2}))?$")
    as_int = {
        key: parts[key]
        .fillna("")
        .str.pad(1, fillchar="0")
        .astype(pd.ArrowDtype(pa.int64()))
        .to_numpy(np.int64)
        for key in ("h", "m", "s")
    }
    bad = parts["h"].isna().to_numpy(dtype=bool) | (as_int["h"] > 23) | (as_int["m"] > 59)
    bad |= as_int["s"] > 59
    seconds = as_int["h"] * 3600 + as_int["m"] * 60 + as_int["s"]
    return np.where(bad, 0, seconds) * 1_000_000, bad


def to_utc(local: np.ndarray, timezone: str) -> np.ndarray:
    """Local wall-clock times of ``timezone`` as UTC ``datetime64[us]``.

    An hour that happens twice (autumn, clocks go back) is taken as its first occurrence,
    summer time: the till's sales run forward from the evening. An hour that never happens
    (spring, clocks go forward) is read with the offset in force just before the change, so
    02:30 becomes 03:30 summer time: only a till whose clock had not moved yet can write it,
    and for that till it was an hour after 01:30. This is Python's rule for ``fold=0``.
    """
    zone = ZoneInfo(timezone)
    if local.size == 0:
        return local.astype("datetime64[us]")
    index = pd.DatetimeIndex(local.astype("datetime64[us]"))
    aware = index.tz_localize(zone, ambiguous=np.ones(local.size, dtype=bool), nonexistent="NaT")
    utc = aware.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[us]")
    gap = np.flatnonzero(np.isnat(utc))
    if gap.size:
        for value in np.unique(local[gap]):
            wall = value.astype(datetime).replace(tzinfo=zone)
            moved = wall.astimezone(UTC).replace(tzinfo=None)
            utc[gap[local[gap] == value]] = np.datetime64(moved, "us")
    return utc


# -- the journal --------------------------------------------------------------------------------


def parse_journal(
    data: bytes,
    layout: JournalLayout,
    timezone: str,
    families: Collection[str] | None = None,
) -> Journal:
    """Read one journal file: drink lines in UTC and thousandths, rejects with reasons.

    ``families`` are the till's families of drinks; lines of other families are counted in
    :attr:`Journal.not_drinks` and dropped, so a kitchen's dishes never reach the queue of
    references to link. They are told apart before their values are checked: a dish with a
    bad quantity is not a drink, not a reject. ``None`` takes every line.
    """
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise JournalError(
            f"Unknown time zone '{timezone}' for the journal; use a name like Europe/Paris."
        ) from None
    try:
        utf8, encoding = decode_text(data, layout.encoding)
        lines = physical_lines(utf8)
    except UndecodableFile as exc:
        raise JournalError(f"The journal {exc}.") from None

    blank = blank_lines(lines, layout.delimiter)
    header_at, columns, width = _read_header(lines, blank, layout, families is not None)
    body = lines.slice(header_at + 1)
    numbers = np.arange(header_at + 2, header_at + 2 + len(body), dtype=np.int64)
    blank = blank[header_at + 1 :]
    wanted = {index: key for key, index in columns.items() if index is not None}
    fields = split_fields(body, layout.delimiter, width, wanted, blank)

    text = pd.DataFrame(
        {
            key: pd.Series(fields.values[index], dtype=pd.ArrowDtype(pa.string()))
            for index, key in wanted.items()
        }
    )
    for key in OPTIONAL:
        if key not in text:
            text[key] = pd.Series(pd.NA, index=text.index, dtype=pd.ArrowDtype(pa.string()))
    text["line"] = pd.Series(numbers[fields.ok], dtype=pd.ArrowDtype(pa.int64()))

    not_drinks = 0
    if families is not None:
        drink = _in_families(text["family"], families)
        not_drinks = int((~drink).sum())
        text = text[drink].reset_index(drop=True)

    lines_frame, value_rejects = _convert(text, layout, timezone)
    structural = pd.DataFrame(
        {
            "line": pd.Series(numbers[~fields.ok & ~blank], dtype=pd.ArrowDtype(pa.int64())),
            "raw": pd.Series(
                raw_text(pc.take(body, pa.array(np.flatnonzero(~fields.ok & ~blank)))),
                dtype=pd.ArrowDtype(pa.string()),
            ),
            "reason": pd.Series(fields.reasons, dtype=pd.ArrowDtype(pa.string())),
        }
    )
    value_rejects["raw"] = pd.Series(
        raw_text(pc.take(body, pa.array(value_rejects["line"].to_numpy(np.int64) - header_at - 2))),
        dtype=pd.ArrowDtype(pa.string()),
    )
    rejects = pd.concat([structural, value_rejects[["line", "raw", "reason"]]], ignore_index=True)
    rejects = rejects.sort_values("line", kind="stable").reset_index(drop=True)
    return Journal(
        lines=lines_frame,
        rejects=_typed(rejects, REJECTS_SCHEMA),
        not_drinks=not_drinks,
        encoding=encoding,
    )


def _read_header(
    lines: pa.Array, blank: np.ndarray, layout: JournalLayout, need_family: bool
) -> tuple[int, dict[str, int | None], int]:
    """Where the header is (the first line that is not blank), the index of each layout
    column in it, and its field count."""
    nonblank = np.flatnonzero(~blank)
    if nonblank.size == 0:
        raise JournalError(
            "The journal is empty: it has no header line, not even the column names"
            " (an upload cut short or a failed export?)."
        )
    header_at = int(nonblank[0])
    text = lines[header_at].as_py()
    problem = header_problem(text)
    if problem:
        raise JournalError(f"The journal's {problem}.")
    if need_family and layout.columns.family is None:
        raise JournalError(
            "The store lists drink families but its journal layout has no family column"
            " (columns: family: is null); name the till's family column or drop families."
        )
    names = header_fields(text, layout.delimiter)
    normalised = [normalise_name(name) for name in names]
    columns: dict[str, int | None] = {}
    missing: list[str] = []
    for key, name in layout.columns.model_dump().items():
        if name is None:
            columns[key] = None
            continue
        found = [i for i, value in enumerate(normalised) if value == normalise_name(name)]
        if len(found) > 1:
            raise JournalError(
                f"The journal's header names the column '{name}' {len(found)} times, so its"
                f" values are ambiguous (header found: {_quoted(text)})."
            )
        columns[key] = found[0] if found else None
        if not found and (key in REQUIRED or (key == "family" and need_family)):
            missing.append(name)
    if missing:
        listed = ", ".join(f"'{name}'" for name in missing[:-1])
        listed = f"{listed} and '{missing[-1]}'" if listed else f"'{missing[-1]}'"
        plural = "columns" if len(missing) > 1 else "column"
        raise JournalError(
            f"The journal has no {plural} {listed} (header found: {_quoted(text)})"
            + _header_hint(text, layout, missing)
            + "."
        )
    return header_at, columns, len(names)


def _header_hint(text: str, layout: JournalLayout, missing: list[str]) -> str:
    """Why the names were not found, when the header itself tells: delimiter, encoding."""
    if text.startswith("ï»¿"):
        return (
            "; the file is UTF-8 (it starts with a UTF-8 mark) but the layout says"
            f" {layout.encoding}: set encoding: auto under journal: in the store file"
        )
    if _reads_as_utf8(text):
        return (
            f"; the header looks like UTF-8 read as {layout.encoding}: set encoding: auto under"
            " journal: in the store file"
        )
    wanted = {normalise_name(name) for name in missing}
    for other in (";", ",", "\t", "|"):
        if other == layout.delimiter or other not in text:
            continue
        names = {normalise_name(name) for name in header_fields(text, other)}
        if wanted <= names or layout.delimiter not in text:
            return (
                f"; it is separated by '{shown(other)}', not '{shown(layout.delimiter)}': set"
                f" delimiter: '{shown(other)}' under journal: in the store file"
            )
    return "; map the till's own names under journal: columns: in the store file"


def _reads_as_utf8(text: str) -> bool:
    """Whether ``text`` is mojibake: UTF-8 bytes that were read as Windows-1252."""
    try:
        return text.encode("cp1252").decode("utf-8") != text
    except UnicodeError:
        return False


def _quoted(text: str) -> str:
    return repr(text if len(text) <= 200 else text[:200] + "…")


def _in_families(family: pd.Series, families: Collection[str]) -> pd.Series:
    """Whether each line's family is one of ``families``, ignoring case and accents.

    Families repeat on every line, so each distinct one is normalised once.
    """
    allowed = {normalise_name(name) for name in families}
    encoded = pc.dictionary_encode(pa.array(family.fillna("").array))
    keep = np.array(
        [normalise_name(value) in allowed for value in encoded.dictionary.to_pylist()], dtype=bool
    )
    return pd.Series(keep[encoded.indices.to_numpy(zero_copy_only=False)], index=family.index)


def _convert(
    text: pd.DataFrame, layout: JournalLayout, timezone: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed drink lines and value rejects (``line``, ``reason``) from the fields' text."""
    date_form = _EXAMPLE_DAY.strftime(layout.date_format)
    local, bad_date = parse_dates(text["date"], layout.date_format)
    if layout.columns.time is not None:
        since_midnight, bad_time = parse_times(text["time"])
        local = local + since_midnight.astype("timedelta64[us]")
    else:
        bad_time = np.zeros(len(text), dtype=bool)
    quantity, quantity_reason = parse_decimal(text["quantity"], layout.decimal, "quantity")
    amount, amount_reason = parse_decimal(text["amount"].fillna(""), layout.decimal, "amount")

    def series(values: np.ndarray) -> pd.Series:
        return pd.Series(values, index=text.index)

    code_length = text["code"].str.len()
    rules: list[tuple[pd.Series, str | pd.Series | None]] = [
        (code_length == 0, Reason.EMPTY_CODE),
        (code_length > REFERENCE_MAX_LENGTH, Reason.CODE_TOO_LONG),
        (text["date"].str.len() == 0, Reason.EMPTY_DATE),
        (series(bad_date), f"date is not like {date_form} ({layout.date_format})"),
    ]
    if layout.columns.time is not None:
        rules += [
            (text["time"].str.len() == 0, Reason.EMPTY_TIME),
            (series(bad_time), Reason.BAD_TIME),
        ]
    rules += [
        (text["quantity"].str.len() == 0, Reason.EMPTY_QUANTITY),
        (quantity_reason.notna(), quantity_reason),
        (amount_reason.notna(), amount_reason),
    ]
    reason = first_rule(rules, text.index)
    good = reason.isna().to_numpy(dtype=bool)

    kept = text[good]
    occurred = to_utc(local[good], timezone)
    lines = pa.table(
        {
            "line": pa.array(kept["line"].array),
            "occurred_at": pa.array(occurred, pa.timestamp("us")).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "ticket": _nullable(kept["ticket"]),
            "till_reference": pa.array(kept["code"].array),
            "label": pa.array(kept["label"].array),
            "family": _nullable(kept["family"]),
            "quantity": pa.array(quantity[good], pa.int64()),
            "amount": pa.array(
                amount[good], pa.int64(), mask=_empty(kept["amount"]).to_numpy(dtype=bool)
            ),
        }
    )
    rejects = pd.DataFrame({"line": text["line"][~good], "reason": reason[~good]})
    return _frame(lines, LINES_SCHEMA), rejects.reset_index(drop=True)


def _empty(values: pd.Series) -> pd.Series:
    return values.isna() | (values.str.len() == 0)


def _nullable(values: pd.Series) -> pa.Array:
    """Text with empty values as nulls (an absent ticket, family or amount)."""
    return pa.array(values.mask(_empty(values)).array, pa.string())


def _typed(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """``frame`` with exactly ``schema``'s columns and Arrow types, a fresh range index."""
    return _frame(pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False), schema)


def _frame(table: pa.Table, schema: pa.Schema) -> pd.DataFrame:
    """``table`` as a pandas frame of ``pd.ArrowDtype`` columns, exactly ``schema``'s."""
    types = pa.schema([pa.field(f.name, f.type) for f in schema])
    return table.select(schema.names).cast(types).to_pandas(types_mapper=pd.ArrowDtype)
