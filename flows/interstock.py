"""InterStock: apply the web shop's movement files to the till's stock, export the result.

MISSION system 1. Each run: open new articles from the till's article file, take the
settled movement files from the import folder(s), apply each exactly once, archive them,
write error files for rejected lines, and publish the full article file with the available
quantities. The flow gets only the store file's path: secrets are resolved inside the run
and never become Prefect parameters.
"""

from __future__ import annotations

from prefect import flow
from prefect.utilities.annotations import quote

from stockbridge.context import RunContext
from stockbridge.integrations.interstock.catalogue import sync_catalogue
from stockbridge.integrations.interstock.export import publish_export
from stockbridge.integrations.interstock.mapping import MovementFiles
from stockbridge.run import run_store
from tasks.apply import apply_files
from tasks.collect import find_settled_files


@flow(name="interstock", log_prints=False, validate_parameters=True)
def interstock(config_path: str):
    """One sync of one InterStock store, described by the YAML file at ``config_path``."""
    return run_store(config_path, "interstock", sync)


def sync(ctx: RunContext) -> None:
    # quote(): Prefect would otherwise walk every argument looking for futures, which costs
    # seconds on ten thousand file records; these arguments never hold futures.
    summary = ctx.summary
    catalogue = sync_catalogue(quote(ctx))
    summary.new_articles = catalogue.new_articles
    summary.catalogue_rejects = catalogue.rejected_lines
    candidates = find_settled_files(quote(ctx))
    mapping = MovementFiles(ctx.store, ctx.run_id, catalogue.references)
    apply_files(quote(ctx), quote(mapping), quote(candidates))
    export = publish_export(quote(ctx), quote(catalogue.references))
    summary.export_path, summary.export_rows = export.path, export.rows
    summary.negative = export.negative
