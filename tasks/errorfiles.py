"""Error files: one per input with problems, readable in a text editor or a spreadsheet.

Each starts with a comment naming the input, then ``file<TAB>line<TAB>reason<TAB>raw`` rows.
Tabs and line breaks in the raw text are written as ``\\t``, ``\\n`` and ``\\r``, so a
spreadsheet keeps one row per line and four columns. The name carries the first
hex digits of the input's SHA-256, so two deliveries of ``sales.txt`` never overwrite each
other's errors and a repeated write (after a crash) produces the same file.

Input files come from outside (a web shop, a till), and error files are opened in
spreadsheets: a cell of the file name or the raw text that a spreadsheet would run as a
formula (``=...``, ``@...``, ``+``/``-`` followed by more than a number) gets a leading
``'``, and control characters are written as escapes.
"""

from __future__ import annotations

import re

import pyarrow as pa

from stockbridge.context import RunContext
from stockbridge.locations import safe_name

HEADER = "file\tline\treason\traw"
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9 .,]*")


def error_file_name(name: str, digest: str) -> str:
    return f"{safe_name(name)}.{digest[:12]}.errors.txt"


def write_error_file(
    ctx: RunContext,
    name: str,
    digest: str,
    rejects: pa.Table | None = None,
    reasons: list[tuple[int, str, str]] | None = None,
) -> str:
    """Publish the error file for input ``name``; ``rejects`` has line, raw, reason columns."""
    rows = list(reasons or [])
    if rejects is not None:
        rows += zip(
            rejects.column("line").to_pylist(),
            rejects.column("raw").to_pylist(),
            rejects.column("reason").to_pylist(),
            strict=True,
        )
    shown = safe_name(name)
    text = [
        f"# stockbridge: lines of {shown} that were not applied"
        f" (store {ctx.store}, run {ctx.run_id})",
        HEADER,
    ]
    text += [
        f"{_cell(shown)}\t{line}\t{reason}\t{_cell(printable(raw))}" for line, raw, reason in rows
    ]
    ctx.errors.ensure_folder()
    return ctx.errors.write_atomic(error_file_name(name, digest), ("\n".join(text) + "\n").encode())


def printable(raw: str) -> str:
    """Raw text with tabs, line breaks and control characters made visible, so the error
    file (and ``stockbridge rejects``) stays one row a line and one cell for the raw text.

    Escapes read unambiguously: ``\\t``, ``\\n``, ``\\r``, ``\\x00`` up to U+00FF,
    ``\\u2028`` beyond (a bare ``\\x2028`` would read as ``\\x20`` then ``28``).
    """
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in raw)


_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _cell(text: str) -> str:
    """A spreadsheet cell that is not a formula (CSV injection): ``=1+1`` -> ``'=1+1``."""
    first = text[:1]
    if first in ("=", "@") or (first in ("+", "-") and not _PLAIN_NUMBER.fullmatch(text)):
        return "'" + text
    return text
