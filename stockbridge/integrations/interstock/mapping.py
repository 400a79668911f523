"""InterStock's movement files as canonical movements.

A line is ``reference<TAB>quantity``; a negative quantity is a sale, a positive one a
receipt. A reference the till does not know (not in the article file) is rejected, never
created: the till owns its catalogue. Lines stand alone, so a large file streams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stockbridge.formats.text import line_count, split_lines
from stockbridge.integrations.interstock.format import Reason, parse_lines, truncate_raw
from stockbridge.mapping import ParsedFiles
from stockbridge.movements import Document, movement_table
from stockbridge.schema import MovementKind


@dataclass(frozen=True)
class MovementFiles:
    store: str
    run_id: str
    known_references: pa.Array
    streams_lines: bool = True

    def map_files(self, texts: list[bytes], documents: list[Document]) -> ParsedFiles:
        """Many small files: one concatenated buffer, one vectorised parse."""
        texts = [t + b"\n" if t and not t.endswith(b"\n") else t for t in texts]
        line_counts = np.array([line_count(t) for t in texts], dtype=np.int64)
        document_index = np.repeat(np.arange(len(texts)), line_counts)
        starts = np.repeat(np.cumsum(line_counts) - line_counts, line_counts)
        line_numbers = np.arange(int(line_counts.sum()), dtype=np.int64) - starts + 1
        return self.map_lines(split_lines(b"".join(texts)), document_index, line_numbers, documents)

    def map_lines(
        self,
        lines: pa.Array,
        document_index: np.ndarray,
        line_numbers: np.ndarray,
        documents: list[Document],
    ) -> ParsedFiles:
        """Canonical movements for the lines that apply, and every other line with its reason."""
        parsed = parse_lines(lines)
        known = pc.is_in(parsed.references, value_set=self.known_references).to_numpy(
            zero_copy_only=False
        )
        applied = parsed.valid[known]
        unknown = parsed.valid[~known]

        quantities = parsed.quantities[known]
        kinds = pc.if_else(
            pa.array(quantities < 0), MovementKind.SALE.value, MovementKind.RECEIPT.value
        )
        movements = movement_table(
            store=self.store,
            run_id=self.run_id,
            references=parsed.references.filter(pa.array(known)),
            quantities=quantities,
            kinds=kinds,
            lines=line_numbers[applied],
            documents=documents,
            document_index=document_index[applied],
        )

        rejected = np.concatenate([parsed.rejected, unknown])
        unknown_raw = truncate_raw(
            pc.utf8_rtrim(pc.take(lines, pa.array(unknown, pa.int64())), characters="\r")
        )
        batch_ids = pa.array([d.batch_id for d in documents], pa.string())
        return ParsedFiles(
            movements,
            reject_batch_ids=pc.take(batch_ids, pa.array(document_index[rejected], pa.int64())),
            reject_lines=pa.array(line_numbers[rejected], pa.int64()),
            reject_raw=pa.concat_arrays([parsed.raw, unknown_raw]),
            reject_reasons=pa.concat_arrays(
                [parsed.reasons, pa.array([Reason.UNKNOWN_REFERENCE] * unknown.size, pa.string())]
            ),
        )
