"""One adapter per integration: what the conformance suite needs to know of it, and no more.

An adapter builds a store file of its integration under a folder, makes valid input files
(and one with a bad line) with what applying them must do, gets a store ready to move stock
(the cellar links two till codes first), and reads back what the ledger holds: the stock and
where each line of a document went. Expectations are computed here, from the generated
lines, with Python ints in thousandths; never with the integration's own parser.

A new integration adds a class here and lists it in :data:`ADAPTERS` (or, when its input is
not a file, names its own suite in :data:`OWN_SUITES`); the suite fails for an integration of
the registry that has neither.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa
import yaml
from sqlalchemy.pool import NullPool


@dataclass(frozen=True)
class BadLine:
    """The one bad line of an input: where it is, its text, and words of its reason."""

    line: int
    raw: str
    reason: str


@dataclass(frozen=True)
class Input:
    """An input file and what applying it must do."""

    name: str
    data: bytes
    records: int
    """Physical lines holding a record (not the header, not blank): each must land somewhere."""
    outcomes: dict[str, int]
    """Where those lines land in the ledger once applied (``applied``, ``rejected``,
    ``held``, ...)."""
    lines: tuple[tuple[str, int], ...]
    """The lines that move stock or wait for it, as (reference or till code, thousandths)."""
    bad: BadLine | None = None
    left_out: int = 0
    """Lines the integration leaves out on purpose (a dish in a till's journal): not in the
    ledger, but counted in the run's report of the file."""

    def renamed(self, name: str) -> Input:
        return replace(self, name=name)


@dataclass
class Store:
    """A store file of some integration and the folders the checks look into."""

    config: Path
    store: str
    integration: str
    ledger_url: str
    inbox: Path
    """The import folder (local), or where the test server keeps it (FTP)."""
    errors: Path
    opening: dict[str, int]
    """Opening stock per reference, thousandths."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def archive(self) -> Path:
        return self.inbox / "archive"


class LedgerReader:
    """The ledger read with plain SQL, behind stockbridge's back."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(url, poolclass=NullPool)

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.text(sql), params))

    def stock(self, store: str) -> dict[str, int]:
        rows = self.rows("SELECT reference, on_hand FROM stock WHERE store = :s", s=store)
        return {r.reference: int(r.on_hand) for r in rows}

    def documents(self, store: str) -> list[Any]:
        return self.rows(
            "SELECT id, batch_id, document, digest, status, lines_applied, lines_rejected,"
            " archived_to, error_file, note FROM documents WHERE store = :s ORDER BY id",
            s=store,
        )

    def rejects(self, document_id: int) -> list[Any]:
        return self.rows(
            "SELECT line, raw, reason FROM rejects WHERE document_id = :d ORDER BY line",
            d=document_id,
        )

    def text_values(self) -> list[tuple[str, str, str]]:
        """Every text value of every table of the ledger: (table, column, value)."""
        found = []
        inspector = sa.inspect(self.engine)
        for table in inspector.get_table_names():
            columns = [
                c["name"]
                for c in inspector.get_columns(table)
                if isinstance(c["type"], sa.String | sa.Text)
            ]
            if not columns:
                continue
            listed = ", ".join(columns)
            for row in self.rows(f"SELECT {listed} FROM {table}"):
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        found.append((table, column, str(value)))
        return found


Run = Callable[[Path], Any]
"""Runs a store file to its end in the test process and returns the run's RunSummary."""


class Adapter:
    name: ClassVar[str]
    renamed_copy: ClassVar[str]
    """What the integration makes of the same bytes under another name: ``new document``
    (applied once more, as a document of its own), ``lines repeated`` (a document of its
    own whose lines are all repeats of sales already recorded: they move nothing) or
    ``duplicate``."""
    records_word: ClassVar[str] = "line"

    def make_store(self, root: Path, ledger_url: str, imports: Any = None) -> Store:
        raise NotImplementedError

    def prepare(self, store: Store, run: Run) -> None:
        """Whatever must happen before an input moves stock (nothing, by default)."""

    def valid_input(self, number: int) -> Input:
        raise NotImplementedError

    def bad_input(self, number: int) -> Input:
        raise NotImplementedError

    def expected_stock(self, store: Store, applied: list[Input]) -> dict[str, int]:
        raise NotImplementedError

    def outcomes(self, store: Store, ledger: LedgerReader, document_id: int) -> dict[str, int]:
        """Where the document's lines are in the ledger, by outcome."""
        raise NotImplementedError

    def left_out(self, outcome: Any) -> int:
        """Lines the run reported as left out on purpose (from its ``FileOutcome``)."""
        return 0

    @staticmethod
    def _write(root: Path, store: str, document: dict[str, Any]) -> Path:
        path = root / f"{store}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
        return path


# -- InterStock ---------------------------------------------------------------------------------


class InterStockAdapter(Adapter):
    """Movement files ``reference<TAB>quantity`` against the till's article file."""

    name = "interstock"
    renamed_copy = "new document"
    ARTICLES: ClassVar[dict[str, int]] = {
        "8880000000109": 1_000,
        "8880000000116": 5_000,
        "8880000000123": 7_500,
    }

    def make_store(self, root: Path, ledger_url: str, imports: Any = None) -> Store:
        store = f"conform-is-{uuid.uuid4().hex[:6]}"
        folder = root / store
        (folder / "import").mkdir(parents=True)
        catalogue = folder / "articles.tsv"
        catalogue.write_text(
            "".join(f"{ref}\t{quantity_text(q, '.')}\n" for ref, q in self.ARTICLES.items())
        )
        inbox = folder / "import"
        document = {
            "store": store,
            "integration": "interstock",
            "schedule": {"every": "60s"},
            "ledger": ledger_url,
            "catalogue": str(catalogue),
            "import": imports if imports is not None else str(inbox),
            "export": str(folder / "export" / "articles.txt"),
            "errors": str(folder / "errors"),
            "settle": {"min_age": "0s", "recheck": "0s"},
        }
        return Store(
            self._write(folder, store, document),
            store,
            "interstock",
            ledger_url,
            inbox,
            folder / "errors",
            dict(self.ARTICLES),
        )

    def valid_input(self, number: int) -> Input:
        lines = (
            ("8880000000109", -1_000),
            ("8880000000116", 2_500 + number),
            ("8880000000123", -250),
            ("8880000000116", -1_000),
        )
        text = "".join(f"{ref}\t{quantity_text(q, '.')}\n" for ref, q in lines)
        return Input(
            f"mv-{number:03d}.txt",
            text.encode(),
            records=len(lines),
            outcomes={"applied": len(lines)},
            lines=lines,
        )

    def bad_input(self, number: int) -> Input:
        good = self.valid_input(number)
        rows = good.data.decode().splitlines()
        raw = "8880000000116\tabc"
        rows.insert(2, raw)
        return Input(
            f"mv-bad-{number:03d}.txt",
            ("\n".join(rows) + "\n").encode(),
            records=len(rows),
            outcomes={"applied": len(good.lines), "rejected": 1},
            lines=good.lines,
            bad=BadLine(3, raw, "quantity is not a number"),
        )

    def expected_stock(self, store: Store, applied: list[Input]) -> dict[str, int]:
        stock = Counter(store.opening)
        for item in applied:
            for reference, milli in item.lines:
                stock[reference] += milli
        return dict(stock)

    def outcomes(self, store: Store, ledger: LedgerReader, document_id: int) -> dict[str, int]:
        [row] = ledger.rows(
            "SELECT lines_applied, lines_rejected,"
            " (SELECT COUNT(*) FROM movements m WHERE m.document_id = d.id) AS moves,"
            " (SELECT COUNT(*) FROM rejects r WHERE r.document_id = d.id) AS rejects"
            " FROM documents d WHERE d.id = :d",
            d=document_id,
        )
        assert (row.lines_applied, row.lines_rejected) == (row.moves, row.rejects), row
        found = {"applied": int(row.moves), "rejected": int(row.rejects)}
        return {k: v for k, v in found.items() if v}


# -- Pointex (the wine cellar) ------------------------------------------------------------------

JOURNAL_HEADER = "Date;Heure;Ticket;Code;Libellé;Famille;Quantité;Montant TTC"
FAMILIES = ["Vins rouges", "Vins blancs", "Vins rosés", "Champagnes", "Vins au verre"]
LABELS = {
    "000101": ("CH MARGAUX 15", "Vins rouges"),
    "000104": ("CH TALBOT 16", "Vins rouges"),
    "000501": ("VRE CDR GUIGAL 20", "Vins au verre"),
}


def glass_share(total: int, per: int) -> int:
    """Thousandths of a bottle for ``total`` thousandths of glasses, ``per`` a bottle:
    total / per rounded half up (towards +inf) to a whole thousandth, exactly."""
    return math.floor(Fraction(total, per) + Fraction(1, 2))


def quantity_text(milli: int, mark: str = ",") -> str:
    """Thousandths as text: ``-2``, ``2,5`` (the journal's decimal comma by default)."""
    sign = "-" if milli < 0 else ""
    whole, fraction = divmod(abs(milli), 1000)
    digits = f"{fraction:03d}".rstrip("0")
    return f"{sign}{whole}{mark}{digits}" if digits else f"{sign}{whole}"


def journal_line(day: str, time: str, ticket: int, code: str, milli: int, amount: str) -> str:
    label, family = LABELS[code]
    return f"{day};{time};{ticket};{code};{label};{family};{quantity_text(milli)};{amount}"


class PointexAdapter(Adapter):
    """The till's nightly journal; sales of linked till codes move cellar items."""

    name = "pointex"
    renamed_copy = "lines repeated"
    CELLAR: ClassVar[list[tuple[str, str, int, int]]] = [
        ("V001", "Château Margaux", 2015, 6_000),
        ("V004", "Château Talbot", 2016, 12_000),
        ("V019", "Côtes du Rhône", 2020, 24_000),
    ]
    LINKS: ClassVar[dict[str, tuple[str, int]]] = {"000101": ("V001", 1), "000501": ("V019", 6)}
    """Linked before any journal; ``000104`` stays unlinked, so its lines are held."""

    def make_store(self, root: Path, ledger_url: str, imports: Any = None) -> Store:
        store = f"conform-px-{uuid.uuid4().hex[:6]}"
        folder = root / store
        (folder / "sales").mkdir(parents=True)
        catalogue = folder / "cellar.csv"
        catalogue.write_text(
            "item;name;vintage;volume;quantity\n"
            + "".join(f"{i};{n};{v};75;{q // 1000}\n" for i, n, v, q in self.CELLAR),
            encoding="utf-8",
        )
        inbox = folder / "sales"
        document = {
            "store": store,
            "integration": "pointex",
            "timezone": "Europe/Paris",
            "schedule": {"cron": "0 6 * * *", "timezone": "Europe/Paris"},
            "ledger": ledger_url,
            "catalogue": str(catalogue),
            "import": imports if imports is not None else str(inbox),
            "errors": str(folder / "errors"),
            "export": str(folder / "export" / "cellar-stock.csv"),
            "families": FAMILIES,
            "settle": {"min_age": "0s", "recheck": "0s"},
        }
        return Store(
            self._write(folder, store, document),
            store,
            "pointex",
            ledger_url,
            inbox,
            folder / "errors",
            {item: quantity for item, _, _, quantity in self.CELLAR},
            {"links": dict(self.LINKS)},
        )

    def prepare(self, store: Store, run: Run) -> None:
        """A first run opens the cellar; then two till codes are linked (one by the glass)."""
        from stockbridge.integrations.pointex.links import Cellar
        from stockbridge.ledger.ledger import Ledger

        summary = run(store.config)
        assert summary.state == "completed", summary.render()
        ledger = Ledger.open(store.ledger_url)
        try:
            cellar = Cellar(ledger, store.store)
            for code, (item, per) in store.extra["links"].items():
                cellar.link(code, item, per)
        finally:
            ledger.close()

    def _rows(self, number: int) -> tuple[list[str], tuple[tuple[str, int], ...]]:
        ticket = 1000 + 10 * number
        glasses = 2_000 + 1_000 * (number % 2)
        lines = (
            ("000101", 1_000),
            ("000501", glasses),
            ("000104", 1_000),
            ("000501", 1_000),
            ("000101", -1_000 if number % 3 == 0 else 1_000),
        )
        rows = [
            journal_line("27/11/2026", "19:31:02", ticket, *lines[0], "480,00"),
            journal_line("27/11/2026", "19:58:47", ticket + 1, *lines[1], "14,00"),
            journal_line("27/11/2026", "20:17:15", ticket + 2, *lines[2], "68,00"),
            f"27/11/2026;20:17:15;{ticket + 2};000312;CROQUE MONSIEUR;Cuisine;2;24,00",
            journal_line("27/11/2026", "23:15:03", ticket + 3, *lines[3], ""),  # offered
            journal_line("28/11/2026", "00:22:51", ticket + 4, *lines[4], "480,00"),
        ]
        return rows, lines

    @staticmethod
    def _journal(rows: list[str]) -> bytes:
        return ("\r\n".join([JOURNAL_HEADER, *rows]) + "\r\n").encode("utf-8-sig")

    def valid_input(self, number: int) -> Input:
        rows, lines = self._rows(number)
        linked = sum(1 for code, _ in lines if code in self.LINKS)
        return Input(
            f"journal-{number:03d}.csv",
            self._journal(rows),
            records=len(rows),
            outcomes={"applied": linked, "held": len(lines) - linked},
            lines=lines,
            left_out=1,
        )

    def bad_input(self, number: int) -> Input:
        good = self.valid_input(number)
        rows, _ = self._rows(number)
        # A label holding the delimiter, unquoted: 9 fields where the header has 8.
        raw = "28/11/2026;22:18:02;1021;000109;CH YQUEM 11; 1/2 BTL;Vins blancs;1;145,00"
        rows.insert(2, raw)
        return Input(
            f"journal-bad-{number:03d}.csv",
            self._journal(rows),
            records=len(rows),
            outcomes={**good.outcomes, "rejected": 1},
            lines=good.lines,
            bad=BadLine(4, raw, "9 fields separated by ';' where the header has 8"),
            left_out=good.left_out,
        )

    def expected_stock(self, store: Store, applied: list[Input]) -> dict[str, int]:
        links = store.extra["links"]
        totals: Counter[str] = Counter()
        for item in applied:
            for code, milli in item.lines:
                totals[code] += milli
        stock = Counter(store.opening)
        for code, (item, per) in links.items():
            stock[item] -= glass_share(totals[code], per)
        return dict(stock)

    def outcomes(self, store: Store, ledger: LedgerReader, document_id: int) -> dict[str, int]:
        [document] = ledger.rows(
            "SELECT lines_applied, lines_rejected, note FROM documents WHERE id = :d",
            d=document_id,
        )
        held = {
            r.status: int(r.n)
            for r in ledger.rows(
                "SELECT status, COUNT(*) AS n FROM held_lines WHERE document_id = :d"
                " GROUP BY status",
                d=document_id,
            )
        }
        moves = ledger.rows(
            "SELECT COUNT(*) AS n FROM movements WHERE document_id = :d", d=document_id
        )[0].n
        rejects = len(ledger.rejects(document_id))
        assert (document.lines_applied, document.lines_rejected) == (moves, rejects), document
        assert held.get("applied", 0) == moves, (held, moves)
        found = {
            "applied": held.get("applied", 0),
            "held": held.get("held", 0),
            "ignored": held.get("ignored", 0),
            "repeated": held.get("repeated", 0),
            "rejected": rejects,
        }
        return {k: v for k, v in found.items() if v}

    def left_out(self, outcome: Any) -> int:
        """Lines of other families than the drinks: only the run's report counts them."""
        found = re.search(r"(\d+) line\(s\) of other families", outcome.note or "")
        return int(found.group(1)) if found else 0


# -- ShopFactory ---------------------------------------------------------------------------------


class ShopFactoryAdapter(InterStockAdapter):
    """Movement files (InterStock's format) edit the shop's SKUs, known from its stock file.

    The store's first run takes the shop's live levels as the opening stock; then the same
    movement files as InterStock's apply to those SKUs, and each run publishes the stock file
    back to the same place (the shop's "online" file)."""

    name = "shopfactory"
    SKUS: ClassVar[dict[str, int]] = dict(InterStockAdapter.ARTICLES)

    def make_store(self, root: Path, ledger_url: str, imports: Any = None) -> Store:
        store = f"conform-sf-{uuid.uuid4().hex[:6]}"
        folder = root / store
        (folder / "import").mkdir(parents=True)
        online = folder / "shop" / "levels.txt"
        online.parent.mkdir()
        online.write_text(
            "SKU\tQuantity\n"
            + "".join(f"{sku}\t{quantity_text(q, '.')}\n" for sku, q in self.SKUS.items())
        )
        inbox = folder / "import"
        document = {
            "store": store,
            "integration": "shopfactory",
            "schedule": {"every": "5m"},
            "ledger": ledger_url,
            "online": str(online),
            "import": imports if imports is not None else str(inbox),
            "errors": str(folder / "errors"),
            "settle": {"min_age": "0s", "recheck": "0s"},
        }
        return Store(
            self._write(folder, store, document),
            store,
            "shopfactory",
            ledger_url,
            inbox,
            folder / "errors",
            dict(self.SKUS),
            {"online": online},
        )

    def prepare(self, store: Store, run: Run) -> None:
        """The first run takes the shop's levels as they are: its SKUs become known."""
        summary = run(store.config)
        assert summary.state == "completed", summary.render()
        assert "first run" in summary.render()


ADAPTERS: dict[str, Adapter] = {
    a.name: a for a in (InterStockAdapter(), PointexAdapter(), ShopFactoryAdapter())
}

OWN_SUITES: dict[str, str] = {"chain": "test_chain", "seliton": "test_seliton"}
"""Integrations whose input is not a file (rows in a till database, orders from a shop API):
name -> the module under ``tests/conformance/`` that proves the same four properties in that
integration's terms (the same input seen twice, recovery after a kill, secrets nowhere, a bad
record reported with where it came from, its raw text and reason)."""
