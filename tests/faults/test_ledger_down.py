"""The ledger database becoming unavailable in the middle of a run.

The rule checked every time: no file is archived whose movements were not committed (each
archived file has its document), and a file still waiting has no document or one with
status 'applied', which the next run recovers. The run pauses at an exact point (the
tracer's SB_PAUSE) while the test breaks the database, then goes on.

* PostgreSQL, inside the first group's transaction: every backend of the run terminated.
* PostgreSQL, between a commit and the archiving: backends terminated and the database
  refusing connections, until after the run ended.
* SQLite, between a commit and the archiving: another connection holds ``BEGIN EXCLUSIVE``
  for a few seconds (the run waits, up to its 60 s busy timeout), then lets go.
"""

from __future__ import annotations

import sqlite3
import time

import pytest
import sqlalchemy as sa

from tests.faults.harness import (
    EXIT_FAILED,
    EXIT_OK,
    Runner,
    assert_clear_failure,
    check_consistent,
    check_final,
    headline,
    make_exchange,
    next_run_is_exact,
    say,
)
from tests.fixtures import POSTGRES_ADMIN

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

FILES = 20  # two groups of 10 (batch.max_files): two transactions per run


def _admin() -> sa.Engine:
    return sa.create_engine(
        POSTGRES_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )


def _terminate(admin: sa.Engine, database: str) -> int:
    with admin.connect() as connection:
        return len(
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": database},
            ).all()
        )


@pytest.mark.postgres
def test_postgres_goes_away_mid_run(make_store, cli_env, tmp_path, postgres_url, view_of, capfd):
    database = postgres_url.rsplit("/", 1)[1]
    admin = _admin()
    exchange = make_exchange(make_store, postgres_url, seed=71, articles=500, lines=500)
    view = view_of(postgres_url)
    runner = Runner(exchange, cli_env, tmp_path / "runs")
    ledger = "postgresql+psycopg://postgres@127.0.0.1:5432"
    try:
        # 1. Backends terminated inside the first group's ledger transaction.
        exchange.deliver(FILES)
        go = tmp_path / "go-1"
        launched = runner.start(pause=f"tx-movements:1:{go}")
        launched.wait_for("paused")
        killed = _terminate(admin, database)
        go.touch()
        code = launched.wait()
        state = check_consistent(exchange, view)
        if code == EXIT_OK:
            result = "reconnected and completed"
        else:
            assert_clear_failure(code, launched.text(), ledger)
            result = f"failed: {headline(launched.text())!r}"
        assert state.committed == 0 or code == EXIT_OK
        next_run_is_exact(exchange, view, capfd)
        say(
            capfd,
            f"[postgresql] {killed} backends terminated inside the transaction: {result};"
            f" nothing archived uncommitted ({state.archived} archived, {state.pending} waiting);"
            " next run exact",
        )

        # 2. After the first commit, before archiving: terminated, then refusing connections.
        exchange.deliver(FILES)
        go = tmp_path / "go-2"
        launched = runner.start(pause=f"archive:1:{go}")
        launched.wait_for("paused")
        with admin.connect() as connection:
            connection.exec_driver_sql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
        try:
            killed = _terminate(admin, database)
            go.touch()
            code = launched.wait()
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
        assert code == EXIT_FAILED, launched.text()
        assert_clear_failure(code, launched.text(), ledger)
        state = check_consistent(exchange, view)
        moved = state.archived - FILES  # the first scenario's files are all archived
        assert 0 <= moved <= 10 and state.applied_not_archived == 10, state
        next_run_is_exact(exchange, view, capfd)
        say(
            capfd,
            f"[postgresql] database refusing connections after a commit ({killed} backends"
            f" terminated): failed with {headline(launched.text())!r};"
            f" {state.applied_not_archived} committed files left 'applied'"
            f" ({moved} of them already moved), none archived"
            " uncommitted; next run recovered them exactly",
        )
    finally:
        admin.dispose()


def test_sqlite_locked_mid_run(make_store, cli_env, tmp_path, sqlite_url, view_of, capfd):
    path = sqlite_url.removeprefix("sqlite:///")
    exchange = make_exchange(make_store, sqlite_url, seed=73, articles=500, lines=500)
    view = view_of(sqlite_url)
    runner = Runner(exchange, cli_env, tmp_path / "runs")
    exchange.deliver(FILES)
    go = tmp_path / "go"
    launched = runner.start(pause=f"archive:1:{go}")
    launched.wait_for("paused")
    holder = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        go.touch()
        deadline = time.monotonic() + 60  # the ten files move; recording it has to wait
        while sum(name == "archive" for _, name in launched.events()) < 10:
            assert launched.process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(3)
        assert launched.process.poll() is None, launched.text()
        during = check_consistent(exchange, view)  # readers still read beside the lock
        assert during.archived == 10 and during.applied_not_archived == 10, during
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    code = launched.wait()
    assert code == EXIT_OK, launched.text()
    check_final(exchange, view)
    say(
        capfd,
        "[sqlite] ledger locked (BEGIN EXCLUSIVE) for 3 s after a commit: the run moved the"
        " committed files, waited to record them, then completed; nothing archived"
        " uncommitted at any moment",
    )
