"""Logging that reads well: one sentence for expected problems, tracebacks only for bugs."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from stockbridge.errors import StockbridgeError

if TYPE_CHECKING:
    from stockbridge.locations import Location


class HideExpectedTracebacks(logging.Filter):
    """Drop the traceback of a :class:`StockbridgeError`: its message already says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], StockbridgeError):
            record.exc_info = None
            record.exc_text = None
        return True


def install_console_filter() -> None:
    """Attach the filter to every handler Prefect and the root logger write to the console."""
    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, HideExpectedTracebacks) for f in handler.filters):
                handler.addFilter(HideExpectedTracebacks())


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """Prefect's run logger inside a run (shown in the UI), a plain logger elsewhere."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("stockbridge")


def run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.id or uuid.uuid4())


def retry_on_location_error(task, task_run, state) -> bool:
    """Prefect retry condition: a dropped connection or a busy server may pass; bugs won't."""
    from stockbridge.errors import LocationError

    try:
        state.result()
    except LocationError:
        return True
    except Exception:
        return False
    return False


NETWORK_RETRIES = {
    "retries": 1,
    "retry_delay_seconds": 2,
    "retry_condition_fn": retry_on_location_error,
}
"""Task options for steps that are safe to repeat (every step is: the ledger dedups)."""


# -- daily log files (``log_folder:``) ------------------------------------------------------

RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "stockbridge")
"""Where a run's lines are logged: its flow, its tasks, stockbridge's own modules."""
LOG_NAME = re.compile(r"^(?P<store>.+)_(?P<day>\d{4}-\d\d-\d\d)\.log$")


class DailyLogHandler(logging.Handler):
    """Writes a run's lines to ``STORE_YYYY-MM-DD.log``, the day in the store's time zone.

    A local folder gets each line as it is logged (a run killed half way leaves what it
    said); a remote one gets the run's lines appended in one write when the run ends.
    """

    def __init__(self, store: str, timezone: str, folder: Location, flow_run_id: str | None):
        super().__init__(logging.INFO)
        self.store, self.zone, self.folder = store, ZoneInfo(timezone), folder
        self.flow_run_id = flow_run_id
        self.local = folder.config.scheme == "file"
        self.pending: dict[str, list[str]] = {}
        self.addFilter(HideExpectedTracebacks())
        self.setFormatter(logging.Formatter("%(message)s"))

    def file_name(self, moment: datetime) -> str:
        return f"{self.store}_{moment.astimezone(self.zone):%Y-%m-%d}.log"

    def emit(self, record: logging.LogRecord) -> None:
        run = getattr(record, "flow_run_id", None)
        if self.flow_run_id and run is not None and str(run) != self.flow_run_id:
            return  # another run's line in this process
        try:
            moment = datetime.fromtimestamp(record.created, UTC)
            local = moment.astimezone(self.zone)
            where = getattr(record, "task_run_name", None) or getattr(record, "flow_run_name", "")
            text = self.format(record)
            line = f"{local:%Y-%m-%d %H:%M:%S%z} | {record.levelname:<7} | {where} - {text}\n"
            name = self.file_name(moment)
            if self.local:
                path = self.folder.config.local_path / name
                with open(path, "a", encoding="utf-8") as handle:
                    handle.write(line)
            else:
                self.pending.setdefault(name, []).append(line)
        except Exception:
            self.handleError(record)

    def flush_remote(self) -> None:
        for name, lines in self.pending.items():
            old = self.folder.read_bytes(name) if self.folder.exists(name) else b""
            self.folder.write_atomic(name, old + "".join(lines).encode("utf-8"))
        self.pending.clear()

    def remove_old(self, keep_days: int, today: date | None = None) -> list[str]:
        """Remove this store's log files older than ``keep_days`` days (today counts)."""
        today = today or datetime.now(self.zone).date()
        oldest = today - timedelta(days=keep_days - 1)
        removed = []
        for file in self.folder.list_files():
            match = LOG_NAME.match(file.name)
            if not match or match["store"] != self.store:
                continue
            if date.fromisoformat(match["day"]) < oldest:
                self.folder.fs.rm(self.folder.path(file.name))
                removed.append(file.name)
        return removed


@contextmanager
def store_log_file(config: Any, logger: logging.Logger | logging.LoggerAdapter) -> Iterator[None]:
    """While a run goes on, copy its log lines to the store's daily file (if it has a
    ``log_folder``); then remove the files older than ``log_keep`` days. A log folder
    that cannot be written is a warning in the run, never a failed run."""
    from prefect.runtime import flow_run

    from stockbridge.locations import open_folder

    folder_config = getattr(config, "log_folder", None)
    if folder_config is None:
        yield
        return
    try:
        folder = open_folder(folder_config)
        folder.ensure_folder()
    except StockbridgeError as exc:
        logger.warning("no daily log file: %s", exc)
        yield
        return
    handler = DailyLogHandler(
        config.store, config.timezone, folder, str(flow_run.id) if flow_run.id else None
    )
    loggers = [logging.getLogger(name) for name in RUN_LOGGERS]
    for each in loggers:
        each.addHandler(handler)
    try:
        yield
    finally:
        for each in loggers:
            each.removeHandler(handler)
        try:
            handler.flush_remote()
            handler.remove_old(config.log_keep)
        except Exception as exc:  # the run's outcome stands; the log is a courtesy
            logger.warning("daily log file in %s: %s", folder.display, exc)
