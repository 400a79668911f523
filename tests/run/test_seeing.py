"""Seeing rather than reading (issue 12 §5): Markdown tables in Prefect, skipped runs shown
as skipped, progress while a long run works."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from flows.interstock import interstock
from tests.interstock_store import new_store

pytestmark = pytest.mark.usefixtures("prefect_harness")


def artifacts_of(flow_run_id) -> dict[str, object]:
    """Key -> the latest artifact of that key the run published."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {artifact.key or artifact.type: artifact for artifact in found}


def _table(markdown: str) -> list[list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_files_and_summary_are_markdown_tables_with_words_as_headers(make_store):
    shop = new_store(make_store)
    shop.drop("orders | 1.txt", b"8880000000116\t-1\nnot a line\n")
    state = interstock(config_path=str(shop.path), return_state=True)
    found = artifacts_of(state.state_details.flow_run_id)
    key = f"{shop.name}-interstock"

    files = found[f"{key}-files"]
    assert files.type == "markdown"
    header, rule, row = _table(files.data)
    assert header[:5] == ["File", "Outcome", "Lines applied", "Lines rejected", "Error file"]
    assert set(rule[0]) <= {"-", "|"}
    assert row[0] == r"orders \| 1.txt"  # a | in a name stays in its cell
    assert row[1:4] == ["Applied", "1", "1"]
    assert row[4].endswith(".errors.txt")

    summary = found[f"{key}-summary"]
    assert summary.type == "markdown" and "```" not in summary.data
    assert summary.data.startswith(f"## {shop.name}: Completed")
    counts = dict(r for r in _table(summary.data) if len(r) == 2)
    assert counts["What"] == "Count"
    assert counts["Files applied"] == "1" and counts["Lines rejected"] == "1"


def test_a_skipped_run_shows_as_skipped(make_store):
    shop = new_store(make_store)
    ledger = shop.ledger()
    try:
        with ledger.lock(shop.name, "interstock"):  # another run holds the store
            state = interstock(config_path=str(shop.path), return_state=True)
    finally:
        ledger.close()
    assert state.is_completed() and state.name == "Skipped"
    summary = artifacts_of(state.state_details.flow_run_id)[f"{shop.name}-interstock-summary"]
    assert summary.data.startswith(f"## {shop.name}: Skipped")


def test_a_progress_artifact_follows_the_batches(make_store):
    shop = new_store(make_store, batch={"max_files": 1})
    for number in range(3):
        shop.drop(f"orders-{number}.txt", b"8880000000116\t-1\n8880000000123\t-1\n")
    state = interstock(config_path=str(shop.path), return_state=True)
    progress = artifacts_of(state.state_details.flow_run_id)[f"{shop.name}-interstock-progress"]
    assert progress.type == "progress"
    assert progress.data == 100.0
    assert progress.description == f"{shop.name}: 3/3 file(s), 6 line(s), 100%"


def test_a_terminal_sees_a_progress_line_per_batch(make_store, tmp_path):
    """``stockbridge run`` on a pseudo-terminal: one large file streamed in 1 KB pieces."""
    import os
    import pty
    import subprocess
    import sys
    from pathlib import Path

    from prefect.settings import PREFECT_API_URL

    shop = new_store(make_store, batch={"chunk_bytes": 1024})
    lines = 2000
    shop.drop("big.txt", b"8880000000116\t-1\n" * lines)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_LOGGING_LEVEL="WARNING")
    leader, follower = pty.openpty()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("stockbridge")), "run", str(shop.path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
        timeout=120,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert done.returncode == 0, seen.decode(errors="replace")
    updates = [u for u in seen.decode().split("\r") if u.startswith(f"{shop.name}: ")]
    assert len(updates) >= 20  # 34 KB in 1 KB pieces: one update per piece
    assert updates[-1].startswith(f"{shop.name}: 1/1 file(s), {lines:,} line(s), 100%")
    counts = [int(u.split(", ")[1].split()[0].replace(",", "")) for u in updates]
    assert counts == sorted(counts) and counts[0] < lines
