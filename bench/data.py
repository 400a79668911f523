"""Deterministic benchmark data: article files, movement files, and what they must produce.

Everything comes from one seeded numpy generator, so two runs of the benchmark read the same
bytes. Lines are built column-wise with pyarrow (never one Python string per line), so ten
million lines take seconds to write. Alongside the files, :class:`Expected` holds what a
correct run must report (lines applied and rejected, files with error files, negative
articles) and the exact bytes of the article export, computed independently of stockbridge.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SEED = 20_250_611
BLOCK_LINES = 1_000_000
"""Lines generated at once; bounds the generator's memory for the ten-million-line file."""

MOVEMENT_QUANTITIES: list[tuple[str, int, float]] = [
    # text in the file, thousandths, weight
    ("-1", -1000, 60.0),
    ("-2", -2000, 12.0),
    ("-3", -3000, 4.0),
    ("-0,5", -500, 2.0),
    ("-1.25", -1250, 1.0),
    ("1", 1000, 6.0),
    ("2", 2000, 4.0),
    ("6", 6000, 3.0),
    ("12", 12000, 2.0),
    ("+24", 24000, 1.0),
    ("2.5", 2500, 1.0),
]
"""Mostly sales of one unit, some receipts, a few decimals (``,`` and ``.`` marks)."""

BAD_QUANTITIES = ["abc", "1E3", "1.2345", ""]
"""Not a number, scientific notation, too many decimals, missing quantity: all rejected."""

UNKNOWN_SHARE = 0.001
"""Lines whose reference is not in the article file (rejected as unknown)."""
BAD_SHARE = 0.0002
"""Lines with a known reference but a malformed quantity (rejected)."""
UNKNOWN_POOL = 1000


@dataclass(frozen=True)
class Catalogue:
    references: pa.Array
    """Unique 13-digit references, in file order (shuffled, so the export has to sort)."""
    codes: np.ndarray
    """The same references as integers (all 13 digits: numeric order is text order)."""
    opening: np.ndarray
    """Opening quantity of each article, in thousandths."""


@dataclass
class Expected:
    """What a correct run of a dataset must report; ``export`` is a file of exact bytes."""

    lines: int
    applied: int
    rejected: int
    files: int
    files_with_rejects: int
    articles: int
    negative: int
    export: str

    def to_json(self) -> dict:
        return asdict(self)


def make_catalogue(articles: int, seed: int = SEED) -> Catalogue:
    rng = np.random.default_rng([seed, articles, 1])
    codes = 8_880_000_000_000 + np.arange(articles, dtype=np.int64) * 97
    codes += rng.integers(0, 97, articles)
    codes = codes[rng.permutation(articles)]
    opening = rng.integers(0, 40, articles, dtype=np.int64) * 1000
    opening += np.where(rng.random(articles) < 0.05, 500, 0)
    return Catalogue(pa.array(codes).cast(pa.string()), codes, opening)


def write_catalogue(path: Path, catalogue: Catalogue) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _lines(catalogue.references, format_milli(catalogue.opening))
    with open(path, "wb") as handle:
        handle.write(text)


def write_movements(
    folder: Path,
    catalogue: Catalogue,
    files: int,
    lines_per_file: int,
    export_path: Path,
    seed: int = SEED,
    stem: str = "movements",
) -> Expected:
    """Write ``files`` files of ``lines_per_file`` lines into ``folder``; return the expected
    outcome of applying them all to ``catalogue`` and write the expected export file."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, files, lines_per_file, len(catalogue.codes)])
    articles = len(catalogue.codes)
    vocabulary = pa.array([text for text, _, _ in MOVEMENT_QUANTITIES], pa.string())
    milli = np.array([value for _, value, _ in MOVEMENT_QUANTITIES], dtype=np.int64)
    weights = np.array([weight for _, _, weight in MOVEMENT_QUANTITIES])
    weights /= weights.sum()
    bad_vocabulary = pa.array(BAD_QUANTITIES, pa.string())
    unknown_pool = pa.array(9_990_000_000_000 + np.arange(UNKNOWN_POOL, dtype=np.int64)).cast(
        pa.string()
    )

    total = files * lines_per_file
    width = len(str(files))
    delta = np.zeros(articles, dtype=np.int64)
    applied = rejected = 0
    files_with_rejects: set[int] = set()
    handles: dict[int, object] = {}
    try:
        for start in range(0, total, BLOCK_LINES):
            count = min(BLOCK_LINES, total - start)
            draw = rng.random(count)
            unknown = draw < UNKNOWN_SHARE
            bad = (draw >= UNKNOWN_SHARE) & (draw < UNKNOWN_SHARE + BAD_SHARE)
            good = ~(unknown | bad)
            article = rng.integers(0, articles, count)
            quantity = rng.choice(len(milli), count, p=weights)
            bad_quantity = rng.integers(0, len(BAD_QUANTITIES), count)
            unknown_reference = rng.integers(0, UNKNOWN_POOL, count)

            references = pc.if_else(
                pa.array(unknown),
                pc.take(unknown_pool, pa.array(unknown_reference)),
                pc.take(catalogue.references, pa.array(article)),
            )
            quantities = pc.if_else(
                pa.array(bad),
                pc.take(bad_vocabulary, pa.array(bad_quantity)),
                pc.take(vocabulary, pa.array(quantity)),
            )
            data, offsets = _line_buffer(references, quantities)

            sums = np.bincount(
                article[good], weights=milli[quantity[good]].astype(np.float64), minlength=articles
            )
            delta += np.rint(sums).astype(np.int64)
            applied += int(good.sum())
            rejected += int(count - good.sum())
            line_file = (start + np.flatnonzero(~good)) // lines_per_file
            files_with_rejects.update(np.unique(line_file).tolist())

            first_file = start // lines_per_file
            last_file = (start + count - 1) // lines_per_file
            for number in range(first_file, last_file + 1):
                lo = max(number * lines_per_file, start) - start
                hi = min((number + 1) * lines_per_file, start + count) - start
                handle = handles.get(number)
                if handle is None:
                    name = folder / f"{stem}-{number + 1:0{width}d}.txt"
                    handle = handles[number] = open(name, "wb")  # noqa: SIM115
                handle.write(data[offsets[lo] : offsets[hi]])  # type: ignore[attr-defined]
                if hi + start == (number + 1) * lines_per_file:
                    handle.close()  # type: ignore[attr-defined]
                    del handles[number]
    finally:
        for handle in handles.values():
            handle.close()  # type: ignore[attr-defined]
    _spread_mtimes(folder, stem)

    final = catalogue.opening + delta
    write_export(export_path, catalogue, final)
    return Expected(
        lines=total,
        applied=applied,
        rejected=rejected,
        files=files,
        files_with_rejects=len(files_with_rejects),
        articles=articles,
        negative=int((final < 0).sum()),
        export=str(export_path),
    )


def write_export(path: Path, catalogue: Catalogue, stock: np.ndarray) -> None:
    """The article export a correct run publishes: sorted by reference, negatives as 0."""
    order = np.argsort(catalogue.codes, kind="stable")
    available = np.maximum(stock[order], 0)
    references = pc.take(catalogue.references, pa.array(order))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(_lines(references, format_milli(available)))


def format_milli(milli: np.ndarray) -> pa.Array:
    """Thousandths as text: ``5``, ``-2``, ``0.5``, ``1.25`` (written here independently)."""
    milli = np.asarray(milli, dtype=np.int64)
    magnitude = np.abs(milli)
    fractions = pa.array([""] + ["." + f"{k:03d}".rstrip("0") for k in range(1, 1000)], pa.string())
    whole = pa.array(magnitude // 1000).cast(pa.string())
    sign = pc.take(pa.array(["", "-"]), pa.array((milli < 0).astype(np.int64)))
    return pc.binary_join_element_wise(
        sign, whole, pc.take(fractions, pa.array(magnitude % 1000)), ""
    )


def _lines(first: pa.Array, second: pa.Array) -> bytes:
    data, offsets = _line_buffer(first, second)
    return bytes(data[offsets[0] : offsets[-1]])


def _line_buffer(first: pa.Array, second: pa.Array) -> tuple[memoryview, np.ndarray]:
    """``first<TAB>second\\n`` for every row, as one buffer and the offsets of its lines."""
    joined = pc.binary_join_element_wise(first, second, "\t")
    joined = pc.binary_join_element_wise(joined, "", "\n")
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    joined = joined.cast(pa.large_string())
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64)
    offsets = offsets[joined.offset : joined.offset + len(joined) + 1]
    return memoryview(joined.buffers()[2]), offsets


def _spread_mtimes(folder: Path, stem: str) -> None:
    """Distinct, increasing modification times in name order, a few minutes in the past, so
    the application order (modified, name) is the name order and every file is settled."""
    names = sorted(p for p in folder.iterdir() if p.name.startswith(stem))
    base = int(os.path.getmtime(folder)) - 600
    for index, path in enumerate(names):
        moment = base + index * 0.001
        os.utime(path, (moment, moment))
