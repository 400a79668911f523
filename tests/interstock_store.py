"""A store under test for flow-level tests: its store file, exchange folders and ledger.

Used by tests/test_flow.py and tests/test_export.py; everything here reads the real files
and the real ledger the flow wrote, nothing is simulated.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from sqlalchemy import select

from flows.interstock import interstock
from stockbridge.config.loader import load_store
from stockbridge.ledger.ledger import Ledger
from stockbridge.ledger.tables import documents
from stockbridge.summary import RunSummary

SEED = {
    "8880000000109": "1",
    "8880000000116": "5",
    "8880000000123": "7",
    "8880000000130": "10",
    "8880000000154": "5",
}


class Store:
    """One store file and its exchange folders, as the flow sees them."""

    def __init__(self, path: Path):
        self.path = path
        self.config = load_store(path)
        self.name = self.config.store
        self.inbox = self.config.imports[0].local_path
        self.archive = self.inbox / "archive"
        self.errors = self.config.errors.local_path
        self.export = self.config.export.local_path
        self.catalogue = self.config.catalogue.local_path

    def drop(self, name: str, data: bytes, mtime: float | None = None) -> Path:
        path = self.inbox / name
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    def run(self) -> RunSummary:
        state = interstock(config_path=str(self.path), return_state=True)
        summary = state.result(raise_on_failure=False)
        assert isinstance(summary, RunSummary), (state, summary)
        return summary

    def exported(self) -> dict[str, str]:
        text = self.export.read_text()
        assert text == "" or text.endswith("\n")
        return dict(line.split("\t") for line in text.splitlines())

    def export_lines(self) -> list[str]:
        return self.export.read_text().splitlines()

    def inbox_files(self) -> list[str]:
        return sorted(p.name for p in self.inbox.iterdir() if p.is_file())

    def archived(self) -> list[str]:
        return sorted(p.name for p in self.archive.iterdir() if p.is_file())

    def error_files(self) -> list[Path]:
        return sorted(self.errors.glob("*.errors.txt")) if self.errors.exists() else []

    def ledger(self) -> Ledger:
        return Ledger.open(self.config.ledger)

    def stock(self) -> dict[str, tuple[int, int]]:
        ledger = self.ledger()
        try:
            rows = ledger.stock(self.name).to_pylist()
        finally:
            ledger.close()
        return {r["reference"]: (r["on_hand"], r["reserved"]) for r in rows}

    def documents(self) -> list[dict]:
        ledger = self.ledger()
        try:
            with ledger.engine.connect() as connection:
                rows = connection.execute(
                    select(documents).where(documents.c.store == self.name).order_by(documents.c.id)
                )
                return [dict(r._mapping) for r in rows]
        finally:
            ledger.close()

    def write_catalogue(self, articles: dict[str, str]) -> None:
        self.catalogue.write_text("".join(f"{ref}\t{qty}\n" for ref, qty in articles.items()))


def new_store(make_store, articles: dict[str, str] | None = None, **overrides) -> Store:
    """A :class:`Store` from the ``make_store`` fixture (default articles: :data:`SEED`)."""
    return Store(make_store(articles=SEED if articles is None else articles, **overrides))


def outcomes(summary: RunSummary) -> list[tuple[str, str, int, int]]:
    return [(f.file, f.status, f.lines_applied, f.lines_rejected) for f in summary.files]


def rewrite(path: Path, **overrides) -> Path:
    document = yaml.safe_load(path.read_text())
    document.update(overrides)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
