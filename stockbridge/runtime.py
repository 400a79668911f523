"""Process-wide defaults: the work folder, and Prefect settings applied before it is imported."""

from __future__ import annotations

import os
from pathlib import Path


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
    # Warnings from stockbridge's own loggers (e.g. "certificate not verified") reach the UI.
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "stockbridge")
