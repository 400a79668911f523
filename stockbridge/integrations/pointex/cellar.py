"""The cellar catalogue: the wines a bar or a shop keeps, with their opening stock.

Somm'It keeps this list; stockbridge reads it as a CSV file with a header line, ``;`` or
``,`` separated (told from the header itself) and the encodings every stockbridge reader
accepts. ``item`` and ``name`` are required; ``vintage``, ``volume`` and ``quantity`` are
read when present, and any other column (producer, appellation, colour...) is kept as text
for matching till labels. Lines are read by the journal's own field rules
(:func:`~stockbridge.integrations.pointex.journal.split_fields`), so quoting, blank lines,
line numbers and raw text behave the same in both files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from stockbridge.errors import StockbridgeError
from stockbridge.formats.text import UndecodableFile
from stockbridge.integrations.pointex.journal import (
    REFERENCE_MAX_LENGTH,
    blank_lines,
    decode_text,
    first_rule,
    header_fields,
    header_problem,
    normalise_name,
    parse_decimal,
    physical_lines,
    raw_text,
    split_fields,
)

DELIMITERS = (";", ",", "\t")
"""Tried in this order on the header line; the first that shows ``item`` and ``name`` wins."""

COLUMNS = {
    "item": ("item", "article"),
    "name": ("name", "nom"),
    "vintage": ("vintage", "millesime"),
    "volume": ("volume", "contenance"),
    "quantity": ("quantity", "quantite"),
}
"""Header names of the known columns, compared without case or accents (French too)."""

NON_VINTAGE = ("nv", "sa", "bsa")
"""Written instead of a year for a blend of years (Champagne's "brut sans année")."""

YEARS = (1800, 2199)


class CellarError(StockbridgeError):
    """The whole catalogue is refused: it cannot be read as a cellar catalogue."""


@dataclass(frozen=True)
class Cellar:
    items: pd.DataFrame
    """One row per item in file order (``pd.ArrowDtype``): ``item`` string, ``name`` string,
    ``vintage`` int64 (nullable), ``volume`` float64 in centilitres (nullable), ``quantity``
    int64 thousandths, then every other column as nullable text, named by its lower-cased
    header name."""
    rejects: pd.DataFrame
    """``line`` int64 (1 = header), ``raw`` string, ``reason`` string."""


class Reason:
    EMPTY_ITEM = "empty item id"
    ITEM_TOO_LONG = f"item id longer than {REFERENCE_MAX_LENGTH} characters"
    EMPTY_NAME = "empty name"
    BAD_VINTAGE = (
        f"vintage is not a year between {YEARS[0]} and {YEARS[1]} like 2018 (leave it empty, or"
        " write NV, for a wine without vintage)"
    )
    BAD_VOLUME = "volume is not a size in centilitres like 75, 150 or 37.5"


def read_cellar(data: bytes) -> Cellar:
    """Read a cellar catalogue: typed items, and the lines refused with their reasons.

    A repeated item id is refused on every line after its first (the first one counts), so
    one copy-paste cannot double a wine's stock.
    """
    try:
        utf8, _ = decode_text(data, "auto")
        lines = physical_lines(utf8)
    except UndecodableFile as exc:
        raise CellarError(f"The cellar catalogue {exc}.") from None
    blank = blank_lines(lines, "".join(DELIMITERS))
    nonblank = np.flatnonzero(~blank)
    if nonblank.size == 0:
        raise CellarError(
            "The cellar catalogue is empty: it has no header line with the column names"
            " item and name."
        )
    header_at = int(nonblank[0])
    text = lines[header_at].as_py()
    problem = header_problem(text)
    if problem:
        raise CellarError(f"The cellar catalogue's {problem}.")
    delimiter, names, known = _sniff(text)

    body = lines.slice(header_at + 1)
    blank = blank_lines(body, delimiter)
    numbers = np.arange(header_at + 2, header_at + 2 + len(body), dtype=np.int64)
    fields = split_fields(body, delimiter, len(names), range(len(names)), blank)
    string = pd.ArrowDtype(pa.string())
    frame = pd.DataFrame(
        {index: pd.Series(fields.values[index], dtype=string) for index in range(len(names))}
    )
    line = pd.Series(numbers[fields.ok], dtype=pd.ArrowDtype(pa.int64()))

    def column(key: str, default: str) -> pd.Series:
        if key in known:
            return frame[known[key]]
        return pd.Series(default, index=frame.index, dtype=string)

    item, name = column("item", ""), column("name", "")
    vintage, bad_vintage = _vintages(column("vintage", ""))
    volume, bad_volume = _volumes(column("volume", ""))
    quantity_text = column("quantity", "")
    quantity, quantity_reason = parse_decimal(
        quantity_text.str.replace(",", ".", regex=False), ".", "quantity"
    )
    rules = [
        (item.str.len() == 0, Reason.EMPTY_ITEM),
        (item.str.len() > REFERENCE_MAX_LENGTH, Reason.ITEM_TOO_LONG),
        (name.str.len() == 0, Reason.EMPTY_NAME),
        (bad_vintage, Reason.BAD_VINTAGE),
        (bad_volume, Reason.BAD_VOLUME),
        (quantity_reason.notna(), quantity_reason),
    ]
    reason = first_rule(rules, frame.index)
    reason = _duplicates(item, line, reason)
    good = reason.isna().to_numpy(dtype=bool)

    def kept(values: pd.Series) -> pd.Series:
        return values[good].reset_index(drop=True)

    items = pd.DataFrame(
        {
            "item": kept(item),
            "name": kept(name),
            "vintage": kept(vintage),
            "volume": kept(volume),
            "quantity": pd.Series(quantity[good], dtype=pd.ArrowDtype(pa.int64())),
        }
    )
    for index, header in enumerate(names):
        if index not in known.values() and header:
            values = kept(frame[index])
            items[header] = values.mask(values.str.len() == 0)

    not_ok = np.flatnonzero(~fields.ok & ~blank)
    rejects = pd.concat(
        [
            pd.DataFrame({"line": numbers[not_ok], "position": not_ok, "reason": fields.reasons}),
            pd.DataFrame(
                {
                    "line": line[~good].to_numpy(np.int64),
                    "position": line[~good].to_numpy(np.int64) - header_at - 2,
                    "reason": pa.array(reason[~good].array, pa.string()),
                }
            ),
        ],
        ignore_index=True,
    ).sort_values("line", kind="stable")
    raw = raw_text(pc.take(body, pa.array(rejects["position"].to_numpy(np.int64), pa.int64())))
    return Cellar(
        items=items,
        rejects=pd.DataFrame(
            {
                "line": pd.Series(rejects["line"].to_numpy(np.int64), dtype="int64[pyarrow]"),
                "raw": pd.Series(raw, dtype=string),
                "reason": pd.Series(pa.array(rejects["reason"], pa.string()), dtype=string),
            }
        ),
    )


def _sniff(text: str) -> tuple[str, list[str], dict[str, int]]:
    """The delimiter, the header names (lower-cased) and where each known column is."""
    best: tuple[str, list[str], dict[str, int]] | None = None
    for delimiter in DELIMITERS:
        names = [name.lower() for name in header_fields(text, delimiter)]
        known: dict[str, int] = {}
        for key, aliases in COLUMNS.items():
            found = [i for i, name in enumerate(names) if normalise_name(name) in aliases]
            if len(found) > 1:
                raise CellarError(
                    f"The cellar catalogue's header has {len(found)} columns for '{key}'"
                    f" ({', '.join(repr(names[i]) for i in found)}); keep one."
                )
            if found:
                known[key] = found[0]
        if "item" in known and "name" in known:
            best = (delimiter, names, known)
            break
        if best is None or len(names) > len(best[1]):
            best = (delimiter, names, known)
    assert best is not None
    delimiter, names, known = best
    missing = [key for key in ("item", "name") if key not in known]
    if missing:
        listed = " and ".join(f"'{key}'" for key in missing)
        raise CellarError(
            f"The cellar catalogue has no {listed} column{'s' if len(missing) > 1 else ''}"
            f" (header found: {text[:200]!r}); the header must name at least item and name,"
            " separated by ';' or ','."
        )
    extras = [name for i, name in enumerate(names) if i not in known.values() and name]
    repeated = sorted({name for name in extras if extras.count(name) > 1})
    if repeated:
        raise CellarError(
            f"The cellar catalogue's header names the column '{repeated[0]}' more than once;"
            " give each column its own name."
        )
    return delimiter, names, known


def _vintages(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Years (nullable int64) and where the text is not one."""
    none = (text.str.len() == 0) | text.str.lower().isin(NON_VINTAGE)
    year = text.str.fullmatch(r"[0-9]{4}") & ~none
    values = text.where(year, None).astype(pd.ArrowDtype(pa.int64()))
    in_range = values.between(*YEARS)
    bad = ~none & ~(year & in_range.fillna(False))
    return values.where(~bad), bad


def _volumes(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Centilitres (nullable float64) from ``75``, ``37,5`` or ``150 cl``; where they fail."""
    number = text.str.replace(r"(?i)\s*cl$", "", regex=True).str.replace(",", ".", regex=False)
    empty = number.str.len() == 0
    ok = number.str.fullmatch(r"[0-9]{1,5}(\.[0-9]{1,3})?")
    values = number.where(ok, None).astype(pd.ArrowDtype(pa.float64()))
    ok = ok & (values > 0).fillna(False)
    return values.where(ok), ~empty & ~ok


def _duplicates(item: pd.Series, line: pd.Series, reason: pd.Series) -> pd.Series:
    """``reason`` with every repeat of an otherwise good item id refused, naming its first."""
    good = reason.isna()
    repeated = good & item.where(good).duplicated(keep="first") & item.notna()
    if not repeated.any():
        return reason
    first = line[good & ~repeated].groupby(item[good & ~repeated]).first()
    where = item[repeated].map(first).astype("int64[pyarrow]").astype(str)
    return reason.mask(repeated, "item id already listed on line " + where)
