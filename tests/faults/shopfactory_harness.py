"""A ShopFactory shop under SIGKILL: seeded web sales and deliveries, a tracer, exact checks.

The shop is its live stock file (``online``, also where stockbridge publishes). Between
processes the test plays the shop: it sells (lowers a SKU's level in the file, replacing
it whole) and the supplier delivers (a movement file in the import folder). What must hold
is computed here from the sales and deliveries made, with Python ints in thousandths, never
with stockbridge's reader or ledger code: every sale counted once, every delivery applied
once, and after a complete run the shop's file shows the ledger's available levels.

Processes come from a warm fork server (``tests/faults/_sbfork.py``): each run is a child
in its own session, killed by its group, with :func:`install_tracer` tracing its effects.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from tests.faults.harness import EXIT_BUSY, EXIT_OK, LedgerView

ROOT = Path(__file__).resolve().parents[2]
FORK_SERVER = Path(__file__).with_name("_sbfork.py")
TRACER = "tests.faults.shopfactory_harness:install_tracer"


# -- the tracer ----------------------------------------------------------------------------------


def install_tracer(argv: list[str]) -> None:
    """In a forked child: the fault tests' tracer, with the shop's own effects."""
    from tests.faults._sbrun import Tracer, _folders

    trace = os.environ.get("SB_TRACE")
    if not trace or len(argv) < 2 or argv[0] != "run":
        return
    document = yaml.safe_load(Path(argv[1]).read_text())
    online = os.path.abspath(os.path.expanduser(document["online"]))

    class ShopTracer(Tracer):
        """Counts events from the start; names the shop file's read and publish, the
        publication's prepare and confirm, and the first ledger statement after a publish."""

        def __init__(self) -> None:
            super().__init__(trace, _folders(argv[1]))
            self.listed = True
            self.just_published = False
            self.hold = os.environ.get("SB_HOLD")

        def _held(self) -> None:
            """Wait at the first ledger statement (before any effect on the store) until
            the test releases the run: its start-up overlaps the step before."""
            go, self.hold = self.hold, None
            deadline = time.monotonic() + 300
            while not os.path.exists(go):
                if time.monotonic() > deadline:
                    os.killpg(os.getpgrp(), signal.SIGKILL)
                time.sleep(0.002)

        def audit(self, name: str, args: tuple) -> None:
            if name == "open" and isinstance(args[0], str):
                mode = args[1] or ""
                if os.path.abspath(args[0]) == online and not any(f in mode for f in "wax+"):
                    self.event("online-read")
            elif name == "os.rename" and os.path.abspath(os.fsdecode(args[1])) == online:
                self.event("publish")
                self.just_published = True
            super().audit(name, args)

        def statement(self, statement: str) -> None:
            if self.hold:
                self._held()
            text = " ".join(statement.split()).lower()
            if self.just_published:
                self.just_published = False
                self.event("after-publish")
            if text.startswith("insert into shopfactory_publications"):
                self.event("prepare")
            elif text.startswith("update shopfactory_publications"):
                self.event("settle-publication")
            elif text.startswith("update shopfactory_levels") or text.startswith(
                "insert into shopfactory_levels"
            ):
                self.event("levels")
            else:
                super().statement(statement)

    ShopTracer().install()


# -- the fork server -----------------------------------------------------------------------------


@dataclass
class Forked:
    pid: int
    started: float
    trace: Path
    output: Path

    def release(self) -> None:
        Path(str(self.output).replace("output-", "go-").removesuffix(".txt")).touch()

    @property
    def rc(self) -> Path:
        return Path(f"{self.output}.rc")

    def poll(self) -> int | None:
        return int(self.rc.read_text()) if self.rc.exists() else None

    def wait(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while (code := self.poll()) is None:
            assert time.monotonic() < deadline, f"still running after {timeout} s:\n{self.text()}"
            time.sleep(0.01)
        return code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)

    def events(self) -> list[tuple[float, str]]:
        if not self.trace.exists():
            return []
        found = []
        for line in self.trace.read_text().splitlines():
            moment, _, name = line.partition(" ")
            with contextlib.suppress(ValueError):
                found.append((float(moment), name))
        return found

    def first(self, name: str) -> float | None:
        return next((at for at, event in self.events() if event == name), None)

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""


class ForkServer:
    """The warm ``stockbridge`` every campaign process is forked from."""

    def __init__(self, env: dict[str, str], folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.children: list[Forked] = []
        self.process = subprocess.Popen(
            [sys.executable, str(FORK_SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={k: v for k, v in env.items() if k not in ("SB_TRACE", "SB_CRASH", "SB_PAUSE")},
            cwd=ROOT,
            text=True,
        )
        ready = json.loads(self.process.stdout.readline())
        assert "ready" in ready, ready

    def start(
        self, argv: list[str], crash: str | None = None, traced: bool = True, held: bool = False
    ) -> Forked:
        """A child running ``stockbridge ARGV``; ``held`` ones wait at their first ledger
        statement until :meth:`Forked.release`."""
        self.count += 1
        trace = self.folder / f"trace-{self.count:03d}.txt"
        output = self.folder / f"output-{self.count:03d}.txt"
        env = {"SB_TRACE": str(trace)} if traced else {}
        if crash:
            env["SB_CRASH"] = crash
        if held:
            env["SB_HOLD"] = str(self.folder / f"go-{self.count:03d}")
        request = {
            "argv": argv,
            "env": env,
            "unset": [n for n in ("SB_TRACE", "SB_CRASH", "SB_HOLD") if n not in env],
            "output": str(output),
            "tracer": TRACER if traced else None,
        }
        started = time.monotonic()
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        child = Forked(answer["pid"], started, trace, output)
        self.children.append(child)
        return child

    def close(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
        with contextlib.suppress(Exception):
            self.process.stdin.close()
        self.process.wait(timeout=30)


# -- the shop ------------------------------------------------------------------------------------


def level_text(milli: int) -> str:
    return format((Decimal(milli) / 1000).normalize(), "f")


def parse_levels(data: bytes) -> dict[str, int]:
    found = {}
    for line in data.decode("utf-8-sig").splitlines():
        if line.strip() and not line.startswith("SKU\t"):
            sku, quantity = line.split("\t")
            found[sku] = int(Decimal(quantity) * 1000)
    return found


@dataclass
class Shop:
    config: Path
    store: str
    ledger_url: str
    online: Path
    inbox: Path
    opening: dict[str, int]
    rng: random.Random
    sold: Counter[str] = field(default_factory=Counter)
    delivered: dict[str, dict[str, int]] = field(default_factory=dict)
    _sequence: int = 0

    @property
    def archive(self) -> Path:
        return self.inbox / "archive"

    def levels(self) -> dict[str, int]:
        return parse_levels(self.online.read_bytes())

    def write(self, levels: dict[str, int]) -> None:
        text = "SKU\tQuantity\n" + "".join(f"{s}\t{level_text(q)}\n" for s, q in levels.items())
        temp = self.online.with_name(".shop-writing")
        temp.write_text(text)
        temp.replace(self.online)

    def sell_some(self) -> int:
        """One or two web sales of one unit each, on SKUs still in stock."""
        levels = self.levels()
        sold = 0
        for sku in self.rng.sample(sorted(levels), self.rng.randint(1, 2)):
            if levels[sku] >= 1_000:
                levels[sku] -= 1_000
                self.sold[sku] += 1_000
                sold += 1
        self.write(levels)
        return sold

    def deliver(self) -> str:
        """A supplier's delivery: three to nine units of one to three SKUs."""
        self._sequence += 1
        name = f"delivery-{self._sequence:03d}.txt"
        lines = {
            sku: self.rng.randint(3, 9) * 1_000
            for sku in self.rng.sample(sorted(self.opening), self.rng.randint(1, 3))
        }
        self.inbox.mkdir(parents=True, exist_ok=True)
        temp = self.inbox / f"{name}.part"
        temp.write_text("".join(f"{s}\t+{level_text(q)}\n" for s, q in lines.items()))
        temp.replace(self.inbox / name)
        self.delivered[name] = lines
        return name

    def expected(self, delivered: list[str] | None = None) -> dict[str, int]:
        levels = Counter(self.opening)
        for name in self.delivered if delivered is None else delivered:
            levels.update(self.delivered[name])
        levels.subtract(self.sold)
        return dict(levels)


def make_shop(root: Path, ledger_url: str, seed: int, skus: int = 20) -> Shop:
    rng = random.Random(seed)
    store = f"kill-sf-{uuid.uuid4().hex[:6]}"
    folder = root / store
    online = folder / "shop" / "levels.txt"
    online.parent.mkdir(parents=True)
    opening = {
        f"P{i}_{c}": rng.randint(30, 60) * 1_000
        for i, c in ((i, rng.choice(["red", "blue", "green"])) for i in range(1, skus + 1))
    }
    document: dict[str, Any] = {
        "store": store,
        "integration": "shopfactory",
        "schedule": {"every": "5m"},
        "ledger": ledger_url,
        "online": str(online),
        "import": str(folder / "deliveries"),
        "errors": str(folder / "errors"),
        "settle": {"min_age": "0s", "recheck": "0s"},
    }
    config = folder / f"{store}.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    (folder / "deliveries").mkdir(parents=True, exist_ok=True)
    shop = Shop(config, store, ledger_url, online, folder / "deliveries", opening, rng)
    shop.write(opening)
    return shop


# -- checks --------------------------------------------------------------------------------------


class ShopView(LedgerView):
    def sales(self, store: str) -> Counter[str]:
        rows = self._rows(
            "SELECT reference, SUM(quantity) AS q FROM movements WHERE store = :s AND kind = 'sale'"
            " GROUP BY reference",
            s=store,
        )
        return Counter({r.reference: -int(r.q) for r in rows})

    def adjustments_after_opening(self, store: str) -> int:
        return self._rows(
            "SELECT COUNT(*) AS n FROM movements m JOIN documents d ON d.id = m.document_id"
            " WHERE m.store = :s AND m.kind = 'adjustment' AND d.note NOT LIKE 'first run%'",
            s=store,
        )[0].n

    def delivery_documents(self, store: str) -> dict[str, Any]:
        rows = self._rows(
            "SELECT document, status, lines_applied FROM documents WHERE store = :s"
            " AND document LIKE 'delivery-%'",
            s=store,
        )
        return {r.document: r for r in rows}


def check_shop(shop: Shop, view: ShopView) -> None:
    """At any instant: no sale counted more than it was made, no delivery applied twice,
    each delivery in the import folder or the archive, the ledger the sum of its movements."""
    recorded = view.sales(shop.store)
    over = {s: (recorded[s], shop.sold[s]) for s in recorded if recorded[s] > shop.sold[s]}
    assert not over, f"web sales counted more than made (recorded, made): {over}"
    assert view.adjustments_after_opening(shop.store) == 0, "a publish was read as a shop change"
    documents = view.delivery_documents(shop.store)
    pending = (
        {p.name for p in shop.inbox.iterdir() if p.is_file()} if shop.inbox.exists() else set()
    )
    archived = {p.name for p in shop.archive.iterdir()} if shop.archive.exists() else set()
    applied = []
    for name, lines in shop.delivered.items():
        in_inbox = name in pending
        in_archive = any(a.startswith(name.rsplit(".", 1)[0] + ".") for a in archived)
        assert in_inbox != in_archive, f"{name}: in import {in_inbox}, archived {in_archive}"
        row = documents.get(name)
        if row is not None:
            assert row.lines_applied == len(lines), (name, row.lines_applied)
            applied.append(name)
        else:
            assert in_inbox, f"{name} was archived without a ledger document"
    stock = {r: on_hand for r, (on_hand, _) in view.stock(shop.store).items()}
    if stock:
        expected = Counter(shop.opening)
        for name in applied:
            expected.update(shop.delivered[name])
        expected.subtract(recorded)
        wrong = {r: (stock.get(r), expected[r]) for r in expected if stock.get(r) != expected[r]}
        assert not wrong, f"ledger is not opening + deliveries - sales (ledger, expected): {wrong}"


def check_final(shop: Shop, view: ShopView) -> None:
    """After a complete run: every sale counted exactly once, every delivery applied once,
    and the shop's file shows exactly the ledger's available levels."""
    check_shop(shop, view)
    assert view.sales(shop.store) == +shop.sold, "a web sale was lost or counted twice"
    assert not [p for p in shop.inbox.iterdir() if p.is_file()], "deliveries left to import"
    available = {r: q - reserved for r, (q, reserved) in view.stock(shop.store).items()}
    assert available == shop.expected()
    assert shop.levels() == available, "the published file is not the ledger's levels"


def complete(server: ForkServer, shop: Shop, attempts: int = 20) -> Forked:
    for _ in range(attempts):
        child = server.start(["run", str(shop.config)], traced=False)
        code = child.wait()
        if code != EXIT_BUSY:
            assert code == EXIT_OK, f"run failed ({code}):\n{child.text()}"
            assert "Traceback" not in child.text(), child.text()
            assert "could not tell" not in child.text(), child.text()
            return child
        time.sleep(0.3)
    raise AssertionError(f"still skipped after {attempts} attempts:\n{child.text()}")
