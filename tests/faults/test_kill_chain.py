"""Kill -9 at seeded instants over chain runs while the till keeps selling, then finish.

One campaign per till database kind (SQLite, MariaDB), over push, pull and jobs: every
sixth step HQ changes articles, every tenth it asks the store for a full re-pull. A
calibration times one full traced ``stockbridge run`` of the store. Then each step starts a
run (the simulator thread keeps
writing tickets and their lines into the till meanwhile; ``batch_rows`` is small so a run
makes many HQ transactions) and SIGKILLs its process group at an instant drawn with a fixed
seed over the calibrated work past the start-up (anchored on the run's own first ledger
write). After *every* kill: HQ holds only rows the till has, each once, with the same values,
no line without its ticket, and the ledger's stock is exactly HQ's lines up to the ledger's
cursor. At the end the simulator stops, a run completes, and HQ holds every till row
exactly once, the store's stock is exact, its till holds HQ's articles and every job is done.

Also: HQ's connection killed in the middle of a batch (``KILL CONNECTION`` on MariaDB,
``pg_terminate_backend`` on PostgreSQL): the run fails with one sentence, nothing half
written, the next run completes exactly.

``SB_CHAIN_KILLS`` sets the kills per till kind: 30 under CI, 6 elsewhere.
"""

from __future__ import annotations

import os
import random
from decimal import Decimal

import pytest
import sqlalchemy as sa

from stockbridge.config.loader import load_store
from stockbridge.integrations.chain.commands import request
from tests.chain.chain_store import Databases, make_chain, run
from tests.faults.chain_harness import ChainForkServer, Simulator, check_chain, engine_of, kill_at
from tests.faults.harness import EXIT_BUSY, EXIT_OK
from tests.faults.shopfactory_harness import Forked
from tests.fixtures import IN_CI

pytestmark = [pytest.mark.slow]

KILLS = int(os.environ.get("SB_CHAIN_KILLS") or (30 if IN_CI else 6))
SEEDS = {"sqlite": 9_0041, "mariadb": 9_0042}


@pytest.fixture
def databases(tmp_path):
    made = Databases(tmp_path)
    yield made
    made.drop_all()


def _complete(server: ChainForkServer, config) -> Forked:
    for _ in range(20):
        child = server.start(["run", str(config)])
        code = child.wait(timeout=300)
        if code != EXIT_BUSY:
            assert code == EXIT_OK, child.text()
            return child
    raise AssertionError("still skipped after 20 attempts")


@pytest.mark.timeout(600)  # 30 kills of ~1-2 s forked runs, on a shared 2-core machine
@pytest.mark.parametrize(
    "till_kind", ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)]
)
def test_seeded_kills_while_the_till_sells_lose_nothing_and_send_nothing_twice(
    tmp_path, databases, till_kind, cli_env, capfd
):
    chain = make_chain(
        tmp_path,
        databases,
        till_kind=till_kind,
        stores=("lyon",),
        lyon={"batch_rows": 40},
        hq={"batch_rows": 40},
    )
    assert run(chain.configs["hq"]).state == "completed"
    till = chain.tills["lyon"]
    for _ in range(60):
        till.sale(3)
    server = ChainForkServer(cli_env, tmp_path / "runs")
    calibration = _complete(server, chain.configs["lyon"])
    events = calibration.events()
    anchor_at = next(at for at, name in events if name == "run-start") - calibration.started
    ended = events[-1][0] - calibration.started
    rng = random.Random(SEEDS[till_kind])
    simulator = Simulator(till, SEEDS[till_kind], pause=0.03)
    simulator.start()
    kills = steps = 0
    try:
        while kills < KILLS and steps < KILLS + 15:
            steps += 1
            for _ in range(30):  # a backlog for every run, so kills land mid-push
                till.sale(2)
            if steps % 6 == 0:  # HQ changes articles: the killed runs pull them
                chain.tills["hq"].set_article(f"K{steps:03d}", price=Decimal(steps))
                chain.tills["hq"].set_article("K000", price=Decimal(steps))
                assert run(chain.configs["hq"]).state == "completed"
            if steps % 10 == 2:  # and asks for a full re-pull: the killed runs do the job
                request(load_store(chain.configs["hq"]), ["lyon"], ["articles"], by="test")
            child = server.start(["run", str(chain.configs["lyon"])])
            instant = anchor_at + rng.uniform(0, max(ended - anchor_at, 0.2) + 0.2)
            if kill_at(child, instant, "run-start", anchor_at) is not None:
                kills += 1
            else:
                assert child.wait() in (EXIT_OK, EXIT_BUSY), child.text()
            check_chain(chain.till_urls["lyon"], chain.hq_url, chain.ledger_url, "lyon", False)
        simulator.stop()
        _complete(server, chain.configs["lyon"])
    finally:
        simulator.stop()
        server.close()
    lines = check_chain(chain.till_urls["lyon"], chain.hq_url, chain.ledger_url, "lyon", True)
    prices = {r["code"]: r["price"] for r in chain.tills["hq"].rows("articles")}
    assert {r["code"]: r["price"] for r in till.rows("articles")} == prices
    jobs = chain.hq_rows("stockbridge_jobs")
    assert jobs and all(j["state"] == "done" for j in jobs), jobs
    with capfd.disabled():
        print(
            f"\n{till_kind}: {kills} kills in {steps} runs, {simulator.tickets} tickets sold"
            f" meanwhile, {lines} lines at HQ exactly once"
        )
    assert kills >= KILLS


@pytest.mark.parametrize(
    "hq_kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_hq_connection_killed_mid_batch(tmp_path, databases, hq_kind, prefect_harness):
    chain = make_chain(
        tmp_path, databases, hq_kind=hq_kind, stores=("lyon",), lyon={"batch_rows": 10}
    )
    assert run(chain.configs["hq"]).state == "completed"
    for _ in range(20):
        chain.tills["lyon"].sale(2)
    admin = engine_of(chain.hq_url)
    seen = {"inserts": 0, "killed": False}

    @sa.event.listens_for(sa.Engine, "before_cursor_execute")
    def _kill(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("INSERT INTO CHAIN_TICKET_LINES"):
            return
        seen["inserts"] += 1
        if seen["inserts"] != 2 or seen["killed"]:
            return
        probe = cursor.connection.cursor()
        probe.execute(
            "SELECT pg_backend_pid()" if hq_kind == "postgresql" else "SELECT CONNECTION_ID()"
        )
        session = probe.fetchone()[0]
        probe.close()
        with admin.connect() as other:
            if hq_kind == "postgresql":
                other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": session})
            else:
                other.exec_driver_sql(f"KILL CONNECTION {int(session)}")
            other.commit()
        seen["killed"] = True

    try:
        summary = run(chain.configs["lyon"])
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", _kill)
    admin.dispose()
    assert seen["killed"]
    assert summary.state == "failed", summary.render()
    assert "cannot reach the HQ database" in summary.message
    assert "Traceback" not in summary.message
    check_chain(chain.till_urls["lyon"], chain.hq_url, chain.ledger_url, "lyon", False)
    assert run(chain.configs["lyon"]).state == "completed"
    check_chain(chain.till_urls["lyon"], chain.hq_url, chain.ledger_url, "lyon", True)
