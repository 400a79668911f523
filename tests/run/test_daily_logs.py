"""`log_folder:` (issue 12 §4): a log file per store and day, in the store's time zone, with
the run's own lines, older ones removed past ``log_keep`` days; on any integration and on
a remote folder too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from flows.pointex import pointex
from tests.interstock_store import new_store
from tests.pointex.store import CellarStore, line

pytestmark = pytest.mark.usefixtures("prefect_harness", "info_logs")


@pytest.fixture
def info_logs():
    """The tests' Prefect logs at WARNING; a shop's at INFO, which the daily file copies."""
    import logging

    loggers = [logging.getLogger(n) for n in ("prefect.flow_runs", "prefect.task_runs")]
    levels = [each.level for each in loggers]
    for each in loggers:
        each.setLevel(logging.INFO)
    yield
    for each, level in zip(loggers, levels, strict=True):
        each.setLevel(level)


# A zone whose date is not UTC's date now (UTC+14 from 10:00 UTC, UTC-12 before 12:00 UTC),
# so a file named by the UTC day would be found wrong.
ZONE = "Pacific/Kiritimati" if datetime.now(UTC).hour >= 10 else "Etc/GMT+12"


def _today() -> str:
    return f"{datetime.now(UTC).astimezone(ZoneInfo(ZONE)):%Y-%m-%d}"


def test_a_daily_log_file_holds_the_runs_lines_and_old_ones_go(make_store, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    shop = new_store(make_store, timezone=ZONE, log_folder=str(logs), log_keep=3)
    name = shop.name
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    kept = logs / f"{name}_{today - timedelta(days=2):%Y-%m-%d}.log"
    gone = logs / f"{name}_{today - timedelta(days=3):%Y-%m-%d}.log"
    other = logs / f"another-shop_{today - timedelta(days=40):%Y-%m-%d}.log"
    for path in (kept, gone, other):
        path.write_text("an older day\n")

    shop.drop("orders-1.txt", b"8880000000116\t-1\nnot a line\n")
    first = shop.run()
    shop.drop("orders-2.txt", b"8880000000116\t-1\n")
    shop.run()

    assert _today() != f"{datetime.now(UTC):%Y-%m-%d}"
    today_log = logs / f"{name}_{_today()}.log"
    text = today_log.read_text()
    assert first.headline() in text  # the run's closing line, as in Prefect's log
    assert text.count(f"{name}: 1 file(s) applied") == 2  # both runs, appended
    assert "opened 5 new article(s)" in text  # a task's line too
    assert all(line.startswith(_today()) for line in text.splitlines())
    assert kept.exists() and other.exists() and not gone.exists()


def test_a_cellar_store_logs_to_a_remote_folder(tmp_path, s3_server, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret)
    cellar = CellarStore(
        tmp_path,
        f"sqlite:///{tmp_path / 'cellar.db'}",
        timezone=ZONE,
        log_folder={
            "url": f"s3://{s3_server.bucket}/logs/",
            "endpoint_url": s3_server.endpoint_url,
            "key": s3_server.key,
            "secret": "${AWS_SECRET_ACCESS_KEY}",
            "region": s3_server.region,
        },
    )
    cellar.drop("journal-1.csv", [line("0401", "Chablis 2019 verre")])
    state = pointex(config_path=str(cellar.path), return_state=True)
    summary = state.result()
    body = (
        s3_server.client.get_object(
            Bucket=s3_server.bucket, Key=f"logs/{cellar.name}_{_today()}.log"
        )["Body"]
        .read()
        .decode()
    )
    assert summary.headline() in body
    assert s3_server.secret not in body
