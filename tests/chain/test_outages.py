"""Outages a store lives through: HQ down for several runs then back, a till clock two
hours off. Nothing may be lost and nothing sent twice (plain-SQL checks of
``tests/faults/chain_harness.check_chain``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import yaml

from tests.chain.chain_store import make_chain, run
from tests.faults.chain_harness import check_chain

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


@pytest.mark.xfail(
    strict=True,
    reason="known gap: rows found by modification time are re-read from `lookback` (10 min)"
    " before the last time seen; a till clock set back by more (two hours fast, then"
    " corrected) stamps edits below that window and they are not sent",
)
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
