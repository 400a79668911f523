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

from prefect.states import Completed, Failed, State
from prefect.utilities.annotations import quote

from stockbridge.config.loader import load_store
from stockbridge.context import RunContext
from stockbridge.errors import StockbridgeError, StoreBusyError
from stockbridge.logs import run_id, run_logger

Sync = Callable[[RunContext], None]


def run_store(config_path: str, integration: str, sync: Sync, locked: bool = True) -> State:
    """One run of the store file at ``config_path`` for ``integration``.

    ``locked=False`` is for a run that mostly waits (a form in the UI) and whose every write
    takes the lock itself: holding it would keep the store's scheduled runs out meanwhile.
    """
    from tasks.report import publish_summary

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
        logger.error("%s", exc)
        return Failed(message=str(exc))
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
