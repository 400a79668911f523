"""The conformance suite's four properties in the chain's terms (its input is till rows, not
files): the same rows seen again change nothing at HQ or in the ledger; a run killed after
HQ's commit is recovered exactly; the till's and HQ's passwords (``${…}``) reach no output,
log, ledger, HQ table or Prefect record; a bad row is reported with its entity, key, raw
values and reason."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
import yaml

from tests.chain.chain_store import Databases, make_chain, run
from tests.conformance.test_conformance import (
    SECRET,
    SECRET_VARIABLE,
    prefect_logs_at,
    prefect_records,
)
from tests.faults.chain_harness import check_chain, engine_of
from tests.faults.harness import LIVE, WRAPPER, Launched


@pytest.fixture
def databases(tmp_path):
    made = Databases(tmp_path)
    yield made
    made.drop_all()


def hq_dump(chain) -> dict[str, list]:
    engine = engine_of(chain.hq_url)
    try:
        tables = sa.inspect(engine).get_table_names()
        with engine.connect() as connection:
            return {
                t: sorted(repr(tuple(r)) for r in connection.execute(sa.text(f"SELECT * FROM {t}")))
                for t in tables
            }
    finally:
        engine.dispose()


def ledger_dump(chain) -> dict[str, list]:
    engine = engine_of(chain.ledger_url)
    try:
        tables = [t for t in sa.inspect(engine).get_table_names() if t not in ("runs",)]
        with engine.connect() as connection:
            return {
                t: sorted(repr(tuple(r)) for r in connection.execute(sa.text(f"SELECT * FROM {t}")))
                for t in tables
            }
    finally:
        engine.dispose()


def test_the_same_rows_seen_again_change_nothing_at_hq_or_in_the_ledger(tmp_path, databases):
    chain = make_chain(tmp_path, databases, stores=("lyon",))
    assert run(chain.configs["hq"]).state == "completed"
    for _ in range(5):
        chain.tills["lyon"].sale(3)
    chain.tills["lyon"].edit_customer("C1", name="Ann")
    assert run(chain.configs["lyon"]).state == "completed"
    hq, ledger = hq_dump(chain), ledger_dump(chain)
    assert len(hq["chain_ticket_lines"]) == 15
    # The till's ack forgotten (an HQ restored from yesterday's ack row): every row is read
    # and sent again, and HQ's keys keep each once.
    engine = engine_of(chain.hq_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE stockbridge_acks SET high = 0, gaps = '[]' WHERE store = 'lyon'")
        )
    engine.dispose()
    assert run(chain.configs["lyon"]).state == "completed"
    again = hq_dump(chain)
    del again["stockbridge_acks"], hq["stockbridge_acks"]
    assert again == hq, "rows seen again changed HQ"
    assert ledger_dump(chain) == ledger, "rows seen again changed the ledger"


def test_killed_after_hqs_commit_is_recovered_exactly(tmp_path, databases, cli_env):
    chain = make_chain(tmp_path, databases, stores=("lyon",))
    assert run(chain.configs["hq"]).state == "completed"
    for _ in range(30):
        chain.tills["lyon"].sale(2)
    trace, output = tmp_path / "trace.txt", tmp_path / "output.txt"
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, str(WRAPPER), "run", str(chain.configs["lyon"])],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**cli_env, "SB_TRACE": str(trace)},
            start_new_session=True,
        )
    launched = Launched(process, time.monotonic(), trace, output)
    LIVE.append(launched)
    launched.wait_for("tx-documents", timeout=120)  # HQ committed; the ledger's batch begins
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert len(chain.hq_rows("chain_ticket_lines")) == 60
    check_chain(chain.till_urls["lyon"], chain.hq_url, chain.ledger_url, "lyon", False)
    assert run(chain.configs["lyon"]).state == "completed"
    check_chain(chain.till_urls["lyon"], chain.hq_url, chain.ledger_url, "lyon", True)


@pytest.mark.postgres
def test_secrets_reach_no_output_log_ledger_hq_table_or_prefect(
    tmp_path, databases, monkeypatch, capfd
):
    from stockbridge.cli import main

    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    chain = make_chain(tmp_path, databases, hq_kind="postgresql", stores=("lyon",))
    for store in ("hq", "lyon"):  # PostgreSQL trusts this machine; the password is carried
        path = chain.configs[store]
        document = yaml.safe_load(path.read_text())
        secret = f"${{{SECRET_VARIABLE}}}"
        document["hq"] = {"url": document["hq"], "password": secret}
        path.write_text(yaml.safe_dump(document))
        assert SECRET not in path.read_text()
    chain.tills["lyon"].sale(2)
    with chain.tills["lyon"].engine.begin() as connection:  # a bad row, reported
        connection.execute(
            sa.text("INSERT INTO tickets (id, store, number, total) VALUES (99, 'paris', 'x', 1)")
        )
    with prefect_logs_at(logging.INFO):
        capfd.readouterr()
        codes = [main(["run", str(chain.configs[s])]) for s in ("hq", "lyon")]
        codes.append(main(["jobs", "list", "--config", str(chain.configs["hq"])]))
        out, err = capfd.readouterr()
    assert codes == [0, 0, 0], out + err
    assert "tickets: 1 sent, 1 refused" in out
    assert SECRET not in out + err
    folders = (tmp_path, __import__("pathlib").Path(os.environ["STOCKBRIDGE_HOME"]))
    written = [
        p
        for f in folders
        for p in f.rglob("*")
        if p.is_file() and SECRET.encode() in p.read_bytes()
    ]
    assert not written, f"the secret is in files: {written}"
    for dump in (hq_dump(chain), ledger_dump(chain)):
        assert not [t for t, rows in dump.items() if any(SECRET in r for r in rows)]
    engine = engine_of(chain.ledger_url)
    with engine.connect() as connection:
        flow_runs = list(connection.execute(sa.text("SELECT run_id FROM runs")).scalars())
    engine.dispose()
    for _ in range(40):
        records = prefect_records(flow_runs)
        if records["logs"]:
            break
        time.sleep(0.25)
    assert records["logs"] and records["flow runs"]
    leaks = [kind for kind, items in records.items() for text in items if SECRET in text]
    assert not leaks, f"the secret is in Prefect's {sorted(set(leaks))}"


def test_a_bad_row_is_reported_with_entity_key_raw_values_and_reason(tmp_path, databases):
    chain = make_chain(tmp_path, databases, stores=("lyon",))
    assert run(chain.configs["hq"]).state == "completed"
    chain.tills["lyon"].sale(1)
    with chain.tills["lyon"].engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO tickets (id, store, number, total) VALUES (7, 'paris', 'N7', 1)")
        )
    summary = run(chain.configs["lyon"])
    assert summary.state == "completed"
    engine = engine_of(chain.ledger_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT d.document, r.line, r.raw, r.reason FROM rejects r JOIN documents d"
                " ON d.id = r.document_id WHERE d.store = 'lyon'"
            )
        ).all()
    engine.dispose()
    assert [(r.document, r.line) for r in rows] == [("tickets 7", 7)]
    assert '"number": "N7"' in rows[0].raw and '"store": "paris"' in rows[0].raw
    assert rows[0].reason.startswith("tickets 7: the row claims store 'paris'")
    assert [r["id"] for r in chain.hq_rows("chain_tickets")] == [1]
