"""HQ's store file becomes two deployments: its sync every 30 s and the jobs request form,
whose parameters are the path and non-secret choices only; a request through the form's flow
lands in the jobs table."""

from __future__ import annotations

from datetime import timedelta

from prefect.client.orchestration import get_client
from prefect.utilities.asyncutils import run_coro_as_sync

from flows.chain import chain_jobs
from stockbridge.deployments import build_deployments
from tests.chain.chain_store import make_chain, run


def test_hq_store_file_gives_a_sync_and_a_jobs_deployment(tmp_path, databases, monkeypatch):
    monkeypatch.setenv("HQ_PASSWORD", "never-shown-92f")
    chain = make_chain(tmp_path, databases)
    assert run(chain.configs["hq"]).state == "completed"
    deployments = build_deployments([chain.configs["hq"]])
    by_flow = {d.name: d for d in deployments}
    for deployment in deployments:
        deployment.apply()

    async def read(name: str):
        async with get_client() as client:
            return await client.read_deployment_by_name(name)

    names = sorted(f"{d.flow_name}/{d.name}" for d in deployments)
    assert names == ["chain-jobs/hq", "chain/hq"], names
    sync = run_coro_as_sync(read("chain/hq"))
    assert sync.schedules[0].schedule.interval == timedelta(seconds=30)
    assert sync.parameters == {"config_path": str(chain.configs["hq"].absolute())}
    form = run_coro_as_sync(read("chain-jobs/hq"))
    assert set(form.parameter_openapi_schema["properties"]) == {"config_path", "stores", "what"}
    assert by_flow
    state = chain_jobs(
        config_path=str(chain.configs["hq"]),
        stores="lyon",
        what="articles,stock",
        return_state=True,
    )
    assert state.is_completed(), state.message
    jobs = sorted((j["store"], j["what"], j["state"]) for j in chain.hq_rows("stockbridge_jobs"))
    assert jobs == [("lyon", "articles", "waiting"), ("lyon", "stock", "waiting")]
