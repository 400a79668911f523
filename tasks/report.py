"""Run summaries where users look: Markdown tables in Prefect (the files, the summary).

The table lists at most :data:`ARTIFACT_ROWS` files; a run of ten thousand files keeps its
full record in the ledger (``documents``), where ``stockbridge history`` reads it.
"""

from __future__ import annotations

import re

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from stockbridge.context import RunContext
from stockbridge.summary import RunSummary

ARTIFACT_ROWS = 1000


@task(name="publish run summary", cache_policy=NO_CACHE)
def publish_summary(ctx: RunContext, summary: RunSummary) -> None:
    key = re.sub(r"[^a-z0-9-]", "-", f"{summary.store}-{summary.integration}")
    if summary.files:
        create_markdown_artifact(
            key=f"{key}-files",
            markdown=summary.files_markdown(limit=ARTIFACT_ROWS),
            description=summary.headline(),
        )
    create_markdown_artifact(
        key=f"{key}-summary",
        markdown=summary.markdown(),
        description=summary.headline(),
    )
