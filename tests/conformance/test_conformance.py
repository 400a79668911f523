"""What every integration must do, whatever its input: the same tests, one adapter each.

* The same file (same name, same bytes) delivered again after it was applied is a
  ``duplicate``: archived, nothing in the ledger changes. The same bytes under another name
  are what the adapter says the integration makes of them: a new document applied once as
  itself (InterStock: a movement file may repeat on purpose), or a new document whose lines
  are all recorded as repeats of the first (a till's sales are events: the cellar); either
  way no line counts twice.
* Killed (SIGKILL, the whole process group) right after the ledger commit of a file and
  before it is archived, the next run archives it as ``recovered`` and applies nothing again.
* A location's password (``${SECRET}`` in the store file) never reaches the run's output,
  its error files, any text in the ledger, or the Prefect server (flow run, parameters, task
  runs, logs, artifacts).
* A bad line is reported with its document, line number, raw text and reason, in the error
  file and the ``rejects`` table; every other line of the input lands somewhere known.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tasks.errorfiles import printable
from tests.conformance.adapters import Adapter, Input, LedgerReader, Store
from tests.faults.harness import LIVE, WRAPPER, Launched
from tests.servers import running_ftp_server

SECRET = "Qx7-conformance-S3CRET-91fd2b"
"""A value that appears nowhere else, so finding it anywhere is the leak."""
SECRET_VARIABLE = "SB_CONFORMANCE_SECRET"
UNCHANGED_TABLES_EXCEPT = ("runs", "alembic_version")
"""A duplicate changes no table but the run history."""


def drop(folder: Path, item: Input) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / item.name).write_bytes(item.data)


def outcomes(summary) -> list[tuple[str, str]]:
    return [(f.file, f.status) for f in summary.files]


def document_of(ledger: LedgerReader, store: Store, item: Input) -> Any:
    digest = hashlib.sha256(item.data).hexdigest()
    rows = [
        r for r in ledger.documents(store.store) if (r.document, r.digest) == (item.name, digest)
    ]
    assert len(rows) == 1, f"{item.name}: {len(rows)} documents"
    return rows[0]


def dump(ledger: LedgerReader) -> dict[str, list[tuple]]:
    """Every row of every ledger table but the run history, in a stable order."""
    import sqlalchemy as sa

    tables = sa.inspect(ledger.engine).get_table_names()
    return {
        table: sorted(
            (tuple(map(repr, row)) for row in ledger.rows(f"SELECT * FROM {table}")),
        )
        for table in tables
        if table not in UNCHANGED_TABLES_EXCEPT
    }


def archive_name(item: Input) -> str:
    digest = hashlib.sha256(item.data).hexdigest()
    stem, _, suffix = item.name.rpartition(".")
    return f"{stem}.{digest[:12]}.{suffix}"


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.exists() else []


# -- duplicate delivery -------------------------------------------------------------------------


def test_the_same_file_again_is_a_duplicate_and_changes_nothing(
    adapter: Adapter, tmp_path, sqlite_url, run, ledger
):
    store = adapter.make_store(tmp_path, sqlite_url)
    adapter.prepare(store, run)
    first = adapter.valid_input(1)

    drop(store.inbox, first)
    summary = run(store.config)
    assert outcomes(summary) == [(first.name, "applied")], summary.render()
    assert adapter.left_out(summary.files[0]) == first.left_out
    assert ledger.stock(store.store) == adapter.expected_stock(store, [first])
    assert adapter.outcomes(store, ledger, document_of(ledger, store, first).id) == first.outcomes
    before = dump(ledger)

    drop(store.inbox, first)  # delivered again: same name, same bytes
    summary = run(store.config)
    assert outcomes(summary) == [(first.name, "duplicate")], summary.render()
    assert dump(ledger) == before, "a duplicate changed the ledger"
    assert files_in(store.inbox) == []
    assert files_in(store.archive) == [archive_name(first)]
    assert (store.archive / archive_name(first)).read_bytes() == first.data

    copy = first.renamed(f"copy-{first.name}")  # the same bytes under another name
    drop(store.inbox, copy)
    summary = run(store.config)
    if adapter.renamed_copy == "new document":
        assert outcomes(summary) == [(copy.name, "applied")], summary.render()
        applied = [first, copy]
        row = document_of(ledger, store, copy)
        assert adapter.outcomes(store, ledger, row.id) == copy.outcomes
    elif adapter.renamed_copy == "lines repeated":  # a new document whose lines count once
        assert outcomes(summary) == [(copy.name, "applied")], summary.render()
        applied = [first]
        row = document_of(ledger, store, copy)
        recorded = sum(v for k, v in copy.outcomes.items() if k != "rejected")
        assert adapter.outcomes(store, ledger, row.id) == {"repeated": recorded}
    else:
        assert outcomes(summary) == [(copy.name, "duplicate")], summary.render()
        applied = [first]
    # Each document counts exactly once: the original once, the copy once if it is one.
    assert ledger.stock(store.store) == adapter.expected_stock(store, applied)
    documents_now = len(before["documents"]) + (1 if adapter.renamed_copy != "duplicate" else 0)
    assert len(ledger.documents(store.store)) == documents_now
    after_copy = dump(ledger)

    drop(store.inbox, copy)  # and that copy delivered again
    assert outcomes(run(store.config)) == [(copy.name, "duplicate")]
    assert dump(ledger) == after_copy
    assert files_in(store.archive) == sorted({archive_name(first), archive_name(copy)})


# -- recovery after a kill ----------------------------------------------------------------------


def test_killed_after_the_commit_before_archiving_is_recovered_not_applied_again(
    adapter: Adapter, tmp_path, sqlite_url, run, ledger, cli_env
):
    store = adapter.make_store(tmp_path, sqlite_url)
    adapter.prepare(store, run)
    item = adapter.valid_input(2)
    drop(store.inbox, item)

    # The tracer SIGKILLs the process group just before the first move out of the import
    # folder: the ledger transaction has committed, nothing is archived yet.
    trace, output = tmp_path / "trace.txt", tmp_path / "output.txt"
    env = {**cli_env, "SB_TRACE": str(trace), "SB_CRASH": "archive:1"}
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, str(WRAPPER), "run", str(store.config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    launched = Launched(process, time.monotonic(), trace, output)
    LIVE.append(launched)
    assert launched.wait() == -signal.SIGKILL, launched.text()
    events = [name for _, name in launched.events()]
    assert "crash-point archive:1" in events and "commit" in events, events

    row = document_of(ledger, store, item)
    assert row.status == "applied", "the commit did not happen before the kill"
    assert files_in(store.inbox) == [item.name] and files_in(store.archive) == []
    assert ledger.stock(store.store) == adapter.expected_stock(store, [item])

    summary = run(store.config)
    assert outcomes(summary) == [(item.name, "recovered")], summary.render()
    assert ledger.stock(store.store) == adapter.expected_stock(store, [item])
    assert adapter.outcomes(store, ledger, row.id) == item.outcomes
    assert len(ledger.documents(store.store)) == len(
        [r for r in ledger.documents(store.store) if r.id <= row.id]
    ), "the recovery added a document"
    assert document_of(ledger, store, item).status == "archived"
    assert files_in(store.inbox) == [] and files_in(store.archive) == [archive_name(item)]

    assert outcomes(run(store.config)) == []  # and nothing is left to do
    assert ledger.stock(store.store) == adapter.expected_stock(store, [item])


# -- secrets ------------------------------------------------------------------------------------


@contextlib.contextmanager
def prefect_logs_at(level: int):
    """Run loggers at ``level``: the session runs Prefect at WARNING, a server at INFO."""
    import prefect.main  # noqa: F401 (configures Prefect's logging once: before, not after us)

    loggers = [logging.getLogger(name) for name in ("prefect", "stockbridge")]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, old in zip(loggers, before, strict=True):
            logger.setLevel(old)


def prefect_records(flow_run_ids: list[str]) -> dict[str, list[str]]:
    """Everything the Prefect server keeps of these flow runs, as JSON text, by kind."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    APILogWorker.drain_all(timeout=5)

    async def read() -> dict[str, list[str]]:
        async with get_client() as client:
            found: dict[str, list[str]] = {"flow runs": [], "task runs": [], "logs": []}
            for flow_run_id in flow_run_ids:
                flow_run = await client.read_flow_run(flow_run_id)
                found["flow runs"].append(flow_run.model_dump_json())
            runs = FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids))
            found["task runs"] = [
                t.model_dump_json() for t in await client.read_task_runs(flow_run_filter=runs)
            ]
            found["artifacts"] = [
                a.model_dump_json()
                for a in await client.read_artifacts(
                    artifact_filter=ArtifactFilter(
                        flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids)
                    )
                )
            ]
            found["logs"] = [
                entry.model_dump_json()
                for entry in await client.read_logs(
                    log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids))
                )
            ]
            return found

    return run_coro_as_sync(read())


def test_a_secret_never_reaches_output_error_files_ledger_or_prefect(
    adapter: Adapter, tmp_path, sqlite_url, run, ledger, monkeypatch, capfd
):
    from stockbridge.cli import main

    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    with running_ftp_server(tmp_path / "ftp-home") as server:
        # A user of our own: the test server's default password is shared by other tests.
        server._server.handler.authorizer.add_user(
            "conformance", SECRET, str(server.root), perm="elradfmwMT"
        )
        (server.root / "in").mkdir()
        location = {
            "url": server.url("/in/"),
            "username": "conformance",
            "password": f"${{{SECRET_VARIABLE}}}",
            "timeout": 5,
        }
        store = adapter.make_store(tmp_path, sqlite_url, imports=location)
        assert SECRET not in store.config.read_text()
        with prefect_logs_at(logging.INFO):
            adapter.prepare(store, run)
            good, bad = adapter.valid_input(3), adapter.bad_input(3)
            for item in (good, bad):
                drop(server.root / "in", item)
            capfd.readouterr()
            code = main(["run", str(store.config)])
            out, err = capfd.readouterr()
        assert code == 0, out + err
        archived = files_in(server.root / "in" / "archive")
    assert archived == sorted([archive_name(good), archive_name(bad)]), out + err

    assert SECRET not in out + err, "the secret is in the run's output"
    assert "conformance" in out + err or server.url("/in/") in out + err
    error_files = files_in(store.errors)
    assert error_files, "the bad line made no error file"
    for name in error_files:
        assert SECRET not in (store.errors / name).read_text(errors="replace"), name

    # Every file the test wrote or stockbridge did (archive, export, ledger, its work folder).
    folders = (tmp_path, Path(os.environ["STOCKBRIDGE_HOME"]))
    written = [
        p
        for folder in folders
        for p in folder.rglob("*")
        if p.is_file() and SECRET.encode() in p.read_bytes()
    ]
    assert not written, f"the secret is in files: {written}"

    texts = ledger.text_values()
    assert any(table == "rejects" for table, _, _ in texts)
    leaks = [(table, column) for table, column, value in texts if SECRET in value]
    assert not leaks, f"the secret is in the ledger: {leaks}"

    flow_runs = [
        r.run_id for r in ledger.rows("SELECT run_id FROM runs WHERE store = :s", s=store.store)
    ]
    assert flow_runs
    for _ in range(40):  # logs reach the server in batches
        records = prefect_records(flow_runs)
        if records["logs"] and records["artifacts"]:
            break
        time.sleep(0.25)
    assert records["artifacts"], "no artifacts: the check would prove nothing"
    assert records["logs"], "no logs reached the server: the check would prove nothing"
    leaks = [kind for kind, items in records.items() for text in items if SECRET in text]
    assert not leaks, f"the secret is in Prefect's {sorted(set(leaks))}"


# -- a bad line ---------------------------------------------------------------------------------


def test_a_bad_line_is_reported_with_document_line_raw_text_and_reason(
    adapter: Adapter, tmp_path, sqlite_url, run, ledger
):
    store = adapter.make_store(tmp_path, sqlite_url)
    adapter.prepare(store, run)
    item = adapter.bad_input(4)
    bad = item.bad
    assert bad is not None
    drop(store.inbox, item)

    summary = run(store.config)
    [outcome] = summary.files
    assert (outcome.file, outcome.status, outcome.lines_rejected) == (item.name, "applied", 1)
    assert any(bad.reason in reason for reason in summary.reject_reasons), summary.reject_reasons
    assert bad.reason in summary.render()

    digest = hashlib.sha256(item.data).hexdigest()
    error_file = store.errors / f"{item.name}.{digest[:12]}.errors.txt"
    assert outcome.error_file and Path(outcome.error_file).name == error_file.name
    comment, header, *rows = error_file.read_text().splitlines()
    assert item.name in comment and store.store in comment
    assert header == "file\tline\treason\traw"
    assert len(rows) == 1, rows
    document, line, reason, raw = rows[0].split("\t", 3)
    assert (document, int(line), raw) == (item.name, bad.line, printable(bad.raw))
    assert bad.reason in reason

    row = document_of(ledger, store, item)
    assert row.lines_rejected == 1
    [reject] = ledger.rejects(row.id)
    assert (reject.line, reject.raw, reject.reason) == (bad.line, bad.raw, reason)

    # Nothing skipped silently: every record line of the input is in the ledger, or left
    # out on purpose and said so in the run's report of the file.
    found = adapter.outcomes(store, ledger, row.id)
    assert found == item.outcomes
    assert adapter.left_out(outcome) == item.left_out
    assert sum(found.values()) + item.left_out == item.records
    assert ledger.stock(store.store) == adapter.expected_stock(store, [item])
