"""The ``stockbridge`` command as a user runs it: a real subprocess, exit codes, plain words.

Runs talk to the session's Prefect test server (``PREFECT_API_URL`` passed down), so no
temporary server is started per command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flows.interstock import interstock
from stockbridge.ledger.ledger import Ledger

STOCKBRIDGE = str(Path(sys.executable).with_name("stockbridge"))
SEED = {
    "8880000000109": "1",
    "8880000000116": "5",
    "8880000000123": "7",
    "8880000000130": "10",
    "8880000000154": "5",
}


@pytest.fixture
def cli(prefect_harness, tmp_path):
    from prefect.settings import PREFECT_API_URL

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "STOCKBRIDGE_")) and not k.startswith("PYTEST")
    }
    env.update(
        PREFECT_API_URL=PREFECT_API_URL.value(),
        PREFECT_HOME=os.environ["PREFECT_HOME"],
        STOCKBRIDGE_HOME=os.environ["STOCKBRIDGE_HOME"],
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [STOCKBRIDGE, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,  # no configs/ folder here: nothing is read from the repository
            timeout=120,
        )

    return run


def store_root(path: Path) -> Path:
    return path.parent


def rewrite(path: Path, **overrides) -> Path:
    document = yaml.safe_load(path.read_text())
    document.update(overrides)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def assert_one_sentence_failure(done: subprocess.CompletedProcess[str], start: str) -> None:
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr + done.stdout
    headline = done.stdout.splitlines()[0]
    assert headline.startswith(start), done.stdout


def test_run_with_rejected_lines_exits_0_and_prints_the_summary(cli, make_store):
    path = make_store(articles=SEED)
    root = store_root(path)
    (root / "import" / "web-orders-0001.txt").write_bytes(
        b"8880000000116\t-1\n8880000000123\t-2\n8880000000999\t-1\n"
    )
    done = cli("run", str(path))
    assert done.returncode == 0, done
    assert "Traceback" not in done.stderr
    store = yaml.safe_load(path.read_text())["store"]
    assert done.stdout.startswith(f"{store}: 1 file(s) applied, 2 line(s) applied, 1 rejected"), (
        done.stdout
    )
    assert "rejected x1: unknown reference" in done.stdout
    assert "rejected lines in " in done.stdout
    assert (root / "export" / "articles.txt").read_text() == (
        "8880000000109\t1\n8880000000116\t4\n8880000000123\t5\n8880000000130\t10\n"
        "8880000000154\t5\n"
    )
    [error_file] = (root / "errors").iterdir()
    assert "web-orders-0001.txt\t3\tunknown reference" in error_file.read_text()


def test_bad_store_file_exits_2_with_the_problem(cli, make_store):
    path = make_store(schedule={"every": "60s", "foo": 1})
    done = cli("run", str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"{path}: schedule.foo: is not a known key here; check the spelling (unknown keys are"
        " refused)"
    ]
    done = cli("run", str(path.parent / "missing.yaml"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == f"{path.parent / 'missing.yaml'}: file not found"


def test_unreachable_location_exits_1_with_one_sentence(cli, make_store):
    path = make_store(**{"import": "ftp://127.0.0.1:1/x/"})
    done = cli("run", str(path))
    assert_one_sentence_failure(done, f"{yaml.safe_load(path.read_text())['store']}: failed: ")
    assert "cannot connect to ftp://127.0.0.1:1/x/" in done.stdout.splitlines()[0]


def test_unreachable_ledger_exits_1_with_one_sentence(cli, make_store):
    path = make_store(ledger="postgresql://postgres:Hunter2-pw@127.0.0.1:1/x")
    (store_root(path) / "import" / "sales.txt").write_bytes(b"8880000000116\t-1\n")
    done = cli("run", str(path))
    store = yaml.safe_load(path.read_text())["store"]
    assert_one_sentence_failure(done, f"{store}: failed: cannot reach the ledger at postgresql")
    assert "Hunter2-pw" not in done.stdout + done.stderr
    assert (store_root(path) / "import" / "sales.txt").exists()


def test_run_is_skipped_with_exit_75_while_the_store_is_busy(cli, make_store, sqlite_url):
    path = make_store()
    store = yaml.safe_load(path.read_text())["store"]
    ledger = Ledger.open(sqlite_url)
    try:
        with ledger.lock(store, "interstock"):
            done = cli("run", str(path))
    finally:
        ledger.close()
    assert done.returncode == 75, done
    assert done.stdout.startswith(f"{store}: skipped: another run for store '{store}'")
    assert "Traceback" not in done.stderr


def test_history_and_movements(cli, make_store, sqlite_url):
    first = make_store(articles=SEED)
    second = make_store(articles=SEED)
    (store_root(first) / "import" / "a.txt").write_bytes(b"8880000000130\t-1\n8880000000130\t-2\n")
    (store_root(second) / "import" / "b.txt").write_bytes(b"8880000000130\t+4\n")
    for path in (first, second):  # in this process: the commands below are under test
        state = interstock(config_path=str(path), return_state=True)
        assert state.result().state == "completed"
    name_1 = yaml.safe_load(first.read_text())["store"]
    name_2 = yaml.safe_load(second.read_text())["store"]
    ledger = Ledger.open(sqlite_url)
    try:
        [run_1] = ledger.history(name_1)
        [run_2] = ledger.history(name_2)
    finally:
        ledger.close()

    done = cli("history", "--ledger", sqlite_url)
    assert done.returncode == 0, done
    assert done.stdout.splitlines()[0] == f"ledger read: {sqlite_url}"
    assert done.stdout.splitlines()[1].startswith("started (UTC)")
    assert run_1["run_id"] in done.stdout
    assert run_2["run_id"] in done.stdout

    done = cli("history", "--store", name_1, "--config", str(first))
    assert done.returncode == 0, done
    [row] = done.stdout.splitlines()[2:]
    assert row.split()[2:] == [name_1, "completed", "1", "0", "2", "0", run_1["run_id"]]

    done = cli("movements", "--store", name_1, "8880000000130", "--ledger", sqlite_url)
    assert done.returncode == 0, done
    rows = [line.split() for line in done.stdout.splitlines()[2:-1]]
    # applied date, time, quantity, on hand after it, kind, file, line, run
    assert sorted((r[2], r[4], r[5], r[6], r[7]) for r in rows) == sorted(
        [
            ("-1", "sale", "a.txt", "1", run_1["run_id"]),
            ("-2", "sale", "a.txt", "2", run_1["run_id"]),
            ("10", "adjustment", "articles.tsv", "4", run_1["run_id"]),
        ]
    )


def test_validate(cli, make_store):
    path = make_store()
    done = cli("validate", str(path))
    assert (done.returncode, done.stderr) == (0, "")
    assert f"{yaml.safe_load(path.read_text())['store']} (interstock)" in done.stdout
    rewrite(path, negative_stock="sometimes")
    done = cli("validate", str(path.parent))
    assert done.returncode == 2
    assert "negative_stock: must be 'zero' or 'keep'" in done.stderr
    assert "Traceback" not in done.stderr
