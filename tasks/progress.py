"""How far a run is: a Prefect progress artifact per batch, and a line on a terminal.

A 200,000-line file used to show nothing for seconds. The applier reports after each batch
(a group of small files, or a piece of a large file it streams): bytes done of the bytes
listed, files and lines done. Prefect shows the percentage on the run's page; a person at a
terminal sees one line rewritten in place.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO


class Progress:
    def __init__(
        self,
        store: str,
        integration: str,
        total_files: int,
        total_bytes: int,
        stream: TextIO | None = None,
    ):
        self.store = store
        self.total_files, self.total_bytes = total_files, max(total_bytes, 1)
        self.files = self.lines = self.bytes = 0
        self.stream = stream if stream is not None else sys.stderr
        self.on_terminal = _is_terminal(self.stream)
        self.key = re.sub(r"[^a-z0-9-]", "-", f"{store}-{integration}-progress")
        self.artifact_id = None
        self.shown = False

    @property
    def percent(self) -> float:
        return min(100.0, 100.0 * self.bytes / self.total_bytes)

    def describe(self) -> str:
        return (
            f"{self.store}: {self.files}/{self.total_files} file(s), {self.lines:,} line(s),"
            f" {self.percent:.0f}%"
        )

    def start(self) -> None:
        from prefect.artifacts import create_progress_artifact

        if self.total_files == 0:
            return
        try:
            self.artifact_id = create_progress_artifact(
                0.0, key=self.key, description=self.describe()
            )
        except Exception:  # outside a Prefect run: the terminal line still works
            self.artifact_id = None

    def advance(self, files: int = 0, lines: int = 0, done_bytes: int = 0) -> None:
        """Add what one batch did, then tell Prefect and the terminal."""
        from prefect.artifacts import update_progress_artifact

        self.files += files
        self.lines += lines
        self.bytes += done_bytes
        if self.artifact_id is not None:
            try:
                update_progress_artifact(
                    self.artifact_id, self.percent, description=self.describe()
                )
            except Exception:  # a progress bar never fails a run: stop updating it
                self.artifact_id = None
        if self.on_terminal:
            self.stream.write("\r" + self.describe() + "\x1b[K")
            self.stream.flush()
            self.shown = True

    def finish(self, done: bool) -> None:
        """``done``: every file was taken (a run that failed half way stays where it was)."""
        from prefect.artifacts import update_progress_artifact

        if done and self.artifact_id is not None and self.percent < 100:
            self.bytes = self.total_bytes
            update_progress_artifact(self.artifact_id, 100.0, description=self.describe())
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
