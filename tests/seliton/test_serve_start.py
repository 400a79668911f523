"""Seliton's "on server start" (settings b and c): a store whose export or import says
``on_start`` gets one run the moment ``serve`` starts, the others wait for their schedule.

Runs against the session's Prefect test server: the deployments are registered as serve
registers them, and the run is read back through the API (nothing serves it here).
"""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.utilities.asyncutils import run_coro_as_sync

from stockbridge.config.loader import validate_files
from stockbridge.deployments import ON_START, deployments_of, start_runs_on_start
from tests.seliton.store import write_store


async def _runs_tagged(tag: str) -> list:
    async with get_client() as client:
        return await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag]))
        )


def test_serve_starts_one_run_for_stores_that_ask_and_none_for_the_others(
    tmp_path, sqlite_url, make_store, prefect_harness, monkeypatch
):
    from tests.seliton.store import SECRET, SECRET_VARIABLE

    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    warehouse = f"sqlite:///{tmp_path / 'warehouse.db'}"
    shop = "https://shop.example.invalid/"
    asking, asking_id = write_store(tmp_path / "a", sqlite_url, warehouse, shop, None)
    waiting, waiting_id = write_store(
        tmp_path / "b",
        sqlite_url,
        warehouse,
        shop,
        None,
        export={"on_start": False},
        **{"import": {"on_start": False}},
    )
    interstock = make_store()
    stores, problems = validate_files([asking, waiting, interstock])
    assert problems == []
    deployments = deployments_of(stores)

    started = run_coro_as_sync(start_runs_on_start(stores, deployments))
    assert started == [asking_id]
    runs = run_coro_as_sync(_runs_tagged(ON_START))
    assert [r.tags.count(f"store:{asking_id}") for r in runs] == [1]
    assert all(f"store:{waiting_id}" not in r.tags for r in runs)

    # A store that already got a catch-up run from serve gets no second one.
    assert run_coro_as_sync(start_runs_on_start(stores, deployments, [asking_id])) == []
