"""An independent, plain-Python statement of the InterStock line rules (docs/input-format.md).

The parser is vectorised Arrow code; this is the same contract written the obvious way, one
line at a time with ``str`` methods, ``re`` and :class:`decimal.Decimal`. The fuzz tests
compare the two line by line, so a divergence is a bug in one of them.
"""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np

from stockbridge.integrations.interstock.format import (
    INTEGER_DIGITS_MAX,
    LINE_MAX_LENGTH,
    REFERENCE_MAX_LENGTH,
    ParsedLines,
    Reason,
)
from stockbridge.schema import QUANTITY_SCALE, REJECT_RAW_LIMIT

SPACES = " \u00a0\ufeff"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
SCIENTIFIC = re.compile(r"[+-]?[0-9.]+[eE][+-]?[0-9]+")

BLANK = ("blank",)


def expected(line: str) -> tuple:
    """``("blank",)``, ``("valid", reference, thousandths)`` or ``("rejected", reason)``."""
    too_long = len(line) > LINE_MAX_LENGTH
    body = line[: LINE_MAX_LENGTH + 1].rstrip("\r")
    if not too_long and not body.strip(SPACES + "\t"):
        return BLANK
    fields = body.strip(SPACES).rstrip("\t" + SPACES)
    tabs = fields.count("\t")
    reference_text, _, rest = fields.partition("\t")
    reference = _clean(reference_text)
    quantity = _clean(rest.split("\t")[0])
    number = quantity.replace(",", ".")

    def rejected(reason: str) -> tuple:
        return ("rejected", reason)

    if CONTROL.search(body):
        return rejected(Reason.CONTROL)
    if "\r" in body:
        return rejected(Reason.LONE_CR)
    if too_long:
        return rejected(Reason.LINE_TOO_LONG)
    if not reference:
        return rejected(Reason.MISSING_REFERENCE)
    if tabs == 0 and ";" in fields:
        return rejected(Reason.SEMICOLON)
    if tabs == 0:
        return rejected(Reason.MISSING_QUANTITY)
    if tabs > 1:
        return rejected(Reason.EXTRA_FIELDS)
    if not quantity:
        return rejected(Reason.MISSING_QUANTITY)
    if SCIENTIFIC.fullmatch(number):
        return rejected(Reason.SCIENTIFIC)
    if not NUMBER.fullmatch(number):
        return rejected(Reason.NOT_A_NUMBER)
    integer, _, fraction = number.lstrip("+-").partition(".")
    if len(fraction) > QUANTITY_SCALE:
        return rejected(Reason.TOO_MANY_DECIMALS)
    if len(integer) > INTEGER_DIGITS_MAX:
        return rejected(Reason.TOO_LARGE)
    if len(reference) > REFERENCE_MAX_LENGTH:
        return rejected(Reason.REFERENCE_TOO_LONG)
    milli = Decimal(number).scaleb(QUANTITY_SCALE)
    assert milli == milli.to_integral_value()
    return ("valid", reference, int(milli))


def _clean(field: str) -> str:
    field = field.strip(SPACES)
    if len(field) >= 2 and field.startswith('"') and field.endswith('"'):
        field = field[1:-1]
    return field.strip(SPACES)


def physical_lines(text: str) -> list[str]:
    """Lines as ``split_lines`` cuts them: at ``\\n`` only; a final newline ends, not starts."""
    if not text:
        return []
    lines = text.split("\n")
    return lines[:-1] if text.endswith("\n") else lines


def outcomes(parsed: ParsedLines, total: int) -> list[tuple]:
    """The parser's result in the oracle's shape, checking the bookkeeping on the way."""
    valid = parsed.valid.tolist()
    rejected = parsed.rejected.tolist()
    assert valid == sorted(set(valid)) and rejected == sorted(set(rejected))
    assert not set(valid) & set(rejected)
    assert all(0 <= p < total for p in valid + rejected)
    assert parsed.quantities.dtype == np.int64
    assert len(parsed.references) == len(valid) == len(parsed.quantities)
    assert len(parsed.reasons) == len(rejected) == len(parsed.raw)
    result: list[tuple] = [BLANK] * total
    for position, reference, milli in zip(
        valid, parsed.references.to_pylist(), parsed.quantities.tolist(), strict=True
    ):
        result[position] = ("valid", reference, milli)
    for position, reason, raw in zip(
        rejected, parsed.reasons.to_pylist(), parsed.raw.to_pylist(), strict=True
    ):
        assert raw is not None and "\x00" not in raw
        assert len(raw) <= REJECT_RAW_LIMIT or (
            len(raw) == REJECT_RAW_LIMIT + 1 and raw.endswith("…")
        )
        result[position] = ("rejected", reason)
    return result


def expected_raw(line: str) -> str:
    """What an error file shows for a rejected line."""
    body = line[: LINE_MAX_LENGTH + 1].rstrip("\r").replace("\x00", "\u2400")
    return body if len(body) <= REJECT_RAW_LIMIT else body[:REJECT_RAW_LIMIT] + "…"
