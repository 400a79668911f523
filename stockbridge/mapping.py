"""What an integration gives the shared applier: a mapping from its input's text to
canonical movements, rejected lines and held lines.

The applier (``tasks.apply``) owns everything else: settled files, exactly-once documents,
the transaction, archiving, error files and the summary. A mapping is pure work on text, so
the applier may run it on helper threads, ahead of the transaction; whatever has to read or
write the ledger at commit time goes in :meth:`ParsedFiles.record` (a subclass may extend
it: the cellar computes glass shares there, under the run's lock).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stockbridge.movements import Document

if TYPE_CHECKING:
    from stockbridge.ledger.ledger import Batch


@dataclass(frozen=True)
class ParsedFiles:
    """What mapping some documents gave: movements to add, rejected lines and why, and the
    lines recorded as they came (``stockbridge.schema.HELD_SCHEMA``), if the integration
    keeps any."""

    movements: pa.Table
    reject_batch_ids: pa.Array
    reject_lines: pa.Array
    reject_raw: pa.Array
    reject_reasons: pa.Array
    held: pa.Table | None = None

    def record(self, batch: Batch, reasons: Counter[str]) -> None:
        batch.add_movements(self.movements)
        if self.held is not None:
            batch.add_held(self.held)
        if len(self.reject_lines) == 0:
            return
        batch.add_rejects(
            self.reject_batch_ids, self.reject_lines, self.reject_raw, self.reject_reasons
        )
        reasons.update(
            {
                item["values"]: item["counts"]
                for item in pc.value_counts(self.reject_reasons).to_pylist()
            }
        )


def rejects_of(
    documents: list[Document], document_index: np.ndarray, lines: np.ndarray, raw, reasons
) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """The reject columns of :class:`ParsedFiles` from positions into ``documents``."""
    batch_ids = pa.array([d.batch_id for d in documents], pa.string())
    return (
        pc.take(batch_ids, pa.array(np.asarray(document_index, dtype=np.int64))),
        pa.array(np.asarray(lines, dtype=np.int64), pa.int64()),
        pa.array(raw, pa.string()) if not isinstance(raw, pa.Array) else raw,
        pa.array(reasons, pa.string()) if not isinstance(reasons, pa.Array) else reasons,
    )


class Mapping(Protocol):
    """An integration's input format, as the applier calls it."""

    streams_lines: bool
    """True when any run of whole lines maps on its own (no header, no state across
    lines): the applier then streams a large file through :meth:`map_lines` in chunks.
    Otherwise a large file is mapped whole by :meth:`map_files`."""

    def map_files(self, texts: list[bytes], documents: list[Document]) -> ParsedFiles:
        """Whole documents, each decoded to UTF-8 (BOM removed), in the order given."""
        ...

    def map_lines(
        self,
        lines: pa.Array,
        document_index: np.ndarray,
        line_numbers: np.ndarray,
        documents: list[Document],
    ) -> ParsedFiles:
        """Lines of one or more documents (only called when :attr:`streams_lines`)."""
        ...
