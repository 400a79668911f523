"""`stockbridge serve`: store files become deployments; stale ones go; missed runs collapse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.exceptions import ObjectNotFound
from prefect.states import Scheduled
from prefect.utilities.asyncutils import run_coro_as_sync

from stockbridge.config.loader import InvalidStoreFile
from stockbridge.deployments import build_deployments, remove_stale_deployments, replace_missed_runs

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _apply(deployments) -> None:
    for deployment in deployments:
        deployment.apply()


async def _read(name: str):
    async with get_client() as client:
        return await client.read_deployment_by_name(f"interstock/{name}")


def test_one_deployment_per_store_file_with_its_schedule_and_tags(make_store, tmp_path: Path):
    every = make_store(name="shop-every", schedule={"every": "90s"})
    cron = make_store(
        name="shop-cron", schedule={"cron": "*/5 * * * *", "timezone": "Europe/Paris"}
    )
    folder = tmp_path / "configs"
    folder.mkdir()
    for path in (every, cron):
        (folder / path.name).write_text(path.read_text())

    deployments = build_deployments([folder])
    _apply(deployments)

    by_name = {d.name: d for d in deployments}
    assert set(by_name) == {"shop-every", "shop-cron"}
    stored = run_coro_as_sync(_read("shop-every"))
    assert set(stored.tags) == {"stockbridge", "store:shop-every", "integration:interstock"}
    assert stored.parameters == {"config_path": str((folder / every.name).absolute())}
    assert stored.schedules[0].schedule.interval == timedelta(seconds=90)
    stored_cron = run_coro_as_sync(_read("shop-cron"))
    assert stored_cron.schedules[0].schedule.cron == "*/5 * * * *"
    assert stored_cron.schedules[0].schedule.timezone == "Europe/Paris"


def test_parameters_hold_the_path_never_the_secret(make_store, monkeypatch):
    monkeypatch.setenv("SHOP_FTP_PASSWORD", "s3cret-value")
    path = make_store(
        name="shop-secret",
        **{"import": {"url": "ftp://127.0.0.1:1/outbox/", "password": "${SHOP_FTP_PASSWORD}"}},
    )
    [deployment] = build_deployments([path])
    _apply([deployment])
    stored = run_coro_as_sync(_read("shop-secret"))
    assert "s3cret-value" not in str(stored.model_dump())


def test_invalid_store_file_stops_serve_with_every_problem(make_store):
    path = make_store(name="shop-bad", colour="red")
    with pytest.raises(InvalidStoreFile) as raised:
        build_deployments([path])
    assert "colour" in str(raised.value)


def test_deployments_whose_file_is_gone_are_removed(make_store):
    keep = build_deployments([make_store(name="shop-keep")])
    gone = build_deployments([make_store(name="shop-gone")])
    _apply(keep + gone)

    removed = run_coro_as_sync(remove_stale_deployments(keep))

    assert "interstock/shop-gone" in removed
    assert run_coro_as_sync(_read("shop-keep")).name == "shop-keep"
    with pytest.raises(ObjectNotFound):
        run_coro_as_sync(_read("shop-gone"))


def test_missed_runs_are_cancelled_and_replaced_by_one_catch_up(make_store):
    deployments = build_deployments([make_store(name="shop-late")])
    _apply(deployments)

    async def plant_missed_runs() -> list:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name("interstock/shop-late")
            runs = []
            for minutes in (30, 20, 10):
                when = datetime.now(UTC) - timedelta(minutes=minutes)
                runs.append(
                    await client.create_flow_run_from_deployment(
                        deployment.id, state=Scheduled(scheduled_time=when)
                    )
                )
            return runs

    async def states(run_ids) -> list[str]:
        async with get_client() as client:
            return [(await client.read_flow_run(r)).state.type.value for r in run_ids]

    async def catch_ups() -> list:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name("interstock/shop-late")
            # Filtered at the server: the session's server holds more runs than one page.
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
            )
            return [r for r in runs if "catch-up" in r.tags]

    missed = run_coro_as_sync(plant_missed_runs())
    result = run_coro_as_sync(replace_missed_runs(deployments))

    assert result == {"shop-late": 3}
    assert run_coro_as_sync(states([r.id for r in missed])) == ["CANCELLED"] * 3
    assert len(run_coro_as_sync(catch_ups())) == 1
    # Nothing missed any more: a second start creates no further catch-up run.
    assert run_coro_as_sync(replace_missed_runs(deployments)) == {}
