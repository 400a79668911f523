"""Clean starts (issue 12 §2): the temporary Prefect server, run names and tags, folders.

Every run, whoever starts it, is named after its store and local time and tagged with the
store and the integration; ``stockbridge run`` takes a folder; a Prefect server that cannot
start or does not answer is one sentence saying what to do.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow

from flows.interstock import interstock
from flows.pointex import pointex
from stockbridge.cli import main
from stockbridge.deployments import build_deployments
from tests.interstock_store import new_store
from tests.pointex.store import CellarStore

STOCKBRIDGE = str(Path(sys.executable).with_name("stockbridge"))
READABLE = re.compile(r"^(?P<store>\S+) (?P<when>\d{4}-\d\d-\d\d \d\d:\d\d)$")


def _plain_env(**extra: str) -> dict[str, str]:
    """The environment a user's shell has: no Prefect settings of the test session."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "STOCKBRIDGE_", "PYTEST"))
    }
    env.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false", **extra)
    return env


def test_a_temporary_server_gets_two_minutes_unless_the_user_says(monkeypatch):
    from stockbridge.runtime import configure_prefect

    name = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
    monkeypatch.delenv(name, raising=False)
    configure_prefect()
    assert os.environ[name] == "120"
    monkeypatch.setenv(name, "7")
    configure_prefect()
    assert os.environ[name] == "7"


def test_a_temporary_server_that_does_not_start_is_one_sentence(make_store, tmp_path: Path):
    store = make_store(name="shop-no-server")
    # A zero wait is Prefect timing out at once: what a very busy machine does after 20 s.
    env = _plain_env(
        STOCKBRIDGE_HOME=str(tmp_path / "home"),
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0",
    )
    done = subprocess.run(
        [STOCKBRIDGE, "run", str(store)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [sentence] = [line for line in done.stderr.splitlines() if line.startswith("stockbridge:")]
    assert "make server" in sentence and "PREFECT_API_URL" in sentence
    assert "RuntimeError" not in done.stderr and "stdout:" not in done.stderr


def test_a_configured_server_that_does_not_answer_is_one_sentence(make_store, tmp_path: Path):
    from tests.servers import free_port

    store = make_store(name="shop-server-gone")
    url = f"http://127.0.0.1:{free_port()}/api"
    env = _plain_env(STOCKBRIDGE_HOME=str(tmp_path / "home"), PREFECT_API_URL=url)
    done = subprocess.run(
        [STOCKBRIDGE, "run", str(store)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"stockbridge: the Prefect server at {url} does not answer: start it with `make server`"
        " (or `prefect server start`), or unset PREFECT_API_URL to run with a temporary one"
    ]


async def _flow_run(run_id):
    async with get_client() as client:
        return await client.read_flow_run(run_id)


def _assert_named_and_tagged(flow_run, store: str, integration: str, timezone: str) -> None:
    from datetime import UTC, datetime

    assert {f"store:{store}", f"integration:{integration}"} <= set(flow_run.tags)
    match = READABLE.match(flow_run.name)
    assert match, flow_run.name
    assert match["store"] == store
    local = datetime.now(UTC).astimezone(ZoneInfo(timezone))
    assert match["when"][:10] == f"{local:%Y-%m-%d}"


@pytest.mark.usefixtures("prefect_harness")
def test_runs_started_here_are_named_and_tagged_for_every_integration(make_store, tmp_path):
    from prefect.utilities.asyncutils import run_coro_as_sync

    shop = new_store(make_store, timezone="Pacific/Auckland")
    state = interstock(config_path=str(shop.path), return_state=True)
    flow_run = run_coro_as_sync(_flow_run(state.state_details.flow_run_id))
    _assert_named_and_tagged(flow_run, shop.name, "interstock", "Pacific/Auckland")

    cellar = CellarStore(tmp_path, f"sqlite:///{tmp_path / 'cellar.db'}")
    state = pointex(config_path=str(cellar.path), return_state=True)
    flow_run = run_coro_as_sync(_flow_run(state.state_details.flow_run_id))
    _assert_named_and_tagged(flow_run, cellar.name, "pointex", "Europe/Paris")


@pytest.mark.usefixtures("prefect_harness")
def test_runs_started_from_a_deployment_are_named_and_tagged_too(make_store):
    """What serve's runner and the UI's Run button do: a run created from the deployment
    (with a random name), then executed by the engine."""
    from prefect.utilities.asyncutils import run_coro_as_sync

    shop = new_store(make_store, name="shop-deployed")
    [deployment] = build_deployments([shop.path])
    deployment_id = deployment.apply()

    async def create():
        async with get_client() as client:
            return await client.create_flow_run_from_deployment(deployment_id)

    created = run_coro_as_sync(create())
    assert not READABLE.match(created.name)  # Prefect's random "adjective-animal"
    run_flow(interstock, flow_run=created, parameters=created.parameters)
    flow_run = run_coro_as_sync(_flow_run(created.id))
    _assert_named_and_tagged(flow_run, "shop-deployed", "interstock", "UTC")
    assert "stockbridge" in flow_run.tags  # the deployment's own tags are kept


@pytest.mark.usefixtures("prefect_harness")
def test_run_takes_a_folder_and_ends_with_the_worst_exit_code(make_store, tmp_path, capsys):
    folder = tmp_path / "configs"
    folder.mkdir()
    good = new_store(make_store, name="shop-a-good")
    good.drop("orders-1.txt", b"8880000000116\t-1\n")
    (folder / "a.yaml").write_text(good.path.read_text())
    broken = new_store(make_store, name="shop-b-broken")
    broken.catalogue.unlink()  # valid file, failing run
    (folder / "b.yaml").write_text(broken.path.read_text())

    assert main(["run", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "shop-a-good: 1 file(s) applied" in out
    assert "shop-b-broken: failed" in out
    assert good.stock()["8880000000116"] == (4000, 0)

    (folder / "b.yaml").unlink()
    assert main(["run", str(folder)]) == 0
