"""A chain store's sync (or HQ's), and HQ's job requests from the Prefect UI.

MISSION system 2. Each run of a store: the start-up checks, HQ's jobs for it, push of its
new rows (exactly once, acknowledged at HQ), pull of HQ's changes, the stock movements of
what HQ received into the chain's ledger, one line per entity in the summary. ``only``
(``push:customers``, ``pull:articles``) does one exchange, a pull then in full. Only the store
file's path and these non-secret choices are parameters.
"""

from __future__ import annotations

from prefect import flow

from stockbridge.context import RunContext
from stockbridge.run import run_store


@flow(name="chain", log_prints=False, validate_parameters=True)
def chain(config_path: str, only: str | None = None):
    """One sync of one chain store (or HQ), described by the YAML file at ``config_path``."""
    from stockbridge.integrations.chain.sync import sync

    def run(ctx: RunContext) -> None:
        sync(ctx, config_path, only)

    return run_store(config_path, "chain", run)


@flow(name="chain-jobs", log_prints=False, validate_parameters=True)
def chain_jobs(config_path: str, stores: str = "all", what: str = "articles"):
    """Ask stores for jobs from HQ's store file: ``stores`` is ``all`` or ``lyon,paris``,
    ``what`` a comma list (articles, keyboards, stores, products, technical_sheets,
    customers, printers, stock)."""
    from stockbridge.integrations.chain.commands import request

    def run(ctx: RunContext) -> None:
        ids = request(ctx.config, stores.split(","), what.split(","), by="prefect")
        ctx.summary.notes.append(f"{len(ids)} job(s) requested: {stores} -> {what}")

    return run_store(config_path, "chain", run, locked=False)
