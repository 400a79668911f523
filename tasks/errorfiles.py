"""Error files: one per input with problems, readable in a text editor or a spreadsheet.

Each starts with a comment naming the input, then ``file<TAB>line<TAB>reason<TAB>raw`` rows.
The raw text comes last because it may itself contain tabs. The name carries the first
hex digits of the input's SHA-256, so two deliveries of ``sales.txt`` never overwrite each
other's errors and a repeated write (after a crash) produces the same file.
"""

from __future__ import annotations

import pyarrow as pa

from stockbridge.context import RunContext
from stockbridge.locations import safe_name

HEADER = "file\tline\treason\traw"


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
    text += [f"{shown}\t{line}\t{reason}\t{_printable(raw)}" for line, raw, reason in rows]
    ctx.errors.ensure_folder()
    return ctx.errors.write_atomic(error_file_name(name, digest), ("\n".join(text) + "\n").encode())


def _printable(raw: str) -> str:
    """Raw text with control characters made visible, so the error file stays one row a line."""
    return "".join(ch if ch == "\t" or ch.isprintable() else f"\\x{ord(ch):02x}" for ch in raw)
