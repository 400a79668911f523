"""Logging that reads well: one sentence for expected problems, tracebacks only for bugs."""

from __future__ import annotations

import logging
import uuid

from stockbridge.errors import StockbridgeError


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
