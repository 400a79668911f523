"""The plain-Python reference: the same work done the obvious way.

csv module reading, one ``UPDATE stock`` and one audit ``INSERT INTO movements`` per line in
SQLite, one transaction per file, rejects recorded per line, the file archived after its
commit, and the export written with a csv writer. It uses the ledger's durability settings
(WAL, ``synchronous=FULL``) and the same indexes, so the comparison is about the code path,
not about what the database is asked to guarantee.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

NUMBER = re.compile(r"^[+-]?(?P<integer>[0-9]*)(?:\.(?P<fraction>[0-9]*))?$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (
    store VARCHAR(64) NOT NULL, reference VARCHAR(64) NOT NULL,
    on_hand BIGINT NOT NULL, reserved BIGINT NOT NULL, updated_at DATETIME NOT NULL,
    PRIMARY KEY (store, reference));
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, store VARCHAR(64) NOT NULL,
    document VARCHAR(255) NOT NULL, digest VARCHAR(64) NOT NULL, applied_at DATETIME NOT NULL,
    lines_applied INTEGER NOT NULL DEFAULT 0, lines_rejected INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS movements (
    document_id INTEGER NOT NULL, line INTEGER NOT NULL, store VARCHAR(64) NOT NULL,
    reference VARCHAR(64) NOT NULL, quantity BIGINT NOT NULL, kind VARCHAR(16) NOT NULL,
    occurred_at DATETIME NOT NULL, PRIMARY KEY (document_id, line));
CREATE INDEX IF NOT EXISTS ix_movements_store_reference ON movements (store, reference);
CREATE TABLE IF NOT EXISTS rejects (
    document_id INTEGER NOT NULL, line INTEGER NOT NULL, raw TEXT NOT NULL,
    reason VARCHAR(200) NOT NULL, PRIMARY KEY (document_id, line));
"""


def parse_quantity(text: str) -> int | None:
    """Thousandths, or None when the text is not a plain number with at most 3 decimals."""
    text = text.strip().replace(",", ".")
    match = NUMBER.match(text)
    if not match or text in ("", "+", "-", ".", "+.", "-."):
        return None
    integer, fraction = match.group("integer"), match.group("fraction") or ""
    if len(fraction) > 3 or len(integer) > 12:
        return None
    value = int(integer or "0") * 1000 + int(fraction.ljust(3, "0"))
    return -value if text.startswith("-") else value


def format_quantity(milli: int) -> str:
    sign = "-" if milli < 0 else ""
    whole, fraction = divmod(abs(milli), 1000)
    return f"{sign}{whole}.{fraction:03d}".rstrip("0") if fraction else f"{sign}{whole}"


class Reference:
    def __init__(self, root: Path, catalogue: Path, store: str = "reference"):
        self.root = root
        self.catalogue = catalogue
        self.store = store
        self.imports = root / "import"
        self.archive = self.imports / "archive"
        self.errors = root / "errors"
        self.export = root / "export" / "articles.txt"
        for folder in (self.imports, self.archive, self.errors, self.export.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(root / "reference.db", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def run(self) -> dict[str, int]:
        """One full run: article file, every movement file, the export."""
        known = self.sync_catalogue()
        counts = {"files": 0, "applied": 0, "rejected": 0}
        names = sorted(
            (p for p in self.imports.iterdir() if p.is_file()),
            key=lambda p: (p.stat().st_mtime, p.name),
        )
        for path in names:
            applied, rejected = self.apply_file(path, known)
            counts["files"] += 1
            counts["applied"] += applied
            counts["rejected"] += rejected
        self.write_export(known)
        return counts

    def sync_catalogue(self) -> set[str]:
        known: dict[str, int] = {}
        with open(self.catalogue, newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle, delimiter="\t"):
                if len(row) != 2:
                    continue
                quantity = parse_quantity(row[1])
                reference = row[0].strip()
                if reference and quantity is not None and reference not in known:
                    known[reference] = quantity
        (present,) = self.db.execute(
            "SELECT COUNT(*) FROM stock WHERE store = ?", (self.store,)
        ).fetchone()
        if present == 0:
            now = _now()
            self.db.execute("BEGIN IMMEDIATE")
            for reference, quantity in known.items():
                self.db.execute(
                    "INSERT INTO stock (store, reference, on_hand, reserved, updated_at)"
                    " VALUES (?, ?, ?, 0, ?)",
                    (self.store, reference, quantity, now),
                )
            self.db.execute("COMMIT")
        return set(known)

    def apply_file(self, path: Path, known: set[str]) -> tuple[int, int]:
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        now = _now()
        cursor = self.db.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(
            "INSERT INTO documents (store, document, digest, applied_at) VALUES (?, ?, ?, ?)",
            (self.store, path.name, digest, now),
        )
        document = cursor.lastrowid
        applied = 0
        rejects: list[tuple[int, str, str]] = []
        with open(path, newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
                if not row or not "".join(row).strip():
                    continue
                reason = None
                if len(row) != 2:
                    reason = "expected reference<TAB>quantity"
                else:
                    reference = row[0].strip()
                    quantity = parse_quantity(row[1])
                    if quantity is None:
                        reason = "quantity is not a number"
                    elif reference not in known:
                        reason = "unknown reference"
                if reason is not None:
                    raw = "\t".join(row)
                    cursor.execute(
                        "INSERT INTO rejects (document_id, line, raw, reason) VALUES (?, ?, ?, ?)",
                        (document, number, raw, reason),
                    )
                    rejects.append((number, raw, reason))
                    continue
                cursor.execute(
                    "UPDATE stock SET on_hand = on_hand + ?, updated_at = ?"
                    " WHERE store = ? AND reference = ?",
                    (quantity, now, self.store, reference),
                )
                cursor.execute(
                    "INSERT INTO movements (document_id, line, store, reference, quantity, kind,"
                    " occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        document,
                        number,
                        self.store,
                        reference,
                        quantity,
                        "sale" if quantity < 0 else "receipt",
                        now,
                    ),
                )
                applied += 1
        cursor.execute(
            "UPDATE documents SET lines_applied = ?, lines_rejected = ? WHERE id = ?",
            (applied, len(rejects), document),
        )
        cursor.execute("COMMIT")
        if rejects:
            with open(self.errors / f"{path.name}.errors.txt", "w", newline="") as handle:
                writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
                writer.writerow(("file", "line", "reason", "raw"))
                writer.writerows((path.name, n, reason, raw) for n, raw, reason in rejects)
        os.replace(path, self.archive / f"{path.name}.{digest[:12]}")
        return applied, len(rejects)

    def write_export(self, known: set[str]) -> None:
        temp = self.export.with_name(f".{self.export.name}.tmp")
        rows = self.db.execute(
            "SELECT reference, on_hand - reserved FROM stock WHERE store = ? ORDER BY reference",
            (self.store,),
        )
        with open(temp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            for reference, available in rows:
                if reference in known:
                    writer.writerow((reference, format_quantity(max(available, 0))))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.export)


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
