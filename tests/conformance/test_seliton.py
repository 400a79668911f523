"""The conformance suite's four properties for the Seliton integration, whose input is a
shop's orders, not files:

* the same order seen twice is written once (even by a ledger that forgot it: Warehouse
  Pro's own unique keys hold);
* a run killed between the Warehouse Pro write and ``updateorder`` is finished by the next
  run, with the same УНП, nothing twice;
* the shop's secret never reaches the output, the logs, the ledger, error records, Warehouse
  Pro or Prefect;
* a bad order line is reported with the order number, the line, its raw values and why.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.conformance.adapters import LedgerReader
from tests.conformance.test_conformance import prefect_logs_at, prefect_records
from tests.faults.harness import LIVE, Launched
from tests.seliton.store import (
    SECRET,
    Shop,
    Warehouse,
    ledger_rows,
    new_fake,
    sqlite_warehouse,
    write_store,
)

WRAPPER = Path(__file__).parents[1] / "faults" / "_sbrun_seliton.py"


@pytest.fixture
def shop(tmp_path, sqlite_url, tls_material):
    fake = new_fake(tls_material)
    warehouse_url = sqlite_warehouse(tmp_path / "warehouse")
    config, store = write_store(
        tmp_path / "stores", sqlite_url, warehouse_url, fake.url, tls_material.ca_file
    )
    yield Shop(config, store, sqlite_url, warehouse_url, fake)
    fake.stop()


def wp_orders(shop: Shop) -> list[tuple[int, str, int, int]]:
    warehouse = Warehouse(shop.warehouse_url)
    try:
        return [(r.order_id, r.unp, r.heads, r.line_count) for r in warehouse.orders()]
    finally:
        warehouse.close()


def test_the_same_order_seen_twice_is_written_once(shop, run):
    shop.fake.add_order(11, [("1001", "1", "3.49")])
    shop.fake.add_order(12, [("1002", "2", "3.19"), ("1003", "1", "3.29")])
    assert run(shop.config).state == "completed"
    first = wp_orders(shop)
    assert first == [(11, "DY447824-0001-0000001", 1, 1), (12, "DY447824-0001-0000002", 1, 2)]
    assert run(shop.config).state == "completed"  # the shop lists nothing new
    # A ledger restored from before these orders: the shop's orders are seen again.
    engine = sa.create_engine(shop.ledger_url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM seliton_orders"))
        connection.execute(sa.text("DELETE FROM cursors"))
        connection.execute(sa.text("UPDATE stock SET reserved = 0"))
    engine.dispose()
    summary = run(shop.config)
    assert summary.state == "completed", summary.render()
    assert wp_orders(shop) == first  # Warehouse Pro's unique keys: adopted, not written again
    assert [u for _, u in shop.fake.updates] == [u for _, u, _, _ in first] * 2  # same УНП
    reserved = ledger_rows(
        shop.ledger_url, "SELECT reference, reserved FROM stock WHERE reserved <> 0"
    )
    assert {r.reference: r.reserved for r in reserved} == {"1001": 1000, "1002": 2000, "1003": 1000}


def test_killed_between_the_warehouse_write_and_updateorder_finishes_with_the_same_unp(
    shop, run, cli_env, tmp_path
):
    shop.fake.add_order(21, [("1001", "1", "3.49")])
    trace, output = tmp_path / "trace.txt", tmp_path / "output.txt"
    env = {**cli_env, "SB_TRACE": str(trace), "SB_CRASH": "mark-written:1"}
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, str(WRAPPER), "run", str(shop.config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    launched = Launched(process, time.monotonic(), trace, output)
    LIVE.append(launched)
    assert launched.wait() == -signal.SIGKILL, launched.text()
    events = [name for _, name in launched.events()]
    assert "wp-write" in events and "crash-point mark-written" in events, events
    assert "shop-updateorder" not in events
    assert wp_orders(shop) == [(21, "DY447824-0001-0000001", 1, 1)]  # written, committed
    assert shop.fake.updates == []

    summary = run(shop.config)
    assert summary.state == "completed", summary.render()
    assert wp_orders(shop) == [(21, "DY447824-0001-0000001", 1, 1)]
    assert shop.fake.updates == [(21, "DY447824-0001-0000001")]
    [row] = ledger_rows(shop.ledger_url, "SELECT status, unp FROM seliton_orders")
    assert (row.status, row.unp) == ("confirmed", "DY447824-0001-0000001")
    [sequence] = ledger_rows(shop.ledger_url, "SELECT last FROM seliton_sequences")
    assert sequence.last == 1  # no number spent by the recovery


def test_the_secret_is_nowhere(shop, monkeypatch, capfd, tmp_path):
    from stockbridge.cli import main

    shop.fake.add_order(31, [("1001", "1", "3.49")])
    shop.fake.add_order(32, [("1001", "x", "3.49")])  # a bad line: its raw values are kept
    assert SECRET not in shop.config.read_text()
    with prefect_logs_at(logging.INFO):
        capfd.readouterr()
        code = main(["run", str(shop.config)])
        out, err = capfd.readouterr()
    assert code == 0, out + err
    assert "УНП DY447824-0001-0000001" in out + err
    assert SECRET not in out + err, "the secret is in the run's output"

    folders = (tmp_path, Path(os.environ["STOCKBRIDGE_HOME"]))
    written = [
        p
        for folder in folders
        for p in folder.rglob("*")
        if p.is_file() and SECRET.encode() in p.read_bytes()
    ]
    assert not written, f"the secret is in files: {written}"
    ledger = LedgerReader(shop.ledger_url)
    try:
        texts = ledger.text_values()
        flow_runs = [r.run_id for r in ledger.rows("SELECT run_id FROM runs")]
    finally:
        ledger.close()
    assert any(table == "seliton_orders" for table, _, _ in texts)
    assert not [(t, c) for t, c, v in texts if SECRET in v], "the secret is in the ledger"
    warehouse = Warehouse(shop.warehouse_url)
    try:
        values = warehouse.text_values()
    finally:
        warehouse.close()
    assert any("DY447824" in v for v in values)
    assert not [v for v in values if SECRET in v], "the secret is in Warehouse Pro"
    for _ in range(40):
        records = prefect_records(flow_runs)
        if records["logs"] and records["artifacts"]:
            break
        time.sleep(0.25)
    assert records["logs"] and records["artifacts"], "nothing in Prefect: the check is void"
    leaks = [kind for kind, items in records.items() for text in items if SECRET in text]
    assert not leaks, f"the secret is in Prefect's {sorted(set(leaks))}"


def test_a_bad_order_line_is_reported_with_order_line_raw_values_and_reason(shop, run):
    shop.fake.add_order(41, [("1001", "1", "3.49"), ("1002", "abc", "3.19")])
    shop.fake.add_order(42, [("NO-SUCH", "1", "9.99")])
    summary = run(shop.config)
    assert summary.state == "completed", summary.render()
    text = summary.render()
    assert (
        "order 41 line 2 (code='1002' quantity='abc' price='3.19'): the quantity is not a"
        " positive number with at most 3 decimals" in text
    )
    assert (
        "order 42 line 1 (code='NO-SUCH' quantity='1' price='9.99'): no good in Warehouse"
        " Pro has this code or barcode" in text
    )
    rows = ledger_rows(
        shop.ledger_url, "SELECT order_id, status, reason FROM seliton_orders ORDER BY order_id"
    )
    assert [(r.order_id, r.status) for r in rows] == [(41, "waiting"), (42, "waiting")]
    assert "quantity='abc'" in rows[0].reason and "NO-SUCH" in rows[1].reason
    [history] = ledger_rows(shop.ledger_url, "SELECT message FROM runs")
    assert "2 order(s) waiting (first: order 41 line 2" in history.message
    assert wp_orders(shop) == [] and shop.fake.updates == []  # nothing written half
