"""Turning the bytes of Windows-made text files into lines without losing a line number.

Lines are cut with numpy at the newline bytes and wrapped as one Arrow string array without
copying, so a file of ten million lines costs a few vectorised passes, not ten million Python
strings. Line 1 is the first physical line; blank lines keep their numbers.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

LONG_LINE_BYTES = 64 * 1024
"""A line longer than this is cut by :func:`iter_chunks` (the rest is dropped, the line kept).

The parser rejects any line over ``LINE_MAX_LENGTH`` characters by looking at its first
``LINE_MAX_LENGTH + 1`` characters only, and this many bytes always hold those (4 bytes per
character at most), so cutting never changes a line's outcome; it only bounds memory.
"""


class UndecodableFile(ValueError):
    """The bytes are not text in any encoding a till or a spreadsheet writes."""


@dataclass(frozen=True)
class Decoded:
    utf8: bytes
    encoding: str


def decode(data: bytes) -> Decoded:
    """UTF-8 with or without BOM, UTF-16 with BOM (Notepad's "Unicode"), else cp1252.

    A file that is none of these (binary, a zip, a picture) raises :class:`UndecodableFile`.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UndecodableFile(
                f"starts with a UTF-8 mark but byte {exc.start} is not UTF-8"
            ) from None
        return Decoded(data, "utf-8-sig")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return Decoded(data.decode("utf-16").encode("utf-8"), "utf-16")
        except UnicodeDecodeError as exc:
            raise UndecodableFile(
                f"starts with a UTF-16 mark but is not UTF-16 ({exc.reason})"
            ) from None
    try:
        data.decode("utf-8")
        return Decoded(data, "utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return Decoded(data.decode("cp1252").encode("utf-8"), "cp1252")
    except UnicodeDecodeError as exc:
        raise UndecodableFile(
            f"is neither UTF-8 nor Windows-1252 text (byte 0x{data[exc.start]:02x} at offset"
            f" {exc.start}); is it a binary file?"
        ) from None


def split_lines(utf8: bytes) -> pa.StringArray:
    """Every physical line, without its ``\\n``; a final line without newline is kept.

    ``utf8`` must be UTF-8 (what :func:`decode` returns); other bytes raise
    :class:`UndecodableFile` rather than reaching the parser's string kernels.
    """
    if not utf8:
        return pa.array([], pa.string())
    raw = np.frombuffer(utf8, dtype=np.uint8)
    ends = np.flatnonzero(raw == 0x0A)
    if ends.size == 0 or ends[-1] != raw.size - 1:
        ends = np.append(ends, raw.size)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    # Arrow offsets describe [start, end) of each value in one contiguous buffer: drop the
    # newline bytes by building the values from a copy without them.
    lengths = ends - starts
    keep = np.ones(raw.size, dtype=bool)
    keep[ends[ends < raw.size]] = False
    data = raw[keep]
    offset_type = np.int64 if data.size >= 2**31 else np.int32
    offsets = np.zeros(lengths.size + 1, dtype=offset_type)
    np.cumsum(lengths, out=offsets[1:])
    array_type = pa.large_string() if offset_type is np.int64 else pa.string()
    lines = pa.Array.from_buffers(
        array_type, lengths.size, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:
        raise UndecodableFile("is not valid UTF-8 text") from None
    return lines


def line_count(utf8: bytes) -> int:
    """How many lines :func:`split_lines` makes of ``utf8``, without making them."""
    return utf8.count(b"\n") + (1 if utf8 and not utf8.endswith(b"\n") else 0)


def iter_chunks(
    handle: IO[bytes], chunk_bytes: int, long_line_bytes: int = LONG_LINE_BYTES
) -> Iterator[bytes]:
    """Read ``handle`` in pieces that end on a line boundary (a line is never cut in two).

    Memory stays bounded whatever the input: a line that grows past ``long_line_bytes``
    without a newline keeps only its first ``long_line_bytes`` bytes (cut on a UTF-8
    character boundary) and the rest of it is skipped up to its newline. Such a line is
    still yielded, in its place, so line numbers do not move; the parser rejects it as too
    long (see :data:`LONG_LINE_BYTES`). Each piece is at most
    ``chunk_bytes + long_line_bytes + 1`` bytes.
    """
    carry = b""
    skipping = False
    while block := handle.read(chunk_bytes):
        if skipping:
            newline = block.find(b"\n")
            if newline < 0:
                continue
            block = block[newline:]
            skipping = False
        block = carry + block
        cut = block.rfind(b"\n")
        if cut < 0:
            carry = block
        else:
            carry = block[cut + 1 :]
            yield block[: cut + 1]
        if len(carry) > long_line_bytes:
            carry = carry[: _utf8_boundary(carry, long_line_bytes)]
            skipping = True
    if carry:
        yield carry


def _utf8_boundary(data: bytes, at: int) -> int:
    """``at``, moved back over at most three UTF-8 continuation bytes."""
    for position in range(at, max(at - 4, 0), -1):
        if data[position] & 0xC0 != 0x80:
            return position
    return max(at - 3, 1)


def joined(values: pa.Array, separator: str) -> bytes:
    """The values' UTF-8 bytes with ``separator`` between them, built by Arrow kernels
    (a null value would be left out: callers pass none).

    After appending the separator to every value, the string array's data buffer *is* the
    result (minus the last separator): no Python string per value, no ``str.join``.
    """
    if len(values) == 0:
        return b""
    text = pa.large_string()
    ends = pc.binary_join_element_wise(
        values.cast(text), pa.scalar(separator, text), pa.scalar("", text)
    )
    offsets = np.frombuffer(ends.buffers()[1], dtype=np.int64)[
        ends.offset : ends.offset + len(ends) + 1
    ]
    return ends.buffers()[2].to_pybytes()[offsets[0] : offsets[-1] - len(separator.encode())]
