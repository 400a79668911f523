"""Outages a store lives through: HQ down for several runs then back, a till clock two
hours off. Nothing may be lost and nothing sent twice (plain-SQL checks of
``tests/faults/chain_harness.check_chain``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
import yaml

from stockbridge.integrations.chain.clocks import read_till_clock
from stockbridge.integrations.chain.config import Database
from stockbridge.integrations.chain.database import open_engine
from stockbridge.integrations.chain.session import utc_now
from tests.chain.chain_store import make_chain, run
from tests.faults.chain_harness import check_chain

HQ_KINDS = ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)]

DOWN_HQ = "mysql://root@127.0.0.1:1/sb_no_hq"
"""A real MariaDB URL on a port nobody listens on: the driver's own connection refusal."""


def test_hq_down_for_several_runs_then_back_loses_nothing(tmp_path, databases):
    chain = make_chain(tmp_path, databases, stores=("lyon",), lyon={"batch_rows": 7})
    assert run(chain.configs["hq"]).state == "completed"
    lyon = chain.tills["lyon"]
    for _ in range(3):
        lyon.sale(2)
    assert run(chain.configs["lyon"]).state == "completed"
    document = yaml.safe_load(chain.configs["lyon"].read_text())
    chain.rewrite("lyon", hq=DOWN_HQ)
    for _ in range(3):  # three scheduled runs while HQ is away, the till selling meanwhile
        for _ in range(5):
            lyon.sale(3)
        summary = run(chain.configs["lyon"])
        assert summary.state == "failed", summary.render()
        assert "HQ" in summary.message and "Traceback" not in summary.message, summary.message
    chain.rewrite("lyon", hq=document["hq"])
    assert run(chain.configs["lyon"]).state == "completed"
    lines = check_chain(chain.till_urls["lyon"], chain.hq_url, chain.ledger_url, "lyon", True)
    assert lines == 3 * 2 + 3 * 5 * 3


def _edit_seller(till, code: str, name: str) -> None:
    table = till.tables["sellers"]
    with till.engine.begin() as connection:
        found = connection.execute(sa.select(table.c.code).where(table.c.code == code)).scalar()
        values = {"name": name, "store": till.store, "updated_at": till.now()}
        if found is None:
            connection.execute(table.insert().values(code=code, **values))
        else:
            connection.execute(table.update().where(table.c.code == code).values(**values))


def _hq_sellers(chain) -> dict[str, str]:
    return {r["code"]: r["name"] for r in chain.hq_rows("chain_sellers", "sb_store = 'lyon'")}


@pytest.mark.parametrize("hours", [2, -2], ids=["fast", "slow"])
def test_a_till_clock_two_hours_off_loses_nothing(tmp_path, databases, hours):
    chain = make_chain(tmp_path, databases, stores=("lyon",))
    assert run(chain.configs["hq"]).state == "completed"
    lyon = chain.tills["lyon"]
    lyon.clock_offset = timedelta(hours=hours)
    for n in range(4):
        lyon.sale(2)
        _edit_seller(lyon, f"S{n}", f"seller {n}")
    assert run(chain.configs["lyon"]).state == "completed"
    assert _hq_sellers(chain) == {f"S{n}": f"seller {n}" for n in range(4)}
    _edit_seller(lyon, "S1", "renamed")
    _edit_seller(lyon, "S4", "hired")
    lyon.sale(1)
    assert run(chain.configs["lyon"]).state == "completed"
    assert _hq_sellers(chain) == {f"S{n}": f"seller {n}" for n in range(4)} | {
        "S1": "renamed",
        "S4": "hired",
    }
    check_chain(chain.till_urls["lyon"], chain.hq_url, chain.ledger_url, "lyon", True)


def _sellers_sent(chain) -> int:
    """How many seller rows HQ took in all (its sequence counter: one per row written)."""
    [ack] = chain.hq_rows("stockbridge_acks", "store = 'lyon' AND entity = 'sellers'")
    return int(ack["seq"])


def test_a_till_clock_set_back_two_hours_loses_no_edit(tmp_path, databases):
    chain = make_chain(tmp_path, databases, stores=("lyon",))
    assert run(chain.configs["hq"]).state == "completed"
    lyon = chain.tills["lyon"]
    lyon.clock_offset = timedelta(hours=2)
    _edit_seller(lyon, "S0", "seller 0")
    assert run(chain.configs["lyon"]).state == "completed"
    lyon.clock_offset = timedelta()  # the clock corrected: two hours back
    _edit_seller(lyon, "S1", "hired after the correction")
    assert run(chain.configs["lyon"]).state == "completed"
    assert "S1" in _hq_sellers(chain)
    # and the run after: the mark no longer stands at the fast period's stamps
    _edit_seller(lyon, "S2", "hired later")
    assert run(chain.configs["lyon"]).state == "completed"
    assert _hq_sellers(chain) == {
        "S0": "seller 0",
        "S1": "hired after the correction",
        "S2": "hired later",
    }
    assert _sellers_sent(chain) == 3


@pytest.mark.parametrize("hq_kind", HQ_KINDS)
def test_a_clock_set_back_while_hq_holds_rows_of_the_fast_period(tmp_path, databases, hq_kind):
    chain = make_chain(tmp_path, databases, hq_kind=hq_kind, stores=("lyon",))
    assert run(chain.configs["hq"]).state == "completed"
    lyon = chain.tills["lyon"]
    lyon.clock_offset = timedelta(hours=2)
    for n in range(3):
        _edit_seller(lyon, f"S{n}", f"seller {n}")
    assert run(chain.configs["lyon"]).state == "completed"
    assert _sellers_sent(chain) == 3
    lyon.clock_offset = timedelta()
    # rows HQ holds with stamps two hours ahead, edited again with earlier stamps
    _edit_seller(lyon, "S1", "renamed after the correction")
    _edit_seller(lyon, "S3", "hired after the correction")
    assert run(chain.configs["lyon"]).state == "completed"
    expected = {
        "S0": "seller 0",
        "S1": "renamed after the correction",
        "S2": "seller 2",
        "S3": "hired after the correction",
    }
    assert _hq_sellers(chain) == expected
    assert _sellers_sent(chain) == 5
    held = {r["code"]: r["updated_at"] for r in chain.hq_rows("chain_sellers")}
    assert held["S1"] < held["S0"], "HQ keeps the till's later edit, though stamped earlier"
    assert run(chain.configs["lyon"]).state == "completed"  # nothing new: nothing sent
    _edit_seller(lyon, "S2", "renamed later")
    assert run(chain.configs["lyon"]).state == "completed"
    assert _hq_sellers(chain) == expected | {"S2": "renamed later"}
    assert _sellers_sent(chain) == 6
    check_chain(chain.till_urls["lyon"], chain.hq_url, chain.ledger_url, "lyon", True)


def test_a_till_clock_going_forward_sends_each_edit_once(tmp_path, databases):
    chain = make_chain(tmp_path, databases, stores=("lyon",))
    assert run(chain.configs["hq"]).state == "completed"
    lyon = chain.tills["lyon"]
    for n in range(2):
        _edit_seller(lyon, f"S{n}", f"seller {n}")
    assert run(chain.configs["lyon"]).state == "completed"
    lyon.clock_offset = timedelta(hours=2)  # the clock jumps two hours forward
    _edit_seller(lyon, "S0", "renamed in the future")
    _edit_seller(lyon, "S2", "hired in the future")
    for _ in range(2):  # the second run re-reads its window: HQ takes nothing twice
        assert run(chain.configs["lyon"]).state == "completed"
    assert _sellers_sent(chain) == 4
    lyon.clock_offset = timedelta()  # and back again
    _edit_seller(lyon, "S1", "renamed after")
    for _ in range(2):
        assert run(chain.configs["lyon"]).state == "completed"
    assert _hq_sellers(chain) == {
        "S0": "renamed in the future",
        "S1": "renamed after",
        "S2": "hired in the future",
    }
    assert _sellers_sent(chain) == 5
    check_chain(chain.till_urls["lyon"], chain.hq_url, chain.ledger_url, "lyon", True)


def test_an_hq_made_before_clocks_were_kept_is_upgraded_and_misses_no_edit(tmp_path, databases):
    """HQ's ack table as the previous release made it (no clock columns), holding a mark
    from a till clock two hours fast: the next run adds the columns and, the till's clock
    now reading earlier than the mark, re-reads from before it."""
    chain = make_chain(tmp_path, databases, stores=("lyon",))
    assert run(chain.configs["hq"]).state == "completed"
    lyon = chain.tills["lyon"]
    lyon.clock_offset = timedelta(hours=2)
    _edit_seller(lyon, "S0", "seller 0")
    assert run(chain.configs["lyon"]).state == "completed"
    engine = chain.hq()
    with engine.begin() as connection:
        for column in ("till_clock", "hq_clock", "host_clock"):
            connection.exec_driver_sql(f"ALTER TABLE stockbridge_acks DROP COLUMN {column}")
    engine.dispose()
    lyon.clock_offset = timedelta()
    _edit_seller(lyon, "S1", "hired after the correction")
    assert run(chain.configs["lyon"]).state == "completed"
    assert _hq_sellers(chain) == {"S0": "seller 0", "S1": "hired after the correction"}
    [ack] = chain.hq_rows("stockbridge_acks", "store = 'lyon' AND entity = 'sellers'")
    assert ack["till_clock"] is not None and ack["host_clock"] is not None


@pytest.mark.parametrize(
    "kind", [*HQ_KINDS, pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_the_default_till_clock_is_the_till_databases_own(databases, kind):
    """No ``till_clock`` in the store file: the till database's clock, read as a time (on
    SQLite, UTC: the clock of the machine holding the file)."""
    engine = open_engine(Database(url=databases.new(kind, "clock")), "till")
    try:
        read = read_till_clock(engine, None)
    finally:
        engine.dispose()
    assert isinstance(read, datetime) and read.tzinfo is None
    if kind == "sqlite":
        assert abs(read - utc_now()) < timedelta(minutes=1)
