"""The Seliton kill campaign's shared parts: a shop with orders arriving, runs launched and
killed, and the exact checks after each kill.

Expectations are computed here from the orders the test gave the fake shop and the sample
goods, with plain SQL on Warehouse Pro and the ledger, never with stockbridge's own code.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from stockbridge.integrations.seliton.contract_fake import SelitonFake
from tests.faults.harness import LIVE, Launched
from tests.seliton.store import SAMPLE, Warehouse

WRAPPER = Path(__file__).with_name("_sbrun_seliton.py")
UNKNOWN = "8888"
"""A code Warehouse Pro gets only at the end: orders naming it wait until then."""
BY_SHOP_CODE = {g.code: g.code for g in SAMPLE} | {g.barcode: g.code for g in SAMPLE}
BY_SHOP_CODE[UNKNOWN] = UNKNOWN


@dataclass
class Campaign:
    config: Path
    store: str
    ledger_url: str
    warehouse_url: str
    fake: SelitonFake
    env: dict[str, str]
    folder: Path
    rng: random.Random
    next_order: int = 1000
    launched: int = 0
    lines: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    """Order id -> (Warehouse Pro good code, thousandths) per line, from what the shop has."""

    def add_orders(self, count: int, unknown_share: float = 0.05) -> None:
        codes = sorted(BY_SHOP_CODE)
        for _ in range(count):
            self.next_order += self.rng.choice([1, 1, 1, 2, 7])  # the shop's ids have gaps
            items = []
            for _ in range(self.rng.randint(1, 3)):
                code = self.rng.choice([c for c in codes if c != UNKNOWN])
                if self.rng.random() < unknown_share:
                    code = UNKNOWN
                items.append((code, str(self.rng.randint(1, 3)), "1.00"))
            self.fake.add_order(self.next_order, items)
            self.lines[self.next_order] = [(BY_SHOP_CODE[c], int(q) * 1000) for c, q, _ in items]

    def change_goods(self) -> None:
        """A price and a quantity change in Warehouse Pro: the export has work each run."""
        engine = sa.create_engine(self.warehouse_url, poolclass=NullPool)
        with engine.begin() as connection:
            good = self.rng.randint(1, 5)
            connection.execute(
                sa.text("UPDATE goods SET PriceOut2 = :p WHERE ID = :g"),
                {"p": round(self.rng.uniform(1, 9), 2), "g": good},
            )
            connection.execute(
                sa.text("UPDATE store SET Qtty = :q WHERE GoodID = :g"),
                {"q": self.rng.randint(0, 40), "g": self.rng.randint(1, 5)},
            )
        engine.dispose()

    def start(self, crash: str | None = None) -> Launched:
        self.launched += 1
        trace = self.folder / f"trace-{self.launched:03d}.txt"
        output = self.folder / f"output-{self.launched:03d}.txt"
        env = {**self.env, "SB_TRACE": str(trace)}
        if crash:
            env["SB_CRASH"] = crash
        else:
            env.pop("SB_CRASH", None)
        with open(output, "wb") as sink:
            started = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, str(WRAPPER), "run", str(self.config)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        launched = Launched(process, started, trace, output)
        LIVE.append(launched)
        return launched

    def complete(self, attempts: int = 10) -> Launched:
        for _ in range(attempts):
            launched = self.start()
            code = launched.wait()
            if code != 75:  # skipped: a killed run's lock is still being let go
                assert code == 0, f"run failed ({code}):\n{launched.text()}"
                assert "Traceback" not in launched.text(), launched.text()
                return launched
            time.sleep(0.5)
        raise AssertionError(f"still skipped:\n{launched.text()}")

    def add_unknown_good(self) -> None:
        engine = sa.create_engine(self.warehouse_url, poolclass=NullPool)
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO goods (Code, Name, PriceOut2, GroupID, Deleted)"
                    f" VALUES ('{UNKNOWN}', 'Сок късно дошъл', 2.5, 2, 0)"
                )
            )
        engine.dispose()


def _ledger(url: str, sql: str, **params) -> list:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(sql), params))
    finally:
        engine.dispose()


def check(campaign: Campaign, final: bool = False) -> dict[str, int]:
    """Everything that must hold after any kill (and, ``final``, after the last run)."""
    fake = campaign.fake
    warehouse = Warehouse(campaign.warehouse_url)
    try:
        written = warehouse.orders()
        reasons = warehouse.documents_by_reason()
        heads = warehouse.rows("SELECT ExternalInvoiceNumber AS unp FROM documents")
    finally:
        warehouse.close()
    in_wp = {int(r.order_id): r for r in written}
    # Warehouse Pro: each order once, whole (document and every line), its УНП unique.
    assert all(count == 1 for count in reasons.values()), reasons
    assert set(reasons) == {f"Seliton {o}" for o in in_wp}, "a document without its keys"
    for order_id, row in in_wp.items():
        assert (row.heads, row.line_count) == (1, len(campaign.lines[order_id])), order_id
    unps = [r.unp for r in heads]
    assert len(unps) == len(set(unps)), "a УНП twice in Warehouse Pro"
    # The ledger: one УНП per order, never two orders with one, the one Warehouse Pro has.
    rows = _ledger(
        campaign.ledger_url,
        "SELECT order_id, unp, status, lines FROM seliton_orders WHERE store = :s",
        s=campaign.store,
    )
    ledger = {int(r.order_id): r for r in rows}
    issued = [r.unp for r in rows if r.unp]
    assert len(issued) == len(set(issued)), "a УНП issued twice"
    [sequence] = _ledger(
        campaign.ledger_url, "SELECT last FROM seliton_sequences WHERE device = 'DY447824'"
    ) or [None]
    numbers = sorted(int(u.rsplit("-", 1)[1]) for u in issued)
    if numbers:
        assert sequence is not None and numbers[-1] <= int(sequence.last)
    for order_id, row in in_wp.items():
        assert order_id in ledger and ledger[order_id].unp == row.unp, order_id
    # The shop: only ever the order's own УНП, never a conflict.
    for order_id, unp in fake.updates:
        assert ledger[order_id].unp == unp, (order_id, unp)
    # The saved number never skips: every order up to it is on both sides, confirmed.
    [cursor] = _ledger(
        campaign.ledger_url,
        "SELECT value FROM cursors WHERE store = :s AND name = 'last_order'",
        s=campaign.store,
    ) or [None]
    saved = int(cursor.value) if cursor else 0
    for order_id in campaign.lines:
        if order_id <= saved:
            assert order_id in in_wp, f"saved number {saved} skipped order {order_id}"
            assert ledger[order_id].status in ("confirmed", "released"), order_id
            assert fake.orders[order_id].unp == ledger[order_id].unp, order_id
    # Reservations: exactly the lines of the orders Warehouse Pro has.
    expected: Counter[str] = Counter()
    for order_id, row in ledger.items():
        if row.status in ("written", "confirmed"):
            for code, milli in campaign.lines[order_id]:
                expected[code] += milli
    reserved = {
        r.reference: int(r.reserved)
        for r in _ledger(
            campaign.ledger_url,
            "SELECT reference, reserved FROM stock WHERE store = :s AND reserved <> 0",
            s=campaign.store,
        )
    }
    assert reserved == {k: v for k, v in expected.items() if v}, (reserved, dict(expected))
    if final:
        assert set(in_wp) == set(campaign.lines), "an order is missing after the last run"
        assert saved == max(campaign.lines)
        assert all(fake.orders[o].unp == in_wp[o].unp for o in in_wp)
    return {"orders": len(in_wp), "saved": saved, "updates": len(fake.updates)}
