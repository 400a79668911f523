"""``stockbridge report``: one self-contained HTML page of a store, read from the ledger.

:mod:`.data` gathers the figures (stock of chosen articles per day, lines applied and
rejected per day, runs and failed runs per day, days in the store's time zone);
:mod:`.page` writes them into a page whose inline script draws SVG charts. The page needs
no network: it opens from a USB stick or an e-mail attachment.
"""

from __future__ import annotations

from pathlib import Path

from stockbridge.report.data import ReportData, gather
from stockbridge.report.page import render

__all__ = ["ReportData", "gather", "render", "write_report"]


def write_report(
    ledger,
    store: str,
    out: Path,
    days: int = 30,
    references: list[str] | None = None,
    timezone: str = "UTC",
) -> Path:
    data = gather(ledger, store, days=days, references=references or None, timezone=timezone)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(data), encoding="utf-8")
    return out
