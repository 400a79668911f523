"""The one run lifecycle every integration's flow goes through.

Load the store file (secrets resolved here, inside the run, never as Prefect parameters),
take the (store, integration) lock, record the run in the ledger's history, let the
integration's ``sync`` do its steps, record how it ended (with the counts of what was done
even when it failed half way), publish the summary, and end the Prefect run in a state that
says it: Completed, Completed named ``Skipped`` when another run held the store, or Failed
with one sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext, suppress
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from prefect.states import Completed, Failed, State
from prefect.utilities.annotations import quote

from stockbridge.config.loader import load_store
from stockbridge.context import RunContext
from stockbridge.errors import StockbridgeError, StoreBusyError
from stockbridge.logs import run_id, run_logger, store_log_file

Sync = Callable[[RunContext], None]


def run_store(config_path: str, integration: str, sync: Sync, locked: bool = True) -> State:
    """One run of the store file at ``config_path`` for ``integration``.

    ``locked=False`` is for a run that mostly waits (a form in the UI) and whose every write
    takes the lock itself: holding it would keep the store's scheduled runs out meanwhile.
    """
    logger = run_logger()
    this_run = run_id()
    try:
        config = load_store(config_path)
        if config.integration != integration:  # type: ignore[attr-defined]
            raise StockbridgeError(
                f"{config_path} is a store file of integration '{config.integration}'"  # type: ignore[attr-defined]
                f", not '{integration}'; run it with `stockbridge run {config_path}`"
            )
    except StockbridgeError as exc:
        label_run(Path(config_path).stem, integration, "UTC")
        logger.error("%s", exc)
        return Failed(message=str(exc))
    label_run(config.store, integration, config.timezone)  # type: ignore[attr-defined]
    with store_log_file(config, logger):
        return _run_loaded(config, integration, sync, locked, logger, this_run)


def run_name(store: str, timezone: str, now: datetime | None = None) -> str:
    """``boutique-paris 2026-12-02 14:05``: the store and its local time, for a person."""
    moment = (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone))
    return f"{store} {moment:%Y-%m-%d %H:%M}"


def run_tags(store: str, integration: str) -> list[str]:
    """The tags every run carries, whoever started it (CLI, serve, the Prefect UI)."""
    return [f"store:{store}", f"integration:{integration}"]


def label_run(store: str, integration: str, timezone: str) -> None:
    """Give the current Prefect flow run its readable name and the store's tags.

    Done here, in the one lifecycle, so a run started by ``stockbridge run``, by ``serve`` or
    from the UI is named and tagged alike. A run outside Prefect (tests calling the
    lifecycle directly) has nothing to label.
    """
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext
    from prefect.runtime import flow_run

    if flow_run.id is None:
        return
    tags = list(dict.fromkeys([*(flow_run.tags or []), *run_tags(store, integration)]))
    context = FlowRunContext.get()
    chosen = context is not None and context.flow is not None and context.flow.flow_run_name
    # A name someone chose (flow.with_options(flow_run_name=...)) is kept; Prefect's random
    # "adjective-animal" is replaced.
    name = None if chosen else run_name(store, timezone)
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run.id, name=name, tags=tags).raise_for_status()
    except Exception as exc:  # a label is a courtesy: the run itself goes on
        run_logger().warning("could not name this run in Prefect: %s", type(exc).__name__)


def _run_loaded(config, integration: str, sync: Sync, locked: bool, logger, this_run: str):
    from tasks.report import publish_summary

    ctx = RunContext(config, this_run, logger)
    summary = ctx.summary
    try:
        lock = ctx.ledger.lock(config.store, integration) if locked else nullcontext()  # type: ignore[attr-defined]
        with lock:
            ctx.ledger.start_run(this_run, summary.store, integration)
            try:
                sync(ctx)
            except StockbridgeError as exc:
                summary.state, summary.message = "failed", str(exc)
            except Exception as exc:  # a bug: record it, then let Prefect show the traceback
                message = f"unexpected error: {type(exc).__name__}: {exc}"
                ctx.ledger.finish_run(this_run, "failed", summary.ledger_counts(), message)
                raise
            message = summary.message or summary.headline()
            ctx.ledger.finish_run(this_run, summary.state, summary.ledger_counts(), message)
    except StoreBusyError as exc:
        summary.state, summary.message = "skipped", str(exc)
        with suppress(StockbridgeError):  # history is a courtesy here; the lock holder writes
            ctx.ledger.record_skipped(this_run, summary.store, integration, str(exc))
    except StockbridgeError as exc:
        summary.state, summary.message = "failed", str(exc)
    finally:
        ctx.close()

    publish_summary(quote(ctx), quote(summary))
    if summary.state == "failed":
        logger.error("%s", summary.headline())
        return Failed(message=summary.message, data=summary)
    logger.info("%s", summary.headline())
    if summary.state == "skipped":
        return Completed(name="Skipped", message=summary.headline(), data=summary)
    return Completed(message=summary.headline(), data=summary)
