"""Kill -9 at seeded instants over Seliton runs (orders in, goods out), then finish.

The shop (the contract fake, over HTTPS) keeps getting new orders, some naming a good
Warehouse Pro (on MariaDB) does not have yet; Warehouse Pro's prices and quantities change
between runs. Each step starts ``stockbridge run`` in its own process group and SIGKILLs it:
first at crash points (the tracer kills just before a named effect: an order's УНП into the
ledger, its Warehouse Pro write, the ledger noting that write -- i.e. between the database
write and ``updateorder`` --, the first ``updateorder``, the ledger noting the shop's
acceptance, a feed batch), then at instants drawn with a fixed seed over a calibrated run,
half over its whole length and half over its work past start-up.

After *every* kill (``check``): no order twice in Warehouse Pro and none half written, no
УНП issued twice or for two orders, Warehouse Pro's УНП for each order is the one the ledger
assigned, the shop only ever got that УНП, the saved number never passes an order not on
both sides, and the reservations are exactly the lines of the orders written. At the end
the missing good appears, a run completes and every order is on both sides once.

``SB_SELITON_KILLS``: timed kills, 30 under CI, 6 elsewhere (crash points come on top).
"""

from __future__ import annotations

import os
import random
import signal

import pytest

from tests.faults.harness import kill_leftovers
from tests.faults.seliton_harness import Campaign, check
from tests.fixtures import IN_CI
from tests.seliton.store import mariadb_warehouse, new_fake, write_store

pytestmark = [pytest.mark.slow]

KILLS = int(os.environ.get("SB_SELITON_KILLS") or (30 if IN_CI else 6))
SEED = 10_0010
CRASH_POINTS = [
    "assign:1",
    "wp-write:1",
    "mark-written:1",
    "shop-updateorder:1",
    "shop-updateorder:2",
    "confirm:1",
    "shop-postxmlfeed:1",
    "digests:1",
]
MAX_EXTRA_STEPS = 10


def test_kills_never_write_an_order_twice_nor_reuse_a_unp(
    tmp_path, sqlite_url, tls_material, cli_env, capfd
):
    rng = random.Random(SEED)
    fake = new_fake(tls_material)
    try:
        with mariadb_warehouse() as warehouse_url:
            config, store = write_store(
                tmp_path / "stores",
                sqlite_url,
                warehouse_url,
                fake.url,
                tls_material.ca_file,
                export={"batch": 2},
            )
            campaign = Campaign(
                config, store, sqlite_url, warehouse_url, fake, cli_env, tmp_path / "runs", rng
            )
            campaign.folder.mkdir()
            campaign.add_orders(4, unknown_share=0)
            calibration = campaign.complete()
            events = calibration.events()
            duration = events[-1][0] - calibration.started
            work_starts = next(t for t, name in events if name == "shop-getorders")
            anchor_at = work_starts - calibration.started
            check(campaign)

            killed = 0
            for point in CRASH_POINTS:
                campaign.add_orders(rng.randint(1, 3))
                campaign.change_goods()
                launched = campaign.start(crash=point)
                code = launched.wait()
                assert code == -signal.SIGKILL, f"{point} never reached:\n{launched.text()}"
                check(campaign)
                killed += 1

            timed, steps = 0, 0
            while timed < KILLS:
                steps += 1
                assert steps <= KILLS + MAX_EXTRA_STEPS, "too many runs ended before their kill"
                campaign.add_orders(rng.randint(1, 3))
                campaign.change_goods()
                if timed % 2 == 0:
                    instant = rng.uniform(0.2, duration + 0.2)
                    anchor = None
                else:
                    instant = rng.uniform(anchor_at, duration + 0.2)
                    anchor = "shop-getorders"
                launched = campaign.start()
                moment = launched.kill_at(instant, anchor, anchor_at)
                if moment is None:
                    assert launched.process.returncode in (0, 75), launched.text()
                else:
                    timed += 1
                check(campaign)

            campaign.add_unknown_good()
            campaign.complete()
            figures = check(campaign, final=True)
            with capfd.disabled():
                print(
                    f"\nseliton kill campaign: {killed} crash points + {timed} timed kills,"
                    f" {figures['orders']} orders once each, saved number {figures['saved']},"
                    f" {figures['updates']} updateorder calls accepted"
                )
    finally:
        kill_leftovers()
        fake.stop()
