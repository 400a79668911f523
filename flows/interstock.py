"""InterStock: apply the web shop's movement files to the till's stock, export the result.

MISSION system 1. Each run: open new articles from the till's article file, take the
settled movement files from the import folder(s), apply each exactly once, archive them,
write error files for rejected lines, and publish the full article file with the available
quantities. The flow gets only the store file's path: secrets are resolved inside the run
and never become Prefect parameters.
"""

from __future__ import annotations

from contextlib import suppress

from prefect import flow
from prefect.states import Completed, Failed
from prefect.utilities.annotations import quote

from stockbridge.config.loader import load_store
from stockbridge.context import RunContext
from stockbridge.errors import StockbridgeError, StoreBusyError
from stockbridge.logs import run_id, run_logger
from stockbridge.summary import RunSummary
from tasks.apply import ApplyResult, apply_files
from tasks.catalogue import sync_catalogue
from tasks.collect import find_settled_files
from tasks.export import publish_export
from tasks.report import publish_summary


@flow(name="interstock", log_prints=False, validate_parameters=True)
def interstock(config_path: str):
    """One sync of one InterStock store, described by the YAML file at ``config_path``."""
    logger = run_logger()
    this_run = run_id()
    try:
        config = load_store(config_path)
    except StockbridgeError as exc:
        logger.error("%s", exc)
        return Failed(message=str(exc))
    ctx = RunContext(config, this_run, logger, applied=ApplyResult())  # type: ignore[arg-type]
    summary = RunSummary(config.store, config.integration, this_run)
    try:
        with ctx.ledger.lock(config.store):
            ctx.ledger.start_run(this_run, config.store, config.integration)
            try:
                sync(ctx, summary)
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
            ctx.ledger.record_skipped(this_run, config.store, config.integration, str(exc))
    except StockbridgeError as exc:
        summary.state, summary.message = "failed", str(exc)
    finally:
        ctx.close()

    publish_summary(quote(ctx), quote(summary))
    if summary.state == "failed":
        logger.error("%s", summary.headline())
        return Failed(message=summary.message, data=summary)
    logger.info("%s", summary.headline())
    return Completed(message=summary.headline(), data=summary)


def sync(ctx: RunContext, summary: RunSummary) -> None:
    # quote(): Prefect would otherwise walk every argument looking for futures, which costs
    # seconds on ten thousand file records; these arguments never hold futures.
    catalogue = sync_catalogue(quote(ctx))
    summary.new_articles = catalogue.new_articles
    summary.catalogue_rejects = catalogue.rejected_lines
    candidates = find_settled_files(quote(ctx))
    applied = apply_files(quote(ctx), quote(catalogue.references), quote(candidates))
    summary.files = applied.outcomes
    summary.reject_reasons = applied.reasons
    export = publish_export(quote(ctx), quote(catalogue.references))
    summary.export_path, summary.export_rows = export.path, export.rows
    summary.negative = export.negative
