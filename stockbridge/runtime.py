"""Process-wide defaults: the work folder, and Prefect settings applied before it is imported."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

EPHEMERAL_STARTUP_SECONDS = 120
"""How long a run without a Prefect server waits for the temporary one it starts. Prefect's
own 20 s is too short on a busy machine (load 6 on 2 cores took longer)."""

NO_SERVER = (
    "the temporary Prefect server did not start in time (the machine may be busy): start one"
    " with `make server` (or `prefect server start`), set"
    " PREFECT_API_URL=http://127.0.0.1:4200/api and run again"
)
SERVER_GONE = (
    "the Prefect server at {url} does not answer: start it with `make server` (or"
    " `prefect server start`), or unset PREFECT_API_URL to run with a temporary one"
)


def work_dir() -> Path:
    """``$STOCKBRIDGE_HOME``, else ``.work/`` in the current folder: ledger, Prefect, spool."""
    return Path(os.environ.get("STOCKBRIDGE_HOME", ".work")).expanduser().absolute()


def default_ledger_url() -> str:
    return f"sqlite:///{work_dir() / 'ledger.db'}"


def configure_prefect() -> None:
    """Keep Prefect's state in the work folder and its telemetry off, unless set otherwise.

    Must run before ``import prefect``: Prefect reads its settings at import time.
    """
    os.environ.setdefault("PREFECT_HOME", str(work_dir() / "prefect"))
    Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")
    os.environ.setdefault(
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(EPHEMERAL_STARTUP_SECONDS)
    )
    # Warnings from stockbridge's own loggers (e.g. "certificate not verified") reach the UI.
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "stockbridge")


def configured_api_url() -> str | None:
    """The Prefect server the user configured (environment or profile), None for none."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def check_server(timeout: float = 5.0) -> None:
    """Raise one sentence when a Prefect server is configured but does not answer."""
    import httpx

    from stockbridge.errors import StockbridgeError

    url = configured_api_url()
    if not url:
        return
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=timeout).raise_for_status()
    except httpx.HTTPError:
        raise StockbridgeError(SERVER_GONE.format(url=url)) from None


def server_problem(exc: BaseException) -> str | None:
    """One sentence when ``exc`` says the Prefect server is missing or gone, else None."""
    import httpx

    text = str(exc)
    if isinstance(exc, RuntimeError) and "ephemeral Prefect API server" in text:
        return NO_SERVER
    if isinstance(exc, httpx.TransportError | ConnectionError):
        url = configured_api_url()
        if url:
            return SERVER_GONE.format(url=url)
    cause = exc.__cause__ or exc.__context__
    return server_problem(cause) if cause is not None and cause is not exc else None


BULK_GC_THRESHOLD = 50_000


@contextmanager
def bulk_rows() -> Iterator[None]:
    """Collect reference cycles less often while rows are made by the hundred thousand.

    A row (a tuple of numbers and text) is in no cycle: reference counting frees it. But the
    cycle collector starts every 700 new objects and walks the young ones, and every so often
    every object of the process (Prefect's included): about a fifth of a 100,000-row chain
    push's CPU. Here it starts every 50,000 instead, so cycles made meanwhile (by Prefect's
    threads) are still collected. Process-wide, like the collector; nesting is harmless.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], BULK_GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
