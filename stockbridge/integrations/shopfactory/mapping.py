"""Movement files in the shop's import folder: InterStock's format and mapping, reused.

Deliveries and counts come as ``reference<TAB>quantity`` files, parsed and mapped by
:class:`~stockbridge.integrations.interstock.mapping.MovementFiles` with its guarantees;
only the reason given for an unknown reference speaks of the shop instead of the till.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stockbridge.integrations.interstock.format import Reason
from stockbridge.integrations.interstock.mapping import MovementFiles
from stockbridge.mapping import ParsedFiles
from stockbridge.movements import Document

UNKNOWN_SKU = "unknown SKU: the shop's stock file does not list it"


@dataclass(frozen=True)
class ShopMovementFiles:
    files: MovementFiles
    streams_lines: bool = True

    @classmethod
    def of(cls, store: str, run_id: str, skus: pa.Array) -> ShopMovementFiles:
        return cls(MovementFiles(store, run_id, skus))

    def map_files(self, texts: list[bytes], documents: list[Document]) -> ParsedFiles:
        return _shop_reasons(self.files.map_files(texts, documents))

    def map_lines(
        self,
        lines: pa.Array,
        document_index: np.ndarray,
        line_numbers: np.ndarray,
        documents: list[Document],
    ) -> ParsedFiles:
        return _shop_reasons(self.files.map_lines(lines, document_index, line_numbers, documents))


def _shop_reasons(parsed: ParsedFiles) -> ParsedFiles:
    if len(parsed.reject_reasons) == 0:
        return parsed
    unknown = pc.equal(parsed.reject_reasons, Reason.UNKNOWN_REFERENCE)
    reasons = pc.if_else(unknown, UNKNOWN_SKU, parsed.reject_reasons)
    return replace(parsed, reject_reasons=reasons)
