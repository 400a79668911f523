"""Two runs of one store at the same moment: never both apply, and the result is exact.

Per ledger database, three trials on one store (new files for each):

* a race: two ``stockbridge run`` processes started at the same instant, and an in-process
  flow run (what a deployment's runner executes) started the moment one of them holds the
  store lock;
* the CLI run paused inside its ledger transaction (lock held, nothing committed) while an
  in-process flow run starts: it must be skipped;
* an in-process flow run paused between its two listings (lock held) while a CLI run
  starts: it must exit 75, skipped.

Every run ends completed or skipped, no file is reported applied by two runs, and the
ledger, archive and export are exact afterwards.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import types
import uuid
from collections import Counter
from pathlib import Path

import pytest

import tasks.collect
from tests.faults.harness import (
    EXIT_BUSY,
    EXIT_OK,
    Runner,
    check_final,
    make_exchange,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

FILES = 20
_APPLIED = re.compile(r"^\s+applied\s+(\S+):", re.MULTILINE)


class InProcessRun(threading.Thread):
    """The store's flow, called in this process as a deployment's runner would."""

    def __init__(self, config: Path):
        super().__init__(daemon=True)
        self.config = config
        self.summary = None
        self.error: BaseException | None = None

    def run(self) -> None:
        from stockbridge.cli import run_store

        try:
            self.summary = run_store(self.config, "interstock")
        except BaseException as exc:
            self.error = exc

    def result(self):
        self.join(120)
        assert not self.is_alive(), "the in-process run did not end"
        if self.error is not None:
            raise self.error
        assert self.summary.state in ("completed", "skipped"), self.summary.render()
        return self.summary


def _applied_by_each(outputs: dict[str, list[str]], delivered: list[str]) -> str:
    """No file applied by two runs, every delivered file applied by one; the outcome."""
    seen = Counter(name for names in outputs.values() for name in names)
    assert not [n for n, c in seen.items() if c > 1], f"applied twice: {outputs}"
    assert sorted(seen) == sorted(delivered), outputs
    return ", ".join(f"{who} applied {len(names)}" for who, names in outputs.items())


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_same_store_at_the_same_moment(
    database, request, make_store, cli_env, tmp_path, view_of, monkeypatch
):
    url = request.getfixturevalue("sqlite_url" if database == "sqlite" else "postgres_url")
    exchange = make_exchange(make_store, url, seed=61, articles=500, lines=500)
    view = view_of(url)
    runner = Runner(exchange, cli_env, tmp_path / "runs")
    report = []

    # 1. The race: two CLI processes at one instant, a flow run as soon as one holds the lock.
    delivered = [m.name for m in exchange.deliver(FILES)]
    first, second = runner.start(), runner.start()
    while not any(name == "run-start" for r in (first, second) for _, name in r.events()):
        assert first.process.poll() is None or second.process.poll() is None
        threading.Event().wait(0.01)
    flow = InProcessRun(exchange.config)
    flow.start()
    codes = sorted([first.wait(), second.wait()])
    summary = flow.result()
    assert set(codes) <= {EXIT_OK, EXIT_BUSY}, [first.text(), second.text()]
    assert EXIT_OK in codes or summary.state == "completed"
    outputs = {
        "cli-1": _APPLIED.findall(first.text()),
        "cli-2": _APPLIED.findall(second.text()),
        "flow": [f.file for f in summary.files if f.status == "applied"],
    }
    states = [
        {EXIT_OK: "completed", EXIT_BUSY: "skipped"}[r.process.returncode] for r in (first, second)
    ] + [summary.state]
    check_final(exchange, view)
    report.append(f"race of 3 runs: {states}; {_applied_by_each(outputs, delivered)}")

    # 2. The CLI holds the lock inside its ledger transaction; a flow run starts meanwhile.
    delivered = [m.name for m in exchange.deliver(FILES)]
    go = tmp_path / "go-cli"
    paused = runner.start(pause=f"tx-movements:1:{go}")
    paused.wait_for("paused")
    flow = InProcessRun(exchange.config)
    flow.start()
    summary = flow.result()
    assert summary.state == "skipped", summary.render()
    assert "another run" in summary.message
    go.touch()
    assert paused.wait() == EXIT_OK, paused.text()
    check_final(exchange, view)
    outputs = {"cli (paused in its transaction)": _APPLIED.findall(paused.text()), "flow": []}
    report.append(
        f"flow run during a CLI transaction: skipped; {_applied_by_each(outputs, delivered)}"
    )

    # 3. A flow run holds the lock between its two listings; the CLI starts meanwhile.
    delivered = [m.name for m in exchange.deliver(FILES)]
    release = threading.Event()
    listing = threading.Event()

    def recheck_wait(seconds: float) -> None:
        listing.set()
        assert release.wait(120)

    monkeypatch.setattr(tasks.collect, "time", types.SimpleNamespace(sleep=recheck_wait))
    flow = InProcessRun(exchange.config)
    flow.start()
    assert listing.wait(60)
    contender = runner.start(traced=False)
    code = contender.wait()
    release.set()
    summary = flow.result()
    assert code == EXIT_BUSY, contender.text()
    assert "Traceback" not in contender.text()
    assert summary.state == "completed", summary.render()
    monkeypatch.undo()
    check_final(exchange, view)
    outputs = {"flow (paused in listing)": [f.file for f in summary.files if f.status == "applied"]}
    report.append(f"CLI run during a flow run: exit 75; {_applied_by_each(outputs, delivered)}")
    for line in report:
        print(f"[{database}] {line}")


_OPEN_LEDGER = """
import os, sys, time
from stockbridge.ledger.ledger import Ledger
while not os.path.exists(sys.argv[1]):
    time.sleep(0.001)
Ledger.open(sys.argv[2]).close()
"""


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_first_runs_on_a_new_database_migrate_once(database, request, tmp_path):
    """Runs that start together on an empty ledger (a new store set, ``serve`` starting
    every store at once) all get the tables: one creates them, the others wait."""
    import sqlalchemy as sa

    from tests.fixtures import POSTGRES_ADMIN

    name = f"stockbridge_new_{uuid.uuid4().hex[:8]}"
    if database == "sqlite":
        url, admin = f"sqlite:///{tmp_path / 'new.db'}", None
    else:
        request.getfixturevalue("postgres_url")  # reachable, or skipped (failed under CI)
        admin_url = POSTGRES_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1)
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    go = tmp_path / "go"
    try:
        starters = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_LEDGER, str(go), url],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        time.sleep(2.5)  # all four imported and waiting
        go.touch()
        failures = [p.communicate(timeout=120)[1] for p in starters]
        assert all(p.returncode == 0 for p in starters), failures
        print(f"[{database}] 4 runs opened a new ledger at once: migrated once, none failed")
    finally:
        if admin is not None:
            with admin.connect() as connection:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.dispose()
