"""Kill -9 at seeded instants over ShopFactory cycles, then finish: no web sale lost or twice.

A calibration times one complete run (from its first ledger write to its history row) on
a warm fork server (``tests/faults/_sbfork.py``: each run is a forked child in its own
session, so a kill costs no interpreter start-up). Then each step plays the shop first (one
or two web sales in the shop's file, maybe a supplier's delivery in the import folder)
and starts a run that is SIGKILLed, as a whole process group, at an instant drawn with a
fixed seed over the calibrated run (taken from the run's own first ledger write), or at a
crash point the tracer names (:data:`POINTS`). After every kill (``check_shop``): no sale is
counted more than it was made, no publish is mistaken for a change on the shop's side, each
delivery is in the import folder or the archive and applied at most once, and the ledger
is the opening plus the deliveries applied minus the sales recorded. At the end a run
completes and every sale made is counted exactly once, every delivery applied once, and the
shop's file shows exactly the ledger's available levels (``check_final``).

``SB_SHOPFACTORY_KILLS`` sets the number of timed kills: 30 under CI, 8 elsewhere (SQLite).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter

import pytest

from tests.faults.shopfactory_harness import (
    ForkServer,
    ShopView,
    check_final,
    check_shop,
    complete,
    make_shop,
)
from tests.fixtures import IN_CI

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

KILLS = int(os.environ.get("SB_SHOPFACTORY_KILLS") or (30 if IN_CI else 8))
SEED = 11_0011
POINTS = [
    "commit:2",
    "list:1",
    "online-read:2",
    "prepare:1",
    "settle-publication:1",
    "publish:1",
    "after-publish:1",
]
"""Crash points (the tracer kills its group just before the n-th such effect): the
snapshot's commit (the first commit is the run's history row), the snapshot committed and
nothing else done (the import folder's listing), the shop read again before publishing, the
publication prepared, its confirmation, the stock file about to replace the shop's, and the
file published with the ledger not yet told."""
TAIL = 0.1
MAX_EXTRA_STEPS = 12
"""Timed steps run again because the run ended before its instant."""


def test_kill_campaign_never_loses_or_doubles_a_web_sale(tmp_path, sqlite_url, cli_env, capfd):
    rng = random.Random(SEED)
    server = ForkServer(cli_env, tmp_path / "processes")
    view = ShopView(sqlite_url)
    try:
        shop = make_shop(tmp_path / "campaign", sqlite_url, SEED)
        complete(server, shop)  # the first run takes the shop's levels as the opening stock
        shop.deliver()
        shop.sell_some()
        timed = server.start(["run", str(shop.config)])  # the calibration: one whole run
        assert timed.wait() == 0, timed.text()
        start, end = timed.first("run-start"), timed.first("run-finish")
        assert start is not None and end is not None, timed.events()
        span = end - start + TAIL
        check_shop(shop, view)
        phases: Counter[str] = Counter()
        plan = [("point", p) for p in POINTS] + [("timed", None)] * KILLS
        rng.shuffle(plan)
        kills = extra = 0

        def held(step: tuple[str, str | None] | None):
            """The step's run, started now and held before its first ledger statement (until
            the shop has sold and delivered for it)."""
            if step is None:
                return None
            return server.start(["run", str(shop.config)], crash=step[1], held=True)

        upcoming = held(plan[-1])
        while plan:
            kind, point = plan.pop()
            child = upcoming
            if kind == "point" or rng.random() < 0.6:
                shop.sell_some()  # a crash point needs something to publish
            if kind == "point" or rng.random() < 0.5:
                shop.deliver()
            child.release()
            upcoming = held(plan[-1] if plan else None)  # its start-up overlaps this run
            if kind == "point":
                code = child.wait()
                hit = any(name.startswith("crash-point") for _, name in child.events())
                phases[f"point {point}" if hit else f"point {point} (not reached)"] += 1
            else:
                instant = rng.uniform(0, span)
                while child.poll() is None and (anchor := child.first("run-start")) is None:
                    time.sleep(0.002)
                if child.poll() is None:
                    while time.monotonic() < anchor + instant and child.poll() is None:
                        time.sleep(0.002)
                    child.kill()
                code = child.wait()
                events = [name for at, name in child.events() if at <= anchor + instant]
                phases[f"timed, last effect {events[-1] if events else 'none'}"] += 1
            if code == -9:
                kills += 1
            else:
                extra += 1
                assert code in (0, 75), child.text()
                if kind == "timed" and extra <= MAX_EXTRA_STEPS:
                    plan.insert(0, ("timed", None))  # it ended before its instant: once more
            check_shop(shop, view)
        complete(server, shop)
        check_final(shop, view)
        with capfd.disabled():
            print(
                f"\n[shopfactory sqlite] {kills} kills ({KILLS} timed + {len(POINTS)} crash"
                f" points, {extra} runs ended first), {sum(shop.sold.values()) // 1000} web"
                f" sales, {len(shop.delivered)} deliveries; calibrated run {span:.2f} s"
            )
            for phase, count in sorted(phases.items()):
                print(f"  {count:3d}  {phase}")
        assert kills >= KILLS, f"only {kills} kills landed"
        assert phases.keys().isdisjoint({f"point {p} (not reached)" for p in POINTS}), phases
    finally:
        server.close()
        view.close()
