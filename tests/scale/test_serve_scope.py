"""What lets `stockbridge serve` run on several machines against one Prefect server.

Fast checks of the fixes the scale test needed (stockbridge/deployments.py):

* a serve tidies only the deployments of the folders it serves, so a second machine serving
  another folder does not delete the first one's deployments;
* a serve honours PREFECT_RUNNER_PROCESS_LIMIT (``prefect.serve`` alone means "no limit").
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, PREFECT_RUNNER_PROCESS_LIMIT, temporary_settings
from prefect.utilities.asyncutils import run_coro_as_sync

import stockbridge.deployments as deployments_module
from stockbridge.deployments import build_deployments, remove_stale_deployments


def _folder(make_store, tmp_path: Path, name: str, stores: list[str]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for store in stores:
        path = make_store(name=store)
        (folder / path.name).write_text(path.read_text())
    return folder


async def _names() -> set[str]:
    async with get_client() as client:
        return {d.name for d in await client.read_deployments()}


@pytest.mark.usefixtures("prefect_harness")
def test_a_serve_removes_only_stale_deployments_of_its_own_folders(make_store, tmp_path):
    north = _folder(make_store, tmp_path, "region-north", ["north-a", "north-b"])
    south = _folder(make_store, tmp_path, "region-south", ["south-a", "south-b"])
    for deployment in build_deployments([north]) + build_deployments([south]):
        deployment.apply()

    # the south machine starts: the north deployments are not its business
    assert run_coro_as_sync(remove_stale_deployments(build_deployments([south]), [south])) == []
    assert {"north-a", "north-b", "south-a", "south-b"} <= run_coro_as_sync(_names())

    # a store file of the south folder is deleted: only that deployment goes
    (south / "south-b.yaml").unlink()
    removed = run_coro_as_sync(remove_stale_deployments(build_deployments([south]), [south]))
    assert removed == ["interstock/south-b"]
    names = run_coro_as_sync(_names())
    assert {"north-a", "north-b", "south-a"} <= names
    assert "south-b" not in names

    # a serve given the store file itself (not its folder) sees it as its own as well
    single = north / "north-a.yaml"
    assert run_coro_as_sync(remove_stale_deployments(build_deployments([single]), [single])) == []


def test_serve_passes_the_runner_process_limit(make_store, monkeypatch):
    seen: dict = {}

    async def nothing(*args, **kwargs):
        return []

    monkeypatch.setattr(deployments_module, "remove_stale_deployments", nothing)
    monkeypatch.setattr(deployments_module, "start_runs_on_start", nothing)
    monkeypatch.setattr("stockbridge.runtime.check_server", lambda: None)  # no server here
    monkeypatch.setattr(deployments_module, "serve", lambda *d, **kw: seen.update(kw, count=len(d)))
    path = make_store(name="limited")
    with temporary_settings(
        {PREFECT_API_URL: "http://127.0.0.1:9/api", PREFECT_RUNNER_PROCESS_LIMIT: 3}
    ):
        assert deployments_module.serve_stores([str(path)], catch_up=False) == 0
    assert seen["limit"] == 3
    assert seen["count"] == 1
