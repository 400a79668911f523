"""From store files to Prefect deployments: how a YAML file becomes a scheduled run.

``stockbridge serve configs/`` builds one deployment per store file (named after the store,
tagged with store and integration, scheduled as the file says), then, before serving:

* deletes stockbridge deployments whose store file is gone, so the UI shows only live stores;
* cancels the runs that piled up while nothing was serving ("Late" runs) and starts a single
  catch-up run per store instead, since one sync applies everything that waited anyway.

The only parameter is the store file's absolute path: secrets stay in the environment.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

from prefect import serve
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterTags,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Interval
from prefect.states import Cancelled

from stockbridge.config.loader import store_files, validate_files
from stockbridge.config.models import StoreBase
from stockbridge.integrations import get

TAG = "stockbridge"
CATCH_UP = "catch-up"
ON_START = "on-start"
"""Tag of the run a store file asks for when serve starts (Seliton's "on server start")."""


def store_tags(store: StoreBase) -> list[str]:
    return [TAG, f"store:{store.store}", f"integration:{store.integration}"]  # type: ignore[attr-defined]


def build_deployments(paths: Sequence[str | Path]) -> list[RunnerDeployment]:
    """One deployment per valid store file; raises ConfigError listing every problem."""
    from stockbridge.config.loader import InvalidStoreFile

    stores, problems = validate_files(store_files(paths))
    if problems:
        raise InvalidStoreFile(problems)
    return deployments_of(stores)


def deployments_of(stores: Sequence[tuple[Path, StoreBase]]) -> list[RunnerDeployment]:
    """The deployments of store files already validated: (path, store) pairs."""
    deployments = []
    for path, store in stores:
        schedule = store.schedule
        if schedule.every is not None:
            prefect_schedule = Interval(schedule.every, timezone=schedule.timezone)
        else:
            prefect_schedule = Cron(schedule.cron, timezone=schedule.timezone)
        integration = get(store.integration)  # type: ignore[attr-defined]
        parameters = {"config_path": str(path.absolute())}
        deployments.append(
            integration.load_flow().to_deployment(
                name=store.store,
                schedules=[prefect_schedule],
                paused=not store.enabled,
                parameters=parameters,
                tags=store_tags(store),
                description=store.description or f"{store.integration} sync of {store.store}",  # type: ignore[attr-defined]
            )
        )
        for suffix, flow_path in integration.extra_flows.items():
            deployments.append(  # run on demand (the UI's Run button), never scheduled
                integration.load_flow(flow_path).to_deployment(
                    name=store.store,
                    parameters=parameters,
                    tags=[*store_tags(store), suffix],
                    description=f"{suffix} for {store.store} ({store.integration})",
                )
            )
    return deployments


PAGE = 200
"""Rows per read: the Prefect server refuses limits above its default (200)."""


async def _all_pages(read, **filters) -> list:
    """Every row of a Prefect ``read_*`` call, page by page (one call returns at most 200)."""
    rows: list = []
    while True:
        page = await read(**filters, limit=PAGE, offset=len(rows))
        rows.extend(page)
        if len(page) < PAGE:
            return rows


def _served_by(config_path: object, paths: Sequence[str | Path]) -> bool:
    """Whether ``stockbridge serve paths`` reads the store file at ``config_path``."""
    if not isinstance(config_path, str):
        return False
    file = Path(config_path)
    for item in paths:
        item = Path(item).absolute()
        if file == item or file.parent == item:
            return True
    return False


async def remove_stale_deployments(
    keep: Sequence[RunnerDeployment], paths: Sequence[str | Path] | None = None
) -> list[str]:
    """Delete stockbridge deployments that no store file describes any more.

    With ``paths`` (what ``stockbridge serve`` was given), only deployments whose store file
    lies there are candidates: another machine serving another folder keeps its deployments.
    """
    wanted = {(d.flow_name, d.name) for d in keep}
    removed = []
    async with get_client() as client:
        existing = await _all_pages(
            client.read_deployments,
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG])),
        )
        flows: dict = {}
        for deployment in existing:
            if paths is not None and not _served_by(
                deployment.parameters.get("config_path"), paths
            ):
                continue
            if deployment.flow_id not in flows:
                flows[deployment.flow_id] = (await client.read_flow(deployment.flow_id)).name
            key = (flows[deployment.flow_id], deployment.name)
            if key not in wanted:
                await client.delete_deployment(deployment.id)
                removed.append(f"{key[0]}/{key[1]}")
    return removed


async def replace_missed_runs(keep: Sequence[RunnerDeployment]) -> dict[str, int]:
    """Cancel runs that should have started while nothing served; start one run instead.

    Returns the number of cancelled runs per deployment that got a catch-up run.
    """
    now = datetime.now(UTC)
    caught_up: dict[str, int] = {}
    async with get_client() as client:
        for deployment in keep:
            try:
                existing = await client.read_deployment_by_name(
                    f"{deployment.flow_name}/{deployment.name}"
                )
            except Exception:  # never deployed before: nothing was missed
                continue
            missed = await _all_pages(
                client.read_flow_runs,
                deployment_filter=DeploymentFilter(id={"any_": [existing.id]}),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    ),
                    expected_start_time=FlowRunFilterExpectedStartTime(before_=now),
                ),
            )
            missed = [run for run in missed if CATCH_UP not in run.tags]
            if not missed:
                continue
            for run in missed:
                await client.set_flow_run_state(
                    run.id,
                    Cancelled(message="missed while stockbridge serve was down; one catch-up run"),
                    force=True,
                )
            await client.create_flow_run_from_deployment(
                existing.id, tags=[*existing.tags, CATCH_UP]
            )
            caught_up[deployment.name] = len(missed)
    return caught_up


async def start_runs_on_start(
    stores: Sequence[tuple[Path, StoreBase]],
    deployments: Sequence[RunnerDeployment],
    already: Sequence[str] = (),
) -> list[str]:
    """One run now for each store whose integration says it wants one when serve starts,
    unless it already got a catch-up run (``already``). Returns the stores started."""
    wanted = {
        store.store: store.integration  # type: ignore[attr-defined]
        for _, store in stores
        if get(store.integration).wants_run_on_start(store)  # type: ignore[attr-defined]
    }
    started = []
    async with get_client() as client:
        for deployment in deployments:
            if wanted.get(deployment.name) != deployment.flow_name or deployment.name in already:
                continue
            deployment_id = await deployment.aapply()
            await client.create_flow_run_from_deployment(
                deployment_id, tags=[*deployment.tags, ON_START]
            )
            started.append(deployment.name)
    return started


def serve_stores(paths: Sequence[str], catch_up: bool = True) -> int:
    """Register, tidy and serve every valid store file's deployment until stopped.

    Bad store files are reported and left out; the others are served, and serve ends with
    exit code 2 (as ``validate``) when any file was bad. Ctrl-C, or a Prefect server that
    stops answering, ends it within seconds with one sentence.
    """
    from prefect.settings import get_current_settings
    from prefect.utilities.asyncutils import run_coro_as_sync

    from stockbridge.errors import ConfigError
    from stockbridge.runtime import check_server, configured_api_url

    url = configured_api_url()
    if not url:
        print(
            "stockbridge serve needs a Prefect server: start one with `make server` (or"
            " `prefect server start`) and set PREFECT_API_URL=http://127.0.0.1:4200/api"
            " (see README, Scheduling)",
            file=sys.stderr,
        )
        return 2
    try:
        files = store_files(paths)
    except ConfigError as exc:
        print(f"stockbridge: {exc}", file=sys.stderr)
        return 2
    # validate_files also refuses store files that share an import, export or errors
    # location (stockbridge.config.loader.shared_locations, issue 12 §1): SHARED-LOCATIONS
    stores, problems = validate_files(files)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"{len(problems)} problem(s): those store files are not served until fixed",
            file=sys.stderr,
        )
    if not stores:
        print(f"stockbridge: no valid store file to serve in {', '.join(paths)}", file=sys.stderr)
        return 2
    check_server()
    deployments = deployments_of(stores)
    for name in run_coro_as_sync(remove_stale_deployments(deployments, paths)) or []:
        print(f"removed deployment {name}: its store file is gone")
    caught_up: dict[str, int] = {}
    if catch_up:
        caught_up = run_coro_as_sync(replace_missed_runs(deployments)) or {}
        for name, count in caught_up.items():
            print(f"{name}: {count} missed run(s) cancelled, one catch-up run started")
    for name in run_coro_as_sync(start_runs_on_start(stores, deployments, list(caught_up))) or []:
        print(f"{name}: one run started now (its store file asks for a run when serve starts)")
    print(
        f"serving {len(stores)} store(s): " + ", ".join(store.store for _, store in stores),
        flush=True,
    )
    # prefect.serve's limit=None would mean "no limit" (PREFECT_RUNNER_PROCESS_LIMIT ignored):
    # a burst of due stores would then start one process per store at once.
    limit = get_current_settings().runner.process_limit
    # Our sentence says serve stopped; Prefect's "Received KeyboardInterrupt" would say it twice.
    logging.getLogger("prefect.flows").addFilter(_drop_shutdown_notice)
    # suppress: a Ctrl-C that lands before or after the runner's own handling of it.
    with ServerWatch(url) as watch, suppress(KeyboardInterrupt):
        serve(*deployments, print_starting_message=False, limit=limit)
    if watch.lost:
        return 1
    print("stockbridge serve stopped; the stores are no longer served", file=sys.stderr)
    return 2 if problems else 0


def _drop_shutdown_notice(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Received ")


class ServerWatch:
    """Ends ``serve`` with one sentence when the Prefect server stops answering.

    Prefect's runner would otherwise retry for a minute or more and log every failed
    connection. The watch asks the server's health every :attr:`every` seconds; after
    :attr:`misses` failures in a row it says so, silences the logs, interrupts the runner
    like Ctrl-C would, and exits the process if the runner's shutdown (which talks to the
    server too) has not ended within :attr:`grace` seconds.
    """

    every = 1.0
    misses = 3
    grace = 3.0

    def __init__(self, url: str):
        import threading

        self.url = url.rstrip("/")
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="server-watch", daemon=True)

    def __enter__(self) -> ServerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _watch(self) -> None:
        import httpx

        failed = 0
        while not self._stop.wait(self.every):
            try:
                httpx.get(f"{self.url}/health", timeout=self.every * 2).raise_for_status()
                failed = 0
            except httpx.HTTPError:
                failed += 1
            if failed >= self.misses:
                self._give_up()
                return

    def _give_up(self) -> None:
        import os
        import signal

        from stockbridge.runtime import SERVER_GONE

        self.lost = True
        logging.disable(logging.CRITICAL)  # the runner's own connection errors, one per try
        print(f"stockbridge serve stopped: {SERVER_GONE.format(url=self.url)}", file=sys.stderr)
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGINT)
        if not self._stop.wait(self.grace):
            sys.stdout.flush()
            os._exit(1)
