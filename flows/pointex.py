"""The wine cellar: the till's nightly journal decrements linked cellar items.

MISSION system 5. Each run: bring the cellar catalogue's new items in, take the settled
journal files from the drop folder (the till's ``/sales`` over FTPS), apply each exactly
once (linked till codes move their item; the others are held as drinks to link), archive
them, write error files, list the drinks to link and publish the cellar stock file.
``pointex_links`` is the same store's answers from the Prefect UI: a form per run.
"""

from __future__ import annotations

from prefect import flow
from prefect.utilities.annotations import quote

from stockbridge.context import RunContext
from stockbridge.integrations.pointex.answers import answer_in_ui
from stockbridge.integrations.pointex.mapping import JournalFiles
from stockbridge.integrations.pointex.steps import (
    list_waiting,
    publish_cellar_stock,
    read_links,
    sync_cellar,
)
from stockbridge.run import run_store
from tasks.apply import apply_files
from tasks.collect import find_settled_files


@flow(name="pointex", log_prints=False, validate_parameters=True)
def pointex(config_path: str):
    """One sync of one cellar store, described by the YAML file at ``config_path``."""
    return run_store(config_path, "pointex", sync)


def sync(ctx: RunContext) -> None:
    summary, config = ctx.summary, ctx.config
    summary.waiting_word, summary.export_word = "drink(s) to link", "item(s)"
    cellar = sync_cellar(quote(ctx))
    if cellar.new_items:
        summary.notes.append(f"{cellar.new_items} new item(s) opened from the cellar catalogue")
    if cellar.rejected_lines:
        summary.notes.append(f"{cellar.rejected_lines} line(s) of the cellar catalogue ignored")
    candidates = find_settled_files(quote(ctx))
    families = tuple(config.families) if config.families else None
    mapping = JournalFiles(
        ctx.store, ctx.run_id, config.journal, config.timezone, families, read_links(quote(ctx))
    )
    apply_files(quote(ctx), quote(mapping), quote(candidates))
    summary.waiting = list_waiting(quote(ctx))
    if config.export is not None:
        stock = publish_cellar_stock(quote(ctx))
        summary.export_path, summary.export_rows = stock.path, stock.rows


@flow(name="pointex-links", log_prints=False, validate_parameters=True)
def pointex_links(config_path: str):
    """Answer the drinks to link of one cellar store from the Prefect UI."""
    return run_store(config_path, "pointex", answer_in_ui, locked=False)
