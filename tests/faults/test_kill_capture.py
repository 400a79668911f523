"""Kill -9 at seeded instants over runs pushing a capture entity while the till keeps
inserting, updating and deleting its rows, some of its transactions held open across a run
(late commits on MariaDB and PostgreSQL). After every kill: each key at HQ once, every HQ
row committed with its ack (its ``sb_seq`` within the ack's), no sequence number used twice.
At the end a run completes and HQ's live rows are exactly the till's, every deleted key a
tombstone, a further run sends nothing and the change table is pruned to its highest row.

``SB_CAPTURE_KILLS`` sets the kills per till kind: 12 under CI, 6 elsewhere. Fewer than the
chain's own campaign (``test_kill_chain.py``, 30 per till kind over push, pull and jobs):
capture adds a way of finding changes, not another exchange, and three till kinds at 30
kills would add about five minutes to CI.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.chain.chain_store import Databases
from tests.chain.test_capture import capture_chain, change_rows
from tests.faults.chain_harness import ChainForkServer, engine_of, kill_at
from tests.faults.harness import EXIT_BUSY, EXIT_OK
from tests.faults.shopfactory_harness import Forked
from tests.fixtures import IN_CI

pytestmark = [pytest.mark.slow]

KILLS = int(os.environ.get("SB_CAPTURE_KILLS") or (12 if IN_CI else 6))
SEEDS = {"sqlite": 9_0051, "mariadb": 9_0052, "postgresql": 9_0053}
CODES = [f"L{n:03d}" for n in range(120)]


@pytest.fixture
def databases(tmp_path):
    made = Databases(tmp_path)
    yield made
    made.drop_all()


class Writer(threading.Thread):
    """The till editing shelf labels: inserts, updates, deletes and key changes, one or a
    few per transaction, some transactions held open a while, until stopped."""

    def __init__(self, engine: sa.Engine, seed: int, hold: float, codes: list[str]):
        super().__init__(daemon=True)
        self.engine, self.rng, self.hold = engine, random.Random(seed), hold
        self.codes = codes
        """Its own keys: two writers never collide (a rolled-back change id would be a gap
        waited for until ``gap_window``, as it must)."""
        self.stopping = threading.Event()
        self.transactions = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                with self.engine.begin() as connection:
                    for _ in range(self.rng.randint(1, 3)):
                        self._edit(connection)
                    if self.rng.random() < 0.2:
                        time.sleep(self.hold)  # committed late: after later change ids
                self.transactions += 1
                time.sleep(0.01)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def _edit(self, connection: sa.Connection) -> None:
        code = self.rng.choice(self.codes)
        there = connection.execute(
            sa.text("SELECT code FROM shelf_labels WHERE code = :c"), {"c": code}
        ).first()
        roll = self.rng.random()
        price = self.rng.randint(100, 999) / 100
        if there is None:
            connection.execute(
                sa.text("INSERT INTO shelf_labels VALUES (:c, 'lyon', :l, :p)"),
                {"c": code, "l": f"label {self.rng.randrange(10**6)}", "p": price},
            )
        elif roll < 0.25:
            connection.execute(sa.text("DELETE FROM shelf_labels WHERE code = :c"), {"c": code})
        elif roll < 0.3:
            other = self.rng.choice(self.codes)
            taken = connection.execute(
                sa.text("SELECT code FROM shelf_labels WHERE code = :c"), {"c": other}
            ).first()
            if taken is None:  # a key change: the old key deleted, the new one inserted
                connection.execute(
                    sa.text("UPDATE shelf_labels SET code = :o WHERE code = :c"),
                    {"o": other, "c": code},
                )
        else:
            connection.execute(
                sa.text("UPDATE shelf_labels SET price = :p WHERE code = :c"),
                {"p": price, "c": code},
            )

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)
        assert self.error is None, f"the till writer failed: {self.error!r}"


def _complete(server: ChainForkServer, config) -> Forked:
    for _ in range(20):
        child = server.start(["run", str(config)])
        code = child.wait(timeout=300)
        if code != EXIT_BUSY:
            assert code == EXIT_OK, child.text()
            return child
    raise AssertionError("still skipped after 20 attempts")


def _labels(engine: sa.Engine, sql: str) -> list[dict]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(sa.text(sql))]


def check_capture(chain, final: bool) -> tuple[int, int]:
    """The invariants after any kill (``final``: and HQ's live rows are the till's): the
    keys at HQ and the change ids waited for (late commits seen)."""
    hq = engine_of(chain.hq_url)
    till = engine_of(chain.till_urls["lyon"])
    try:
        rows = _labels(hq, "SELECT * FROM chain_shelf_labels WHERE sb_store = 'lyon'")
        [ack] = _labels(
            hq, "SELECT * FROM stockbridge_acks WHERE store = 'lyon' AND entity = 'shelf_labels'"
        ) or [{"seq": 0, "high": 0, "gaps": "[]"}]
        codes = [r["code"] for r in rows]
        assert len(codes) == len(set(codes)), "a key twice at HQ"
        seqs = [r["sb_seq"] for r in rows]
        assert len(seqs) == len(set(seqs)), "a sequence number used twice"
        assert all(s <= ack["seq"] for s in seqs), "a row at HQ without its ack"
        if final:
            live = {
                r["code"]: (r["label"], Decimal(str(r["price"])).normalize())
                for r in rows
                if not r["sb_deleted"]
            }
            in_till = {
                r["code"]: (r["label"], Decimal(str(r["price"])).normalize())
                for r in _labels(till, "SELECT * FROM shelf_labels")
            }
            assert live == in_till
            assert json.loads(ack["gaps"]) == []
        return len(rows), len(json.loads(ack["gaps"]))
    finally:
        hq.dispose()
        till.dispose()


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "till_kind",
    [
        "sqlite",
        pytest.param("mariadb", marks=pytest.mark.mariadb),
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ],
)
def test_seeded_kills_while_the_till_edits_lose_nothing_and_send_nothing_twice(
    tmp_path, databases, till_kind, cli_env, capfd
):
    chain = capture_chain(tmp_path, databases, till_kind, batch_rows=15)
    engine = chain.tills["lyon"].engine
    seed = SEEDS[till_kind]
    warm = Writer(engine, seed, 0, CODES[:60])  # the backlogs, from this thread
    for _ in range(150):  # a backlog before the calibration run
        with engine.begin() as connection:
            warm._edit(connection)
    server = ChainForkServer(cli_env, tmp_path / "runs")
    calibration = _complete(server, chain.configs["lyon"])
    events = calibration.events()
    anchor_at = next(at for at, name in events if name == "run-start") - calibration.started
    ended = events[-1][0] - calibration.started
    rng = random.Random(seed)
    hold = 0.05 if till_kind == "sqlite" else 0.4
    writers = [  # two, so one commits later change ids while the other holds an earlier one
        Writer(engine, seed + 1, hold, CODES[60:90]),
        Writer(engine, seed + 2, hold, CODES[90:]),
    ]
    for writer in writers:
        writer.start()
    kills = steps = waited = 0
    try:
        while kills < KILLS and steps < KILLS + 15:
            steps += 1
            for _ in range(40):  # a backlog for every run, so kills land mid-push
                with engine.begin() as connection:
                    warm._edit(connection)
            child = server.start(["run", str(chain.configs["lyon"])])
            instant = anchor_at + rng.uniform(0, max(ended - anchor_at, 0.2) + 0.2)
            if kill_at(child, instant, "run-start", anchor_at) is not None:
                kills += 1
            else:
                assert child.wait() in (EXIT_OK, EXIT_BUSY), child.text()
            waited += check_capture(chain, final=False)[1]
        for writer in writers:
            writer.stop()
        _complete(server, chain.configs["lyon"])
        held = check_capture(chain, final=True)[0]
        again = _complete(server, chain.configs["lyon"])
        assert "shelf_labels" not in again.text(), again.text()
    finally:
        for writer in writers:
            writer.stop()
        server.close()
    [ack] = chain.hq_rows("stockbridge_acks", "store = 'lyon' AND entity = 'shelf_labels'")
    assert [c["id"] for c in change_rows(chain)] == [ack["high"]]
    edits = sum(w.transactions for w in writers)
    with capfd.disabled():
        print(
            f"\n{till_kind}: {kills} kills in {steps} runs, {edits} till"
            f" transactions meanwhile, {held} keys at HQ exactly once, {waited} late change"
            " id(s) waited for after the kills"
        )
    assert kills >= KILLS
