"""The shop's stock file: one line per SKU with its level, read and written back.

ShopFactory does not describe its stock file publicly, so the layout is assumed
(docs/shopfactory.md) and configurable: by default ``SKU<TAB>quantity``, with or without a
header line; the store file may name other columns, another delimiter and a decimal comma.
A SKU is a plain reference, per-option stock included (the shop's combined SKUs such as
``P1_red_17``).

Reading is strict on purpose: the file is machine-written, so a line that does not fit the
layout means the layout is wrong, and publishing over a file half understood would
overwrite levels. Such a file is refused whole with one sentence naming the line.
Writing keeps the shop's file as it is (its header, its other columns, its line order and
line ends) and replaces only the quantity of each line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from stockbridge.config.models import Strict
from stockbridge.errors import StockbridgeError
from stockbridge.formats.text import UndecodableFile, decode, split_lines
from stockbridge.movements import format_quantities
from stockbridge.schema import MILLI, QUANTITY_SCALE

SKU_MAX_LENGTH = 64
INTEGER_DIGITS_MAX = 12
_SPACES = " \u00a0\ufeff"


class StockFileError(StockbridgeError):
    """The shop's stock file cannot be read as its layout says; nothing is published."""


class Columns(Strict):
    """Which fields hold the SKU and the level: a position (1 = first) or a header name."""

    sku: int | str = Field(default=1, description="the SKU's column: position (1 = first) or name")
    quantity: int | str = Field(
        default=2, description="the stock level's column: position (1 = first) or name"
    )

    @model_validator(mode="after")
    def _distinct(self) -> Columns:
        for value in (self.sku, self.quantity):
            if isinstance(value, int) and value < 1:
                raise ValueError("column positions start at 1 (the first field)")
        if self.sku == self.quantity:
            raise ValueError("'sku' and 'quantity' name the same column")
        return self


class StockLayout(Strict):
    """The stock file's layout (default ``SKU<TAB>quantity``)."""

    delimiter: str = Field(
        default="\t", min_length=1, max_length=1, description="the field separator"
    )
    header: bool | None = Field(
        default=None,
        description=(
            "true: the first line names the columns; false: there is none; unset: a first"
            " line whose quantity is not a number is a header"
        ),
    )
    columns: Columns = Field(default=Columns(), description="where the SKU and the level are")
    decimal: Literal[".", ","] = Field(default=".", description="the decimal mark of levels")

    @model_validator(mode="after")
    def _consistent(self) -> StockLayout:
        if self.delimiter == self.decimal:
            raise ValueError(f"the delimiter and the decimal mark are both '{self.decimal}'")
        if self.delimiter in '\r\n"':
            raise ValueError("the delimiter cannot be a line end or a quote")
        named = [c for c in (self.columns.sku, self.columns.quantity) if isinstance(c, str)]
        if named and self.header is False:
            raise ValueError("columns are named but 'header' is false; give positions instead")
        return self


@dataclass(frozen=True)
class StockFile:
    """One snapshot of the shop's stock file."""

    name: str
    data: bytes
    lines: list[str]
    """Every physical line as text, without its line end (blank lines included)."""
    newline: str
    header: int | None
    """Index in :attr:`lines` of the header line, if any."""
    rows: np.ndarray
    """Index in :attr:`lines` of each SKU's line, aligned with :attr:`skus`."""
    skus: list[str]
    levels: np.ndarray
    """Thousandths, int64, aligned with :attr:`skus`."""
    quantity_field: int
    """0-based position of the level in each line."""
    encoding: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def level_of(self) -> dict[str, int]:
        return dict(zip(self.skus, self.levels.tolist(), strict=True))

    def line_numbers(self) -> np.ndarray:
        return self.rows + 1


def read_stock_file(data: bytes, layout: StockLayout, name: str) -> StockFile:
    """The SKUs and levels of ``data``, or :class:`StockFileError` with one sentence."""
    try:
        decoded = decode(data)
    except UndecodableFile as exc:
        raise StockFileError(f"the shop's stock file {name} {exc}; nothing was published") from None
    newline = "\r\n" if b"\r\n" in decoded.utf8 else "\n"
    lines = split_lines(decoded.utf8)
    lines = pc.utf8_rtrim(lines, characters="\r")
    texts = lines.to_pylist()
    blank = pc.equal(pc.utf8_length(pc.utf8_trim(lines, characters=_SPACES)), 0)
    content = np.flatnonzero(~blank.to_numpy(zero_copy_only=False))
    if content.size == 0:
        raise StockFileError(
            f"the shop's stock file {name} is empty; nothing was published (is the shop's"
            " stock control switched on?)"
        )
    fields = pc.split_pattern(pc.take(lines, pa.array(content)), layout.delimiter)
    sku_at, quantity_at, header = _positions(fields, layout, name, texts[content[0]])
    if header is not None:
        fields = fields.slice(1)
        content = content[1:]
    if content.size == 0:
        raise StockFileError(
            f"the shop's stock file {name} holds a header and no SKU; nothing was published"
        )
    counts = pc.list_value_length(fields).to_numpy(zero_copy_only=False)
    short = np.flatnonzero(counts <= max(sku_at, quantity_at))
    if short.size:
        line = int(content[short[0]]) + 1
        raise StockFileError(
            f"the shop's stock file {name} line {line}: {counts[short[0]]} field(s), expected"
            f" the SKU in field {sku_at + 1} and the level in field {quantity_at + 1} separated"
            f" by {_shown(layout.delimiter)}; check 'layout'; nothing was published"
        )
    skus = _clean(pc.list_element(fields, sku_at))
    quantities = _clean(pc.list_element(fields, quantity_at))
    _check_skus(skus, content, name)
    levels = _levels(quantities, layout.decimal, content, name)
    return StockFile(
        name=name,
        data=data,
        lines=texts,
        newline=newline,
        header=None if header is None else int(header),
        rows=content,
        skus=skus.to_pylist(),
        levels=levels,
        quantity_field=quantity_at,
        encoding=decoded.encoding,
    )


def write_stock_file(shop: StockFile, levels: dict[str, int], layout: StockLayout) -> bytes:
    """``shop``'s file with each SKU's level replaced by ``levels[sku]`` (thousandths).

    Everything else stays as the shop wrote it: the header, other columns, blank lines, the
    order and the line ends. The file is written back in UTF-8 (with its mark if it had one).
    """
    new = np.array([levels[sku] for sku in shop.skus], dtype=np.int64)
    texts = format_quantities(new).to_pylist()
    if layout.decimal == ",":
        texts = [t.replace(".", ",") for t in texts]
    lines = list(shop.lines)
    at = shop.quantity_field
    delimiter = layout.delimiter
    for row, text in zip(shop.rows.tolist(), texts, strict=True):
        fields = lines[row].split(delimiter)
        fields[at] = text
        lines[row] = delimiter.join(fields)
    body = shop.newline.join(lines)
    if shop.data.endswith(b"\n"):
        body += shop.newline
    mark = "\ufeff" if shop.encoding == "utf-8-sig" else ""
    return (mark + body).encode("utf-8")


def _positions(
    first: pa.ListArray, layout: StockLayout, name: str, first_line: str
) -> tuple[int, int, int | None]:
    """0-based fields of the SKU and the level, and whether the first line is a header."""
    columns = layout.columns
    named = isinstance(columns.sku, str) or isinstance(columns.quantity, str)
    head = [f.strip(_SPACES).strip('"') for f in first[0].as_py()]
    if layout.header is None and not named:
        at = columns.quantity - 1  # type: ignore[operator]
        value = head[at] if at < len(head) else ""
        header = None if _is_number(value, layout.decimal) else 0
    else:
        header = 0 if (layout.header or named) else None

    def position(column: int | str, key: str) -> int:
        if isinstance(column, int):
            return column - 1
        folded = [h.casefold() for h in head]
        if column.casefold() not in folded:
            raise StockFileError(
                f"the shop's stock file {name} has no column '{column}' (layout.columns.{key});"
                f" its header is: {first_line[:200]}; nothing was published"
            )
        return folded.index(column.casefold())

    return position(columns.sku, "sku"), position(columns.quantity, "quantity"), header


def _is_number(text: str, mark: str) -> bool:
    import re

    return re.fullmatch(rf"[+-]?[0-9]+(?:{re.escape(mark)}[0-9]+)?", text) is not None


def _clean(values: pa.Array) -> pa.Array:
    values = pc.utf8_trim(values, characters=_SPACES)
    values = pc.replace_substring_regex(values, r'^"(.*)"$', r"\1")
    return pc.utf8_trim(values, characters=_SPACES).cast(pa.string())


def _check_skus(skus: pa.Array, content: np.ndarray, name: str) -> None:
    lengths = pc.utf8_length(skus).to_numpy(zero_copy_only=False)
    for bad, why in (
        (np.flatnonzero(lengths == 0), "has no SKU"),
        (np.flatnonzero(lengths > SKU_MAX_LENGTH), f"has a SKU longer than {SKU_MAX_LENGTH}"),
    ):
        if bad.size:
            raise StockFileError(
                f"the shop's stock file {name} line {int(content[bad[0]]) + 1} {why}; nothing"
                " was published"
            )
    if pc.count_distinct(skus).as_py() != len(skus):
        seen: dict[str, int] = {}
        for index, sku in enumerate(skus.to_pylist()):
            if sku in seen:
                raise StockFileError(
                    f"the shop's stock file {name} lists SKU {sku} twice (lines"
                    f" {int(content[seen[sku]]) + 1} and {int(content[index]) + 1}); nothing"
                    " was published"
                )
            seen[sku] = index


def _levels(quantities: pa.Array, mark: str, content: np.ndarray, name: str) -> np.ndarray:
    """Exact thousandths from the level texts; the first that is not a number is refused."""
    escaped = "\\" + mark
    pattern = rf"^[+-]?[0-9]{{1,{INTEGER_DIGITS_MAX}}}(?:{escaped}[0-9]{{1,{QUANTITY_SCALE}}})?$"
    valid = pc.match_substring_regex(quantities, pattern).to_numpy(zero_copy_only=False)
    if not valid.all():
        at = int(np.flatnonzero(~valid)[0])
        raise StockFileError(
            f"the shop's stock file {name} line {int(content[at]) + 1}: level"
            f" '{quantities[at].as_py()[:40]}' is not a number with '{mark}' as decimal mark"
            " (check layout.decimal and layout.columns); nothing was published"
        )
    parts = pc.extract_regex(
        quantities, rf"^(?P<sign>[+-]?)(?P<whole>[0-9]+){escaped}?(?P<fraction>[0-9]*)$"
    )
    whole = pc.cast(pc.struct_field(parts, "whole"), pa.int64()).to_numpy(zero_copy_only=False)
    fraction = pc.utf8_rpad(pc.struct_field(parts, "fraction"), QUANTITY_SCALE, "0")
    fraction = pc.cast(fraction, pa.int64()).to_numpy(zero_copy_only=False)
    negative = pc.equal(pc.struct_field(parts, "sign"), "-").to_numpy(zero_copy_only=False)
    magnitude = whole * MILLI + fraction
    return np.where(negative, -magnitude, magnitude).astype(np.int64)


def _shown(delimiter: str) -> str:
    return {"\t": "a tab", ";": "';'", ",": "','", "|": "'|'", " ": "a space"}.get(
        delimiter, f"'{delimiter}'"
    )
