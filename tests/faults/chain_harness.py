"""What the chain's fault tests share: a till simulator thread and the exact checks.

The checks read the till, HQ and the ledger with plain SQL, never with stockbridge's code:
HQ holds only rows the till holds, with the same values, each once (HQ's primary key), no
line without its ticket, and the ledger's stock of the store is exactly the sales lines HQ
had when the ledger's cursor last moved.

Runs come from the warm fork server (``tests/faults/_sbfork.py``, as ShopFactory's campaign):
each is a forked child of a process that imported Prefect, stockbridge and the chain flow
once, in its own session (killed by its group), traced by ``_sbrun``'s tracer.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from stockbridge.integrations.chain.config import Database
from tests.faults.shopfactory_harness import Forked, ForkServer

TRACER = "tests.faults.chain_harness:install_tracer"
WARM = "flows.chain,stockbridge.integrations.chain.sync,sqlalchemy.dialects.mysql.pymysql"
"""What a chain run imports on its way, imported once in the fork server."""


def install_tracer(argv: list[str]) -> None:
    """In a forked child: the fault tests' tracer (``run-start`` is the first ledger write)."""
    from tests.faults._sbrun import Tracer, _folders

    trace = os.environ.get("SB_TRACE")
    if trace and len(argv) >= 2 and argv[0] == "run":
        Tracer(trace, _folders(argv[1])).install()


class ChainForkServer(ForkServer):
    """ShopFactory's fork server, warmed with the chain flow, its children traced by the
    plain tracer."""

    def __init__(self, env: dict[str, str], folder: Path):
        super().__init__({**env, "SB_FORK_WARM": WARM}, folder)

    def start(self, argv: list[str], crash: str | None = None, traced: bool = True, held=False):
        assert not held, "the chain's campaign holds no run"
        self.count += 1
        trace = self.folder / f"trace-{self.count:03d}.txt"
        output = self.folder / f"output-{self.count:03d}.txt"
        env = {"SB_TRACE": str(trace)} if traced else {}
        if crash:
            env["SB_CRASH"] = crash
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
        child = Forked(json.loads(self.process.stdout.readline())["pid"], started, trace, output)
        self.children.append(child)
        return child


def kill_at(child: Forked, instant: float, anchor: str, anchor_at: float) -> float | None:
    """SIGKILL the child's group ``instant`` s after its start; None if it ended before.

    An instant past ``anchor_at`` (when the calibration run had its first ``anchor``
    event) is taken from this run's own first ``anchor`` event, so the kill lands at the
    same point of the work however long this start-up took.
    """
    deadline = child.started + instant
    if instant >= anchor_at:
        while (seen := child.first(anchor)) is None:
            if child.poll() is not None:
                return None
            time.sleep(0.003)
        deadline = seen + instant - anchor_at
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return None
        time.sleep(0.003)
    moment = time.monotonic()
    child.kill()
    return moment if child.wait(timeout=30) == -9 else None


def engine_of(url: str) -> sa.Engine:
    return sa.create_engine(Database(url=url).sqlalchemy_url(), poolclass=NullPool)


class Simulator(threading.Thread):
    """Sales at the till while runs are started and killed: a ticket and its lines per
    transaction, every ``pause`` seconds, until stopped."""

    def __init__(self, till, seed: int, pause: float = 0.05):
        super().__init__(daemon=True)
        till.rng = random.Random(seed)
        self.till = till
        self.pause = pause
        self.stopping = threading.Event()
        self.tickets = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.till.sale(self.till.rng.randint(1, 4))
                self.tickets += 1
                time.sleep(self.pause)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)
        assert self.error is None, f"the till simulator failed: {self.error!r}"


def _rows(engine: sa.Engine, sql: str, **params) -> list[dict]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(sa.text(sql), params)]


def _norm(row: dict, columns: list[str]) -> tuple:
    out = []
    for column in columns:
        value = row[column]
        if column in ("quantity", "amount") and value is not None:
            value = Decimal(str(value)).normalize()  # SQLite answers text() with floats
        out.append(value)
    return tuple(out)


LINE_COLUMNS = ["id", "store", "ticket_id", "article", "quantity", "amount"]


def check_chain(till_url: str, hq_url: str, ledger_url: str, store: str, final: bool) -> int:
    """The invariants after any kill (``final``: and HQ holds everything the till has)."""
    till, hq, ledger = engine_of(till_url), engine_of(hq_url), engine_of(ledger_url)
    try:
        till_lines = {
            r["id"]: _norm(r, LINE_COLUMNS) for r in _rows(till, "SELECT * FROM ticket_lines")
        }
        hq_lines = _rows(hq, "SELECT * FROM chain_ticket_lines WHERE sb_store = :s", s=store)
        seen = {}
        for row in hq_lines:
            assert row["id"] not in seen, f"line {row['id']} twice at HQ"
            seen[row["id"]] = _norm(row, LINE_COLUMNS)
            assert till_lines.get(row["id"]) == seen[row["id"]], (
                f"line {row['id']} differs: till {till_lines.get(row['id'])} HQ {seen[row['id']]}"
            )
        tickets = {
            r["id"] for r in _rows(hq, "SELECT id FROM chain_tickets WHERE sb_store = :s", s=store)
        }
        orphans = [r["id"] for r in hq_lines if r["ticket_id"] not in tickets]
        assert not orphans, f"lines at HQ without their ticket: {orphans[:5]}"
        if final:
            missing = sorted(set(till_lines) - set(seen))
            assert not missing, f"{len(missing)} till line(s) never reached HQ: {missing[:5]}"
            till_tickets = {r["id"] for r in _rows(till, "SELECT id FROM tickets")}
            assert tickets == till_tickets
        cursor = _rows(
            ledger,
            "SELECT value FROM cursors WHERE store = :s AND name = 'stock:ticket_lines'",
            s=store,
        )
        upto = int(cursor[0]["value"]) if cursor else 0
        expected: dict[str, int] = {}
        for row in hq_lines:
            if row["sb_seq"] <= upto:
                expected[row["article"]] = expected.get(row["article"], 0) - int(
                    Decimal(row["quantity"]) * 1000
                )
        stock = {
            r["reference"]: int(r["on_hand"])
            for r in _rows(ledger, "SELECT reference, on_hand FROM stock WHERE store = :s", s=store)
        }
        stock = {k: v for k, v in stock.items() if v}
        expected = {k: v for k, v in expected.items() if v}
        assert stock == expected, "the ledger's stock is not exactly HQ's applied lines"
        if final:
            total: dict[str, int] = {}
            for _, _, _, article, quantity, _ in till_lines.values():
                total[article] = total.get(article, 0) - int(Decimal(quantity) * 1000)
            assert stock == {k: v for k, v in total.items() if v}, "final stock not exact"
        return len(hq_lines)
    finally:
        for engine in (till, hq, ledger):
            engine.dispose()
