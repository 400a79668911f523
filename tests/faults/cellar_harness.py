"""The wine cellar under SIGKILL: seeded journals and answers, a tracer for ``links``, exact checks.

A cellar store (integration ``pointex``) gets the sample cellar (``data_samples/pointex``)
and seeded nightly journals of till codes written the ways the till writes them (UTF-8 with
or without its mark, Windows-1252, CR LF, quoted labels, refunds, half glasses, offered
glasses without an amount, dishes, bad lines). Each till code has the answer its owner
gives (``yes``, ``link --per 6``, ``almost``, ``no``) and may be unlinked again.

What must hold is computed here from the generated lines, with Python ints in thousandths
and :class:`fractions.Fraction`, never with stockbridge's parser, mapping or ledger code.

Run as ``python -c 'from tests.faults.cellar_harness import traced_main; ...' ARGS`` (see
:data:`BOOT`), the CLI runs unchanged under :class:`CellarTracer`: the fault tests' tracer
(``tests/faults/_sbrun.py``) with the cellar's own statements (held lines, links, items, the
store lock) and for ``links`` commands too, so a kill is named by the phase it hit and
crash points can sit inside an answer's transaction.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from tests.faults.harness import (
    EXIT_BUSY,
    EXIT_OK,
    LIVE,
    Launched,
    LedgerView,
    LocalFolder,
    _advance,
    temp_files,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CELLAR = ROOT / "data_samples" / "pointex" / "cellar.csv"
FAMILIES = ["Vins rouges", "Vins blancs", "Vins rosés", "Champagnes", "Vins au verre"]
HEADER = "Date;Heure;Ticket;Code;Libellé;Famille;Quantité;Montant TTC"
BOOT = (
    f"import sys; sys.path.insert(0, {str(ROOT)!r});"
    " from tests.faults.cellar_harness import traced_main; sys.exit(traced_main())"
)
"""``python -c BOOT ARGS`` is ``stockbridge ARGS`` under the tracer."""


# -- the till's codes and what the owner answers --------------------------------------------------


@dataclass(frozen=True)
class TillCode:
    code: str
    label: str
    family: str
    price: int
    """Cents a unit."""
    answer: str
    """``yes``, ``link``, ``almost`` or ``no``: what the owner answers for it."""
    item: str | None = None
    """The item a named answer links to (``yes ITEM``, ``link ITEM``, ``almost``'s base)."""
    per: int = 1
    vintage: int | None = None
    name: str | None = None

    @property
    def glass(self) -> bool:
        return self.per > 1


CODES = (
    TillCode("000101", "CH MARGAUX 15", "Vins rouges", 48000, "yes", "V001"),
    TillCode("000102", "CH MARGAUX 17", "Vins rouges", 45000, "almost", "V001", vintage=2017),
    TillCode("000104", "CH TALBOT 16", "Vins rouges", 6800, "yes", "V004"),
    TillCode("000105", "CH TALBOT 17", "Vins rouges", 6800, "almost", "V005", vintage=2017),
    TillCode("000107", "MAG LYNCH BAGES 14", "Vins rouges", 29000, "yes", "V007"),
    TillCode("000121", "CHABLIS 1ER MTEE TONNERRE FEVRE 20", "Vins blancs", 6200, "yes", "V016"),
    TillCode("000131", "CDP BEAUCASTEL 17 BTL", "Vins rouges", 12000, "yes", "V022"),
    TillCode("000141", "SANCERRE VACHERON 22", "Vins blancs", 4600, "link", "V027"),
    TillCode("000151", "BILLECART BRUT RES", "Champagnes", 7800, "yes", "V031"),
    TillCode("000152", "MAG BILLECART BRUT RES", "Champagnes", 16000, "yes", "V032"),
    TillCode("000161", "DNE OTT CH DE SELLE 22", "Vins rosés", 5800, "yes", "V037"),
    TillCode(
        "000171",
        "CAHORS CLOS TRIGUEDINA 19",
        "Vins rouges",
        4200,
        "no",
        vintage=2019,
        name="Cahors Clos Triguedina",
    ),
    TillCode("000501", "VRE CDR GUIGAL 20", "Vins au verre", 700, "link", "V019", per=6),
    TillCode("000502", "VRE SANCERRE VACHERON 22", "Vins au verre", 900, "link", "V027", per=6),
    TillCode("000503", "VRE CHABLIS FEVRE 22", "Vins au verre", 800, "link", "V017", per=6),
)
BY_CODE = {c.code: c for c in CODES}
DISHES = (
    ("000311", "PLANCHE MIXTE", "Cuisine", 1850),
    ("000312", "CROQUE MONSIEUR", "Cuisine", 1200),
    ("000313", '"TARTARE BOEUF; FRITES"', "Cuisine", 2200),
    ("000321", "MOELLEUX CHOCOLAT", "Desserts", 900),
)


def share(total: int, per: int) -> int:
    """Thousandths of a bottle for ``total`` thousandths of till units, ``per`` a bottle:
    total / per rounded half up (towards +inf) to a whole thousandth, exactly."""
    return math.floor(Fraction(total, per) + Fraction(1, 2))


def quantity_text(milli: int) -> str:
    """Thousandths as the journal writes them: ``2``, ``-1``, ``0,5``."""
    sign = "-" if milli < 0 else ""
    whole, fraction = divmod(abs(milli), 1000)
    digits = f"{fraction:03d}".rstrip("0")
    return f"{sign}{whole},{digits}" if digits else f"{sign}{whole}"


def amount_text(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100},{abs(cents) % 100:02d}"


# -- journals -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalFile:
    """One generated journal and what applying it must do."""

    name: str
    data: bytes
    drinks: tuple[tuple[int, str, int], ...]
    """(physical line, till code, thousandths) of every drink line."""
    rejects: dict[int, str]
    """Physical line -> raw text of every line that must be rejected."""
    not_drinks: int
    records: int
    """Lines that are neither the header nor blank: each one lands somewhere."""

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def batch_id(self) -> str:
        return hashlib.sha256(f"{self.name}\0{self.digest}".encode()).hexdigest()[:32]

    @property
    def archive_name(self) -> str:
        stem, _, suffix = self.name.rpartition(".")
        return f"{stem}.{self.digest[:12]}.{suffix}"

    @property
    def error_name(self) -> str:
        return f"{self.name}.{self.digest[:12]}.errors.txt"


def read_opening(path: Path) -> dict[str, int]:
    """The cellar catalogue's opening quantities, thousandths, read with the csv module."""
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")), delimiter=";")
    return {row["item"]: int(Decimal(row["quantity"]) * 1000) for row in rows}


@dataclass
class Cellar:
    """A cellar store under test: its folders, catalogue, every journal delivered so far."""

    config: Path
    store: str
    ledger_url: str
    opening: dict[str, int]
    rng: random.Random
    lines: int = 400
    files: dict[str, JournalFile] = field(default_factory=dict)
    nights: int = 0

    def __post_init__(self) -> None:
        root = self.config.parent
        self.inbox = LocalFolder(root / "sales")
        self.archive = LocalFolder(root / "sales" / "archive")
        self.errors = LocalFolder(root / "errors")
        self.export = LocalFolder(root / "export")
        self.export_name = "cellar-stock.csv"

    def deliver(self, count: int) -> list[JournalFile]:
        """``count`` new nightly journals into the drop folder, oldest first."""
        made = []
        now = time.time() - 60
        for _ in range(count):
            self.nights += 1
            journal = self._journal(self.nights)
            self.inbox.write(journal.name, journal.data, now + self.nights * 0.001)
            self.files[journal.name] = journal
            made.append(journal)
        return made

    def pending(self) -> list[str]:
        return self.inbox.names()

    def _journal(self, night: int) -> JournalFile:
        rng = self.rng
        cp1252 = rng.random() < 0.3
        mark = not cp1252 and rng.random() < 0.5
        newline = "\r\n" if rng.random() < 0.7 else "\n"
        with_rejects = rng.random() < 0.6
        day = datetime(2026, 1, 1, 18, 0) + timedelta(days=night)
        rows = [HEADER]
        drinks: list[tuple[int, str, int]] = []
        rejects: dict[int, str] = {}
        not_drinks = records = 0
        moment, ticket = day, 1000 * night
        weights = [3 if c.glass else 1 for c in CODES]
        for _ in range(self.lines):
            moment += timedelta(seconds=rng.randint(5, 60))
            ticket += rng.random() < 0.4
            number = len(rows) + 1
            when = f"{moment:%d/%m/%Y};{moment:%H:%M:%S};{ticket}"
            roll = rng.random()
            if roll < 0.003:
                rows.append(rng.choice(["", ";;;;;;;"]))  # blank: neither a record nor a reject
                continue
            records += 1
            code = rng.choices(CODES, weights)[0]
            if with_rejects and roll < 0.012:
                raw = rng.choice(
                    [
                        f"{when};000109;CH YQUEM 11; 1/2 BTL;Vins blancs;1;145,00",  # 9 fields
                        f"{when};{code.code};{code.label};{code.family};abc;12,00",
                        f"{when};{code.code};{code.label};{code.family};1.5;12,00",
                        f"{when};;{code.label};{code.family};1;12,00",
                        f"31/02/2026;21:00:00;{ticket};{code.code};{code.label};{code.family};1;",
                    ]
                )
                rows.append(raw)
                rejects[number] = raw
            elif roll < 0.15:
                dish, label, family, price = rng.choice(DISHES)
                units = rng.choice(["1", "2", "1,5", "abc"])  # a dish's value is never checked
                rows.append(f"{when};{dish};{label};{family};{units};{amount_text(price)}")
                not_drinks += 1
            else:
                if code.glass:
                    milli = 500 if rng.random() < 0.08 else 1000 * rng.choice([1, 1, 2, 2, 3])
                else:
                    milli = rng.choices([1000, 2000, -1000], [85, 10, 5])[0]
                label = f'"{code.label}"' if rng.random() < 0.03 else code.label
                cents = code.price * milli // 1000
                amount = "" if rng.random() < 0.05 else amount_text(cents)
                rows.append(
                    f"{when};{code.code};{label};{code.family};{quantity_text(milli)};{amount}"
                )
                drinks.append((number, code.code, milli))
        text = newline.join(rows) + newline
        if cp1252:
            data = text.encode("cp1252")
        else:
            data = (b"\xef\xbb\xbf" if mark else b"") + text.encode("utf-8")
        name = f"journal-{day:%Y-%m-%d}-{night:04d}.csv"
        return JournalFile(name, data, tuple(drinks), rejects, not_drinks, records)

    # -- what must hold, given what is committed and linked --------------------------------

    def totals(self, committed: list[str]) -> Counter[str]:
        """Till units (thousandths) per code over the committed journals."""
        found: Counter[str] = Counter()
        for name in committed:
            for _, code, milli in self.files[name].drinks:
                found[code] += milli
        return found

    def expected_stock(self, committed: list[str], links: dict[str, LinkRow]) -> dict[str, int]:
        """Catalogue opening + the exact shares of the linked codes' committed lines."""
        stock: Counter[str] = Counter(self.opening)
        totals = self.totals(committed)
        for code, link in links.items():
            if link.status == "linked":
                stock[link.reference] -= share(totals[code], link.per)
        return dict(stock)


def make_cellar(root: Path, ledger_url: str, seed: int, lines: int = 400, **overrides) -> Cellar:
    """A fresh cellar store under ``root`` with the sample cellar catalogue."""
    store = f"cave-{seed}-{uuid.uuid4().hex[:6]}"
    folder = root / store
    (folder / "sales").mkdir(parents=True)
    catalogue = folder / "cellar.csv"
    catalogue.write_bytes(SAMPLE_CELLAR.read_bytes())
    document: dict[str, Any] = {
        "store": store,
        "integration": "pointex",
        "timezone": "Europe/Paris",
        "schedule": {"cron": "0 6 * * *", "timezone": "Europe/Paris"},
        "ledger": ledger_url,
        "catalogue": str(catalogue),
        "import": str(folder / "sales"),
        "errors": str(folder / "errors"),
        "export": str(folder / "export" / "cellar-stock.csv"),
        "families": FAMILIES,
        "settle": {"min_age": "0s", "recheck": "0.2s"},
        "batch": {"max_files": 2},
    }
    document.update(overrides)
    config = folder / f"{store}.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return Cellar(config, store, ledger_url, read_opening(catalogue), random.Random(seed), lines)


# -- answers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkRow:
    status: str
    reference: str | None
    per: int
    answer: str
    units_applied: int


@dataclass(frozen=True)
class Command:
    """One ``stockbridge links`` command and what the code's link must be once it is done."""

    kind: str
    """``yes``, ``link``, ``almost``, ``no`` or ``unlink`` (the subcommand)."""
    code: str
    args: tuple[str, ...]
    item: str | None = None
    """The item it links to, when the command names it; None: whichever it picks."""
    per: int = 1

    @property
    def label(self) -> str:
        """``links yes 000101 V001`` (without the store and the store file)."""
        args = list(self.args)
        for option in ("--store", "--config"):
            at = args.index(option)
            del args[at : at + 2]
        return " ".join(f"'{a}'" if " " in a else a for a in args)

    def done(self, link: LinkRow | None, items: dict[str, Any]) -> bool:
        """Whether ``link`` is what this command makes of the code."""
        if self.kind == "unlink":
            return link is None
        if link is None or link.status != "linked" or link.per != self.per:
            return False
        if link.answer != self.kind or link.reference not in items:
            return False
        if self.item is not None and self.kind != "almost":
            return link.reference == self.item
        till = BY_CODE[self.code]
        item = items[link.reference]
        if self.kind == "almost":
            return item.vintage == till.vintage and item.origin in ("catalogue", "almost")
        if self.kind == "no":
            return (item.name, item.vintage, item.origin) == (till.name, till.vintage, "no")
        return True  # yes without an item: whichever item was the first suggestion


def answer_command(cellar: Cellar, till: TillCode, waiting: bool, rng: random.Random) -> Command:
    """The owner's answer for ``till``; without an item when sales wait (the suggestion)."""
    base = ["links", till.answer, "--store", cellar.store, "--config", str(cellar.config)]
    named = not waiting or rng.random() < 0.3
    if till.answer == "yes":
        item = till.item if named else None
        args = [*base, till.code, *([item] if item else [])]
        return Command("yes", till.code, tuple(args), item)
    if till.answer == "link":
        per = ["--per", str(till.per)] if till.per > 1 else []
        args = [*base, till.code, str(till.item), *per]
        return Command("link", till.code, tuple(args), till.item, till.per)
    if till.answer == "almost":
        item = till.item if named else None
        args = [*base, till.code, *([item] if item else []), "--vintage", str(till.vintage)]
        return Command("almost", till.code, tuple(args), item)
    args = [*base, till.code, "--name", str(till.name), "--vintage", str(till.vintage)]
    return Command("no", till.code, tuple(args))


def unlink_command(cellar: Cellar, code: str) -> Command:
    args = ("links", "unlink", "--store", cellar.store, "--config", str(cellar.config), code)
    return Command("unlink", code, args)


# -- the ledger, read with plain SQL --------------------------------------------------------------


class CellarView(LedgerView):
    def cellar_documents(self, store: str) -> list[Any]:
        return self._rows(
            "SELECT d.id, d.batch_id, d.document, d.digest, d.source, d.status, d.lines_applied,"
            " d.lines_rejected, d.note,"
            " (SELECT COUNT(*) FROM movements m WHERE m.document_id = d.id) AS moves,"
            " (SELECT COUNT(*) FROM rejects r WHERE r.document_id = d.id) AS rejects"
            " FROM documents d WHERE d.store = :s ORDER BY d.id",
            s=store,
        )

    def links(self, store: str) -> dict[str, LinkRow]:
        rows = self._rows(
            "SELECT source_reference, status, reference, per, answer, units_applied"
            " FROM links WHERE store = :s",
            s=store,
        )
        return {
            r.source_reference: LinkRow(
                r.status, r.reference, int(r.per), r.answer, int(r.units_applied)
            )
            for r in rows
        }

    def items(self, store: str) -> dict[str, Any]:
        rows = self._rows(
            "SELECT reference, name, vintage, origin FROM items WHERE store = :s", s=store
        )
        return {r.reference: r for r in rows}

    def held(self, store: str) -> list[Any]:
        return self._rows(
            "SELECT document_id, line, source_reference, quantity, status, reference"
            " FROM held_lines WHERE store = :s",
            s=store,
        )

    def waiting(self, store: str) -> Counter[str]:
        rows = self._rows(
            "SELECT source_reference, COUNT(*) AS n FROM held_lines"
            " WHERE store = :s AND status = 'held' GROUP BY source_reference",
            s=store,
        )
        return Counter({r.source_reference: int(r.n) for r in rows})

    def rejects_of_store(self, store: str) -> list[Any]:
        return self._rows(
            "SELECT r.document_id, r.line, r.raw FROM rejects r"
            " JOIN documents d ON d.id = r.document_id WHERE d.store = :s",
            s=store,
        )

    def movement_sums(self, store: str) -> list[Any]:
        """Net movements per (input line, till code, item); a line is its origin's."""
        return self._rows(
            "SELECT COALESCE(origin_document_id, document_id) AS document_id,"
            " COALESCE(origin_line, line) AS line, source_reference, reference,"
            " SUM(quantity) AS quantity, COUNT(*) AS n FROM movements WHERE store = :s"
            " GROUP BY COALESCE(origin_document_id, document_id), COALESCE(origin_line, line),"
            " source_reference, reference",
            s=store,
        )

    def stock_sums(self, store: str) -> dict[str, int]:
        rows = self._rows(
            "SELECT reference, SUM(quantity) AS q FROM movements WHERE store = :s"
            " GROUP BY reference",
            s=store,
        )
        return {r.reference: int(r.q) for r in rows}


# -- checks ----------------------------------------------------------------------------------------


@dataclass
class CellarState:
    pending: int = 0
    archived: int = 0
    committed: list[str] = field(default_factory=list)
    applied_not_archived: int = 0
    catalogue_opened: bool = False
    answers: int = 0
    held: int = 0
    links: dict[str, LinkRow] = field(default_factory=dict)
    export_bytewise: bool | None = None
    """Whether the stock file lists the items in bytewise order (final check only)."""


def check_cellar(
    cellar: Cellar, view: CellarView, answers: tuple[int, int] = (0, 10**9)
) -> CellarState:
    """What must hold at *any* instant, whatever was killed where.

    Each journal is in exactly one place (drop folder or archive, same bytes); an archived
    one is in the ledger, a pending one is not or is 'applied' (committed, not archived).
    No journal is in the ledger twice. Each committed journal holds exactly its rejects, and
    exactly one held line per drink line, whose status is what its code's link says now
    (held, or applied to the linked item). Per input line, the movements net to nothing for
    a code not linked, to minus its quantity for a bottle link; per code, to minus the exact
    share of its lines' total. Each item's stock is its opening plus exactly those shares.
    The ledger holds between ``answers`` (completed, launched) answer documents.
    """
    state = CellarState()
    store = cellar.store
    documents = view.cellar_documents(store)
    mine = {j.batch_id: j for j in cellar.files.values()}
    by_batch: dict[str, Any] = {}
    for row in documents:
        assert row.batch_id not in by_batch, f"document {row.batch_id} twice"
        by_batch[row.batch_id] = row
    names = Counter(row.document for row in documents if row.batch_id in mine)
    assert all(n == 1 for n in names.values()), f"a journal applied twice: {names}"

    pending, archive = set(cellar.inbox.names()), set(cellar.archive.names())
    committed: list[str] = []
    for name, journal in cellar.files.items():
        in_import, in_archive = name in pending, journal.archive_name in archive
        assert in_import != in_archive, f"{name}: in import {in_import}, archived {in_archive}"
        row = by_batch.get(journal.batch_id)
        if in_archive:
            assert cellar.archive.read(journal.archive_name) == journal.data, name
            assert row is not None, f"{name} was archived but the ledger has no document"
            state.archived += 1
        else:
            state.pending += 1
            assert row is None or row.status == "applied", f"{name}: {row.status} but pending"
        if row is None:
            continue
        committed.append(name)
        state.applied_not_archived += row.status == "applied"
        assert (row.rejects, row.lines_rejected) == (len(journal.rejects),) * 2, name
    state.committed = committed

    others = [r for r in documents if r.batch_id not in mine]
    openings = [r for r in others if r.note == "opening stock"]
    answer_rows = [r for r in others if r.source == "pointex:links"]
    assert len(openings) + len(answer_rows) == len(others), [r.document for r in others]
    assert len(openings) <= 1, "the cellar was opened twice"
    state.catalogue_opened = bool(openings)
    state.answers = len(answer_rows)
    low, high = answers
    assert low <= state.answers <= high, f"{state.answers} answers, expected {low}..{high}"
    assert all(r.status == "archived" for r in answer_rows)

    items = view.items(store)
    links = view.links(store)
    state.links = links
    if not state.catalogue_opened:
        assert not committed and not items and not view.stock(store), "stock before the cellar"
        assert not links and not state.answers
        return state
    assert openings[0].moves == len(cellar.opening)
    assert set(cellar.opening) <= set(items), "a catalogue item is missing"
    for code, link in links.items():
        assert link.status == "linked" and link.reference in items, (code, link)

    # Every drink line of a committed journal: one held line, its status the link's.
    wanted: dict[tuple[int, int], tuple[str, int]] = {}
    for name in committed:
        document_id = by_batch[cellar.files[name].batch_id].id
        for line, code, milli in cellar.files[name].drinks:
            wanted[(document_id, line)] = (code, milli)
    held = view.held(store)
    found = {(int(r.document_id), int(r.line)): r for r in held}
    assert len(found) == len(held) and set(found) == set(wanted), (
        f"held lines: {len(set(found) - set(wanted))} unexpected,"
        f" {len(set(wanted) - set(found))} missing"
    )
    for key, row in found.items():
        code, milli = wanted[key]
        link = links.get(code)
        status = ("held", None) if link is None else ("applied", link.reference)
        assert (row.source_reference, int(row.quantity)) == (code, milli), (key, row)
        assert (row.status, row.reference) == status, (key, row, link)
    state.held = sum(1 for r in held if r.status == "held")

    rejects = {(int(r.document_id), int(r.line)): r.raw for r in view.rejects_of_store(store)}
    expected_rejects = {
        (by_batch[cellar.files[n].batch_id].id, line): raw
        for n in committed
        for line, raw in cellar.files[n].rejects.items()
    }
    assert rejects == expected_rejects, "rejects differ from the bad lines"

    # Movements: per input line, per code, per item.
    totals = cellar.totals(committed)
    per_code: dict[str, Counter[str]] = defaultdict(Counter)
    for row in view.movement_sums(store):
        if row.source_reference is None:
            continue  # the opening stock
        key = (int(row.document_id), int(row.line))
        assert key in wanted, f"movement for {key}, which is no drink line"
        code, milli = wanted[key]
        assert row.source_reference == code, (key, row)
        per_code[code][row.reference] += int(row.quantity)
        link = links.get(code)
        net = int(row.quantity)
        if link is None or link.reference != row.reference:
            assert net == 0, f"{code} line {key}: {net} left on {row.reference}"
        elif link.per == 1:
            assert net == -milli, f"{code} line {key}: {net} for {milli}"
    for code in BY_CODE:
        link = links.get(code)
        moved = {ref: q for ref, q in per_code.get(code, {}).items() if q}
        if link is None:
            assert not moved, f"{code} is not linked but moved {moved}"
            continue
        assert link.units_applied == totals[code], (code, link, totals[code])
        want = -share(totals[code], link.per)
        assert moved == ({link.reference: want} if want else {}), (code, link, moved, want)

    expected = cellar.expected_stock(committed, links)
    stock = view.stock(store)
    assert all(reserved == 0 for _, reserved in stock.values())
    actual = {ref: on_hand for ref, (on_hand, _) in stock.items()}
    wrong = sorted(
        ref for ref in set(actual) | set(expected) if actual.get(ref, 0) != expected.get(ref, 0)
    )
    assert not wrong, "stock differs: " + ", ".join(
        f"{ref}: ledger {actual.get(ref, 0)} expected {expected.get(ref, 0)}" for ref in wrong[:5]
    )
    sums = view.stock_sums(store)
    assert all(sums.get(ref, 0) == q for ref, q in actual.items()), "stock != its movements"
    assert set(actual) <= set(items), "stock for something that is no item"
    return state


def check_cellar_final(cellar: Cellar, view: CellarView, answers: tuple[int, int]) -> CellarState:
    """After a completed run and every code answered: all applied once, nothing waiting,
    everything archived once, one error file per journal with bad lines, the stock file."""
    state = check_cellar(cellar, view, answers)
    assert state.pending == 0, f"journals left in the drop folder: {cellar.pending()}"
    assert state.applied_not_archived == 0
    assert state.held == 0, "sales still waiting for a link"
    assert set(state.links) == set(BY_CODE), sorted(set(BY_CODE) - set(state.links))
    assert cellar.archive.names() == sorted(j.archive_name for j in cellar.files.values())
    leftovers = temp_files(cellar.errors) + temp_files(cellar.export)
    assert not leftovers, f"temporary files left visible: {leftovers}"
    wanted = sorted(j.error_name for j in cellar.files.values() if j.rejects)
    assert cellar.errors.names() == wanted, "one error file per journal with bad lines"
    for journal in cellar.files.values():
        if journal.rejects:
            rows = cellar.errors.read(journal.error_name).decode().splitlines()[2:]
            lines = {int(r.split("\t", 3)[1]): r.split("\t", 3)[3] for r in rows}
            assert lines == journal.rejects, journal.name

    stock = {ref: on_hand for ref, (on_hand, _) in view.stock(cellar.store).items()}
    items = view.items(cellar.store)
    text = cellar.export.read(cellar.export_name).decode("utf-8-sig")
    header, *rows = text.split("\r\n")[:-1]
    assert header == "item;name;vintage;quantity"
    exported = {}
    for row in csv.reader(rows, delimiter=";"):
        exported[row[0]] = int(Decimal(row[-1]) * 1000)
    assert len(rows) == len(exported) and set(exported) == set(items), "stock file rows"
    assert exported == {ref: stock.get(ref, 0) for ref in items}, "stock file != ledger"
    state.export_bytewise = list(exported) == sorted(items)
    return state


# -- naming where a kill landed --------------------------------------------------------------------

RUN_PHASES = (
    "start-up",
    "catalogue",
    "listing",
    "reading files",
    "parsing",
    "ledger transaction",
    "committed, not archived",
    "error files",
    "archiving",
    "export",
    "finishing",
)
COMMAND_PHASES = (
    "start-up",
    "ledger open, reading",
    "lock taken",
    "answer transaction",
    "committed",
)


def run_phase_at(events: list[tuple[float, str]], moment: float) -> str:
    """The phase of a ``stockbridge run`` at ``moment`` (the fault harness's names)."""
    phase = "start-up"
    for at, name in events:
        if at > moment:
            break
        if name in ("tx-held", "tx-units", "tx-link"):
            name = "tx-movements"
        phase = _advance(phase, "commit" if name == "tx-commit" else name)
    return phase


def command_phase_at(events: list[tuple[float, str]], moment: float) -> str:
    """The phase of a ``stockbridge links`` command at ``moment``."""
    phase = "start-up"
    for at, name in events:
        if at > moment:
            break
        if name == "ledger-open":
            phase = "ledger open, reading"
        elif name == "lock":
            phase = "lock taken"
        elif name == "tx-commit":
            phase = "committed"
        elif name.startswith("tx-"):
            phase = "answer transaction"
    return phase


# -- launching -------------------------------------------------------------------------------------


class CellarRunner:
    """Starts traced ``stockbridge run`` and ``stockbridge links`` processes for one cellar,
    each in its own session (process group)."""

    def __init__(self, cellar: Cellar, env: dict[str, str], folder: Path):
        self.cellar, self.env, self.folder = cellar, env, folder
        folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def start(self, args: list[str] | tuple[str, ...], crash: str | None = None) -> Launched:
        self.count += 1
        trace = self.folder / f"trace-{self.count:03d}.txt"
        output = self.folder / f"output-{self.count:03d}.txt"
        env = {**self.env, "SB_TRACE": str(trace)}
        env.pop("SB_PAUSE", None)
        if crash:
            env["SB_CRASH"] = crash
        else:
            env.pop("SB_CRASH", None)
        with open(output, "wb") as sink:
            started = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, "-c", BOOT, *args],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=ROOT,
            )
        launched = Launched(process, started, trace, output)
        LIVE.append(launched)
        return launched

    def start_run(self, crash: str | None = None) -> Launched:
        return self.start(["run", str(self.cellar.config)], crash)

    def complete(self, args: list[str] | tuple[str, ...], attempts: int = 20) -> Launched:
        """To the end; a run skipped because a killed one's session still holds the lock is
        tried again."""
        for _ in range(attempts):
            launched = self.start(args)
            code = launched.wait()
            if code != EXIT_BUSY:
                assert code == EXIT_OK, f"{' '.join(args)} failed ({code}):\n{launched.text()}"
                assert "Traceback" not in launched.text(), launched.text()
                return launched
            time.sleep(0.5)
        raise AssertionError(f"still skipped after {attempts} attempts:\n{launched.text()}")


# -- the tracer, for runs and for links commands ---------------------------------------------------


def _event_of(text: str) -> str | None:
    """The trace event a (lower-cased, one-line) SQL statement is, if any."""
    starts = (
        ("insert into runs", "run-start"),
        ("update runs", "run-finish"),
        ("insert into documents", "tx-documents"),
        ("insert into movements", "tx-movements"),
        ("copy movements", "tx-movements"),
        ("insert into rejects", "tx-rejects"),
        ("copy rejects", "tx-rejects"),
        ("insert into stock", "tx-stock"),
        ("copy stock_delta", "tx-stock"),
        ("insert into held_lines", "tx-held"),
        ("copy held_lines", "tx-held"),
        ("update held_lines", "tx-held"),
        ("insert into links", "tx-link"),
        ("delete from links", "tx-link"),
        ("update links", "tx-units"),
        ("insert into items", "tx-item"),
    )
    for start, name in starts:
        if text.startswith(start):
            return name
    if text.startswith("update documents") and "archived_to" in text:
        return "mark-archived"
    if "pg_try_advisory_lock" in text or "get_lock(" in text:
        return "lock"
    return None


def traced_main() -> int:
    """``stockbridge`` with the tracer when ``$SB_TRACE`` is set (see :data:`BOOT`)."""
    from tests.faults._sbrun import Tracer, _folders

    argv = sys.argv[1:]
    trace = os.environ.get("SB_TRACE")

    class CellarTracer(Tracer):
        """The fault tests' tracer; a ``links`` command counts crash points from its start,
        a run from its first listing. ``tx-commit`` is the commit of a transaction that
        wrote a document (a journal batch, the cellar's opening, an answer)."""

        def __init__(self, trace: str, folders: dict[str, str], command: str):
            super().__init__(trace, folders)
            self.listed = command != "run"
            self.opened = False
            self.writing: set[int] = set()

        def observe(self, connection: Any, statement: str) -> None:
            if not self.opened:
                self.opened = True
                self.event("ledger-open")
            name = _event_of(" ".join(statement.split()).lower())
            if name is None:
                return
            if name.startswith("tx-") and connection is not None:
                self.writing.add(id(connection))
            self.event(name)

        def audit(self, name: str, args: tuple) -> None:
            if name == "open" and isinstance(args[0], str) and args[0].endswith(".lock"):
                self.event("lock")
            super().audit(name, args)

        def install(self) -> None:
            sys.addaudithook(self.audit)
            from sqlalchemy import event
            from sqlalchemy.engine import Engine

            @event.listens_for(Engine, "before_cursor_execute")
            def _before(conn, cursor, statement, parameters, context, executemany):
                self.observe(conn, statement)

            @event.listens_for(Engine, "commit")
            def _commit(conn):
                if id(conn) in self.writing:
                    self.writing.discard(id(conn))
                    self.event("tx-commit")
                elif self.listed:
                    self.event("commit")

            @event.listens_for(Engine, "rollback")
            def _rollback(conn):
                self.writing.discard(id(conn))

            if self.folders.get("ledger", "").startswith("postgresql"):
                import psycopg

                original = psycopg.Cursor.copy
                tracer = self

                def copy(cursor, statement, *args, **kwargs):
                    tracer.observe(None, str(statement))
                    return original(cursor, statement, *args, **kwargs)

                psycopg.Cursor.copy = copy

    if trace and argv:
        config = argv[1] if argv[0] == "run" else argv[argv.index("--config") + 1]
        CellarTracer(trace, _folders(config), argv[0]).install()
    from stockbridge.cli import main

    return main(argv)
