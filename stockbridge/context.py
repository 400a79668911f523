"""Everything one run of one store needs, opened once and handed to each task.

The same context serves every integration: the store file (any integration's model), the
run's id, logger and summary, and the ledger and locations, each opened on first use.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from stockbridge.ledger.ledger import Ledger
from stockbridge.locations import Location, open_file, open_folder
from stockbridge.runtime import default_ledger_url, work_dir
from stockbridge.summary import RunSummary

ARCHIVE_FOLDER = "archive"
UNREADABLE_FOLDER = "unreadable"


@dataclass
class RunContext:
    config: Any
    """The store file's model (``StoreBase``; ``FileIntake`` for the file-based keys below)."""
    run_id: str
    logger: logging.Logger | logging.LoggerAdapter
    summary: RunSummary = field(default=None, repr=False)  # type: ignore[assignment]
    """What the run did so far: every step adds to it, so a failed run still reports."""
    _ledger: Ledger | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.summary is None:
            self.summary = RunSummary(self.config.store, self.config.integration, self.run_id)

    @property
    def store(self) -> str:
        return self.config.store

    @property
    def integration(self) -> str:
        return self.config.integration

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger.open(self.config.ledger or default_ledger_url())
        return self._ledger

    @cached_property
    def imports(self) -> list[Location]:
        return [open_folder(location) for location in self.config.imports]

    def archive_for(self, index: int) -> Location:
        """Where files of import location ``index`` go once applied.

        Default: an ``archive/`` folder inside the import folder, on the same connection, so
        archiving is a rename on every backend and needs no extra permission.
        """
        if self.config.archive is not None:
            return self._archive
        return self.imports[index].child(ARCHIVE_FOLDER)

    @cached_property
    def _archive(self) -> Location:
        assert self.config.archive is not None
        return open_folder(self.config.archive)

    @cached_property
    def errors(self) -> Location:
        return open_folder(self.config.errors)

    @cached_property
    def export(self) -> tuple[Location, str]:
        return open_file(self.config.export)

    @cached_property
    def catalogue(self) -> tuple[Location, str]:
        return open_file(self.config.catalogue)

    @cached_property
    def spool(self) -> Path:
        """A private folder for large downloads, removed with the process's temp files."""
        root = work_dir() / "spool"
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{self.store}-", dir=root))

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
        if "spool" in self.__dict__:
            for path in self.spool.glob("*"):
                path.unlink(missing_ok=True)
            self.spool.rmdir()
