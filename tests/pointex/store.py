"""A cellar store under test: its catalogue, store file, journal drop folder and ledger.

Like tests/interstock_store.py for the Pointex integration (MISSION system 5). Everything
reads the real files and the real ledger the ``pointex`` flow wrote; nothing is simulated.

The catalogue (:data:`CATALOGUE`) holds two vintages of one wine (Talbot 2016 and 2018) and
a magnum of one of them, a wine sold by the bottle and by the glass (Vacheron's Sancerre)
beside another producer's Sancerre of another vintage, a glass wine (Guigal) and a
non-vintage champagne. :func:`line` builds one journal line in the default layout.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from flows.pointex import pointex
from stockbridge.ledger.ledger import Ledger
from stockbridge.ledger.tables import held_lines, links, movements
from stockbridge.summary import RunSummary

HEADER = "Date;Heure;Ticket;Code;Libellé;Famille;Quantité;Montant TTC"
FAMILIES = ["Vins rouges", "Vins blancs", "Champagnes", "Vins au verre"]

CATALOGUE = {
    # item: (name, vintage, volume, quantity, producer)
    "MARG15": ("Château Margaux", "2015", "75", "6", "Château Margaux"),
    "TALB16": ("Château Talbot", "2016", "75", "12", "Château Talbot"),
    "TALB18": ("Château Talbot", "2018", "75", "12", "Château Talbot"),
    "MAGTALB16": ("Château Talbot", "2016", "150", "2", "Château Talbot"),
    "GUIG20": ("Côtes du Rhône", "2020", "75", "24", "E. Guigal"),
    "SANC22": ("Sancerre", "2022", "75", "24", "Domaine Vacheron"),
    "SANC23": ("Sancerre", "2023", "75", "12", "Henri Bourgeois"),
    "BILLNV": ("Billecart-Salmon Brut Réserve", "NV", "75", "6", "Billecart-Salmon"),
}
OPENING = {item: int(row[3]) * 1000 for item, row in CATALOGUE.items()}
"""Each catalogue item's opening stock in thousandths."""


def line(
    code: str,
    label: str,
    quantity: str = "1",
    amount: str = "10,00",
    family: str = "Vins rouges",
    ticket: str = "1001",
    day: str = "27/11/2026",
    time: str = "20:15:00",
) -> str:
    """One journal line in the default layout (decimal comma)."""
    return ";".join([day, time, ticket, code, label, family, quantity, amount])


class CellarStore:
    """One cellar store file, its folders and its ledger, as the ``pointex`` flow sees them."""

    def __init__(self, root: Path, ledger_url: str, name: str | None = None, **overrides: Any):
        self.name = name or f"cave-{uuid.uuid4().hex[:8]}"
        self.root = root / self.name
        self.inbox = self.root / "sales"
        self.archive = self.inbox / "archive"
        self.errors = self.root / "errors"
        self.export = self.root / "export" / "cellar-stock.csv"
        self.catalogue = self.root / "cellar.csv"
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.ledger_url = ledger_url
        self.write_catalogue(CATALOGUE)
        document: dict[str, Any] = {
            "store": self.name,
            "integration": "pointex",
            "timezone": "Europe/Paris",
            "ledger": ledger_url,
            "catalogue": str(self.catalogue),
            "import": str(self.inbox),
            "errors": str(self.errors),
            "export": str(self.export),
            "families": FAMILIES,
            "settle": {"min_age": "0s", "recheck": "0s"},
        }
        document.update(overrides)
        self.path = self.root / f"{self.name}.yaml"
        self.path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))

    # -- inputs -----------------------------------------------------------------------

    def write_catalogue(self, catalogue: dict[str, tuple[str, ...]]) -> None:
        rows = ["item;name;vintage;volume;quantity;producer"]
        rows += [";".join([item, *values]) for item, values in catalogue.items()]
        self.catalogue.write_text("\n".join(rows) + "\n", encoding="utf-8")

    def drop(self, name: str, rows: list[str], encoding: str = "cp1252") -> Path:
        """Write a journal as the till does: ``cp1252`` with CR LF, ``utf-8-sig`` (a BOM) with
        CR LF, or ``utf-8`` with LF."""
        end = "\n" if encoding == "utf-8" else "\r\n"
        path = self.inbox / name
        path.write_bytes(end.join([HEADER, *rows, ""]).encode(encoding))
        return path

    def journal_bytes(self, rows: list[str], encoding: str = "cp1252") -> bytes:
        end = "\n" if encoding == "utf-8" else "\r\n"
        return end.join([HEADER, *rows, ""]).encode(encoding)

    # -- running ----------------------------------------------------------------------

    def run(self) -> RunSummary:
        state = pointex(config_path=str(self.path), return_state=True)
        summary = state.result(raise_on_failure=False)
        assert isinstance(summary, RunSummary), (state, summary)
        return summary

    # -- reading back -----------------------------------------------------------------

    def ledger(self) -> Ledger:
        return Ledger.open(self.ledger_url)

    def stock(self) -> dict[str, int]:
        """Item -> available quantity in thousandths (items whose stock never moved are
        absent)."""
        ledger = self.ledger()
        try:
            rows = ledger.stock(self.name).to_pylist()
        finally:
            ledger.close()
        return {r["reference"]: r["on_hand"] - r["reserved"] for r in rows}

    def stock_text(self) -> dict[str, str]:
        """Item -> quantity as the cellar stock file writes it."""
        text = self.export.read_text(encoding="utf-8-sig")
        rows = [row.split(";") for row in text.splitlines()[1:]]
        return {row[0]: row[-1] for row in rows}

    def held(self, code: str | None = None) -> list[dict]:
        return self._rows(held_lines, held_lines.c.store, code, held_lines.c.source_reference)

    def movements(self, item: str | None = None) -> list[dict]:
        return self._rows(movements, movements.c.store, item, movements.c.reference)

    def links(self) -> list[dict]:
        return self._rows(links, links.c.store, None, None)

    def _rows(self, table, store_column, value, column) -> list[dict]:
        ledger = self.ledger()
        try:
            query = select(table).where(store_column == self.name)
            if value is not None:
                query = query.where(column == value)
            with ledger.reading() as connection:
                return [dict(r._mapping) for r in connection.execute(query)]
        finally:
            ledger.close()

    def inbox_files(self) -> list[str]:
        return sorted(p.name for p in self.inbox.iterdir() if p.is_file())

    def archived(self) -> list[str]:
        return sorted(p.name for p in self.archive.iterdir() if p.is_file())

    def error_files(self) -> list[Path]:
        return sorted(self.errors.glob("*")) if self.errors.exists() else []
