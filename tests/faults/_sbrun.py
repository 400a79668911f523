"""``stockbridge`` with a side-effect tracer: what the fault tests launch and kill.

Usage is the CLI's own (``python _sbrun.py run store.yaml``); the process runs
``stockbridge.cli.main`` unchanged. It only observes, through an audit hook (opens, renames
and directory scans of the store's folders) and SQLAlchemy/psycopg hooks (which statement
starts, commits), and appends one ``<monotonic seconds> <event>`` line per side effect to
``$SB_TRACE`` *before* the effect happens. The test reads the trace to name the phase a
kill landed in.

Optional, for deterministic crash points (counted from the first listing of the import
folder, except ``list`` itself):

* ``SB_CRASH=event:n`` -- SIGKILL the whole process group at the n-th ``event``, before the
  effect happens (no clean-up of any kind can run).
* ``SB_PAUSE=event:n:/path/go`` -- stop at the n-th ``event`` until ``/path/go`` exists, so
  the test can break something (a database, a lock) at an exact point.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def _folders(config_path: str) -> dict[str, str]:
    import yaml

    document = yaml.safe_load(Path(config_path).read_text())

    def local(value: object) -> str | None:
        url = value.get("url") if isinstance(value, dict) else value
        if not isinstance(url, str) or ("://" in url and not url.startswith("file://")):
            return None
        return str(Path(url.removeprefix("file://")).expanduser().absolute())

    folders = {
        "import": local(document.get("import")),
        "catalogue": local(document.get("catalogue")),
        "errors": local(document.get("errors")),
        "export": local(document.get("export")),
        "ledger": str(document.get("ledger") or ""),
    }
    if folders["export"]:
        folders["export"] = os.path.dirname(folders["export"])
    return {k: v for k, v in folders.items() if v}


class Tracer:
    def __init__(self, trace: str, folders: dict[str, str]):
        self.fd = os.open(trace, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.folders = folders
        self.listed = False
        self.counts: dict[str, int] = {}
        self.crash = self._spec(os.environ.get("SB_CRASH"))
        self.pause = self._spec(os.environ.get("SB_PAUSE"))

    @staticmethod
    def _spec(text: str | None) -> tuple[str, int, str] | None:
        if not text:
            return None
        event, count, *rest = text.split(":", 2)
        return event, int(count), rest[0] if rest else ""

    def event(self, name: str) -> None:
        os.write(self.fd, f"{time.monotonic():.6f} {name}\n".encode())
        if name == "list":
            self.listed = True
        elif not self.listed:
            return
        self.counts[name] = self.counts.get(name, 0) + 1
        for spec, action in ((self.crash, self._kill), (self.pause, self._wait)):
            if spec is not None and spec[0] == name and spec[1] == self.counts[name]:
                action(spec)

    def _kill(self, spec: tuple[str, int, str]) -> None:
        os.write(self.fd, f"{time.monotonic():.6f} crash-point {spec[0]}:{spec[1]}\n".encode())
        os.killpg(os.getpgrp(), signal.SIGKILL)

    def _wait(self, spec: tuple[str, int, str]) -> None:
        os.write(self.fd, f"{time.monotonic():.6f} paused {spec[0]}:{spec[1]}\n".encode())
        deadline = time.monotonic() + 300  # a test that died does not leave us waiting
        while not os.path.exists(spec[2]):
            if time.monotonic() > deadline:
                self._kill(spec)
            time.sleep(0.01)
        os.write(self.fd, f"{time.monotonic():.6f} resumed\n".encode())

    def _within(self, path: object, key: str) -> bool:
        folder = self.folders.get(key)
        if folder is None or not isinstance(path, str | bytes | os.PathLike):
            return False
        text = os.fsdecode(path)
        return os.path.dirname(os.path.abspath(text)) == folder

    # -- the audit hook: file effects in the store's own folders -------------------------------

    def audit(self, name: str, args: tuple) -> None:
        if name == "open":
            path, mode = args[0], args[1] or ""
            writing = any(flag in mode for flag in "wax+")
            if self._within(path, "import") and not writing:
                self.event("read")
            elif self._within(path, "export") and writing:
                self.event("export-write")
            elif self._within(path, "errors") and writing:
                self.event("errors-write")
            elif (
                not writing
                and "catalogue" in self.folders
                and isinstance(path, str)
                and os.path.abspath(path) == self.folders["catalogue"]
            ):
                self.event("catalogue-read")
        elif name == "os.rename":
            source, target = args[0], args[1]
            if self._within(target, "export"):
                self.event("export-publish")
            elif self._within(target, "errors"):
                self.event("errors-publish")
            elif self._within(source, "import"):
                self.event("archive")
        elif name == "os.scandir" and args and args[0] is not None:
            folder = self.folders.get("import")
            if folder and os.path.abspath(os.fsdecode(args[0])) == folder:
                self.event("list")

    # -- the ledger: which statement starts, when it commits -------------------------------------

    def statement(self, statement: str) -> None:
        text = " ".join(statement.split()).lower()
        if text.startswith("insert into runs"):
            self.event("run-start")
        elif text.startswith("update runs"):
            self.event("run-finish")
        elif text.startswith("insert into documents"):
            self.event("tx-documents")
        elif text.startswith(("insert into movements", "copy movements")):
            self.event("tx-movements")
        elif text.startswith(("insert into rejects", "copy rejects")):
            self.event("tx-rejects")
        elif text.startswith(("insert into stock", "copy stock_delta")):
            self.event("tx-stock")
        elif text.startswith("update documents") and "archived_to" in text:
            self.event("mark-archived")
        elif text.startswith("select") and any(
            read in text
            for read in ("reference, on_hand", "group_concat(reference", "string_agg(reference")
        ):
            self.event("stock-read")

    def install(self) -> None:
        sys.addaudithook(self.audit)
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        @event.listens_for(Engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            self.statement(statement)

        @event.listens_for(Engine, "commit")
        def _commit(conn):
            if self.listed:
                self.event("commit")

        if self.folders.get("ledger", "").startswith("postgresql"):
            import psycopg

            original = psycopg.Cursor.copy
            tracer = self

            def copy(cursor, statement, *args, **kwargs):
                tracer.statement(str(statement))
                return original(cursor, statement, *args, **kwargs)

            psycopg.Cursor.copy = copy


def main() -> int:
    trace = os.environ.get("SB_TRACE")
    if trace and len(sys.argv) >= 3 and sys.argv[1] == "run":
        Tracer(trace, _folders(sys.argv[2])).install()
    from stockbridge.cli import main as cli

    return cli(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
