"""Scale harness: a real Prefect server, hundreds of store files, a burst of runs served by
``stockbridge serve``.

Everything is real: ``prefect server start`` and ``stockbridge serve`` run as subprocesses
(each in its own process group, always stopped), the Prefect database and the ledger are
fresh PostgreSQL databases (always dropped). Used by ``test_prefect_on_postgres.py``; also
runnable by hand to compare with the default SQLite-backed Prefect server::

    .venv/bin/python -m tests.scale.harness --prefect-db sqlite --stores 200 --burst 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.pool import NullPool

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
PREFECT = BIN / "prefect"
STOCKBRIDGE = BIN / "stockbridge"
POSTGRES_ADMIN = os.environ.get(
    "STOCKBRIDGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
TAG = "stockbridge"

# What every generated store holds: three articles, two movement files.
CATALOGUE = {"8880000000109": "1", "8880000000116": "5", "8880000000123": "7"}
MOVEMENT_FILES = {
    "web-orders-0001.txt": b"8880000000116\t-1\n8880000000123\t-2\n",
    "web-orders-0002.txt": b"8880000000109\t+3\n8880000000116\t-1\n",
}
EXPECTED_STOCK = {"8880000000109": 4000, "8880000000116": 3000, "8880000000123": 5000}
EXPECTED_MOVEMENTS = len(CATALOGUE) + sum(f.count(b"\n") for f in MOVEMENT_FILES.values())
# A yearly schedule: the Prefect scheduler creates no run that fires during the measurement,
# so the burst is the only load.
QUIET_SCHEDULE = {"cron": "0 3 1 1 *", "timezone": "UTC"}
HTTP_503 = re.compile(r"(?<![\w.:-])503(?![\w-])|Service Unavailable")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# -- PostgreSQL databases -----------------------------------------------------------------------


def _admin_engine() -> sa.Engine:
    url = POSTGRES_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1)
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh database, dropped (connections forced out) on exit; yields its psycopg URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def try_pg_trgm(url: str) -> str:
    """``CREATE EXTENSION IF NOT EXISTS pg_trgm`` in the database: 'ok' or the error."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            version = connection.exec_driver_sql(
                "SELECT extversion FROM pg_extension WHERE extname = 'pg_trgm'"
            ).scalar()
        return f"ok (pg_trgm {version})"
    except sa.exc.SQLAlchemyError as exc:
        return f"failed: {str(getattr(exc, 'orig', exc)).splitlines()[0]}"
    finally:
        engine.dispose()


def asyncpg_url(url: str) -> str:
    return (
        sa.engine.make_url(url)
        .set(drivername="postgresql+asyncpg")
        .render_as_string(hide_password=False)
    )


# -- subprocesses in their own process group -----------------------------------------------------


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Process:
    """A subprocess started with ``start_new_session``: it and its children share a group."""

    name: str
    popen: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)
    peak_rss_mb: float = 0.0  # whole group
    peak_leader_rss_mb: float = 0.0
    peak_members: int = 0
    serving_at: float | None = None  # when "serving N store(s)" appeared (stockbridge serve)
    _sampling: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(
        cls, name: str, argv: list[str], env: dict[str, str], log: Path, cwd: Path
    ) -> Process:
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        process = cls(name, popen, log)
        threading.Thread(target=process._sample, daemon=True).start()
        return process

    def _sample(self) -> None:
        while not self._sampling.wait(0.5) and self.popen.poll() is None:
            members = group_members(self.popen.pid)
            self.peak_members = max(self.peak_members, len(members))
            self.peak_rss_mb = max(self.peak_rss_mb, sum(rss_mb(p) for p in members))
            self.peak_leader_rss_mb = max(self.peak_leader_rss_mb, rss_mb(self.popen.pid))
            if self.serving_at is None and "serving " in self.output():
                self.serving_at = time.monotonic()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def stop(self, first: signal.Signals = signal.SIGINT, grace: float = 10) -> None:
        """Signal the whole group, wait, then SIGKILL whatever of the group is left (also
        when interrupted, e.g. by pytest-timeout)."""
        self._sampling.set()
        pgid = self.popen.pid
        try:
            if self.popen.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(pgid, first)
                with suppress(subprocess.TimeoutExpired):
                    self.popen.wait(timeout=grace)
            deadline = time.monotonic() + 5
            while group_members(pgid) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            if self.popen.poll() is None or group_members(pgid):
                with suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                with suppress(subprocess.TimeoutExpired):
                    self.popen.wait(timeout=30)


def base_env(home: Path) -> dict[str, str]:
    """This environment without any PREFECT_* setting, with a private PREFECT_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PYTHONUNBUFFERED="1",
        STOCKBRIDGE_HOME=str(home / "stockbridge"),
    )
    return env


# -- the Prefect server -------------------------------------------------------------------------


@dataclass
class Server:
    api_url: str
    process: Process
    startup_seconds: float
    database: str  # "postgresql" or "sqlite"

    def count_503(self) -> int:
        return len(HTTP_503.findall(_access_status_lines(self.process.output())))

    def requests(self) -> int:
        return sum("HTTP/1.1" in line for line in self.process.output().splitlines())


def _access_status_lines(text: str) -> str:
    """Uvicorn access lines carry the status after the request; other lines are kept whole."""
    return "\n".join(
        line.rsplit('"', 1)[-1] if "HTTP/1.1" in line else line for line in text.splitlines()
    )


def _get_json(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


@contextmanager
def prefect_server(work: Path, database_url: str | None, timeout: float = 90) -> Iterator[Server]:
    """``prefect server start`` on a free port; PostgreSQL when ``database_url`` is given
    (an asyncpg URL), else the default SQLite file in its PREFECT_HOME."""
    port = free_port()
    env = base_env(work / "server-home")
    if database_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
    argv = [str(PREFECT), "server", "start", "--host", HOST, "--port", str(port),
            "--log-level", "INFO"]  # fmt: skip
    started = time.monotonic()
    process = Process.start("prefect server", argv, env, work / "server.log", work)
    try:
        base = f"http://{HOST}:{port}/api"
        while True:
            if process.popen.poll() is not None:
                raise RuntimeError(f"prefect server exited:\n{process.tail()}")
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"prefect server not up after {timeout}s:\n{process.tail()}")
            try:
                if _get_json(f"{base}/health", timeout=2) is True:
                    break
            except OSError:
                pass
            time.sleep(0.25)
        yield Server(base, process, time.monotonic() - started,
                     "postgresql" if database_url else "sqlite")  # fmt: skip
    finally:
        process.stop(signal.SIGTERM)


def prefect_tables(url: str) -> list[str]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        return sorted(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


# -- store files ----------------------------------------------------------------------------------


def store_name(index: int) -> str:
    return f"scale-{index:04d}"


def write_movements(store_file: Path) -> None:
    document = yaml.safe_load(store_file.read_text())
    inbox = Path(document["import"])
    inbox.mkdir(parents=True, exist_ok=True)
    stamp = time.time() - 120
    for name, data in MOVEMENT_FILES.items():
        (inbox / name).write_bytes(data)
        os.utime(inbox / name, (stamp, stamp))


def standalone_make_store(root: Path) -> Callable[..., Path]:
    """The shape of tests/fixtures.py ``make_store`` for runs outside pytest."""

    def factory(articles: dict[str, str], name: str, **overrides: Any) -> Path:
        store_root = root / name
        (store_root / "import").mkdir(parents=True, exist_ok=True)
        catalogue = store_root / "articles.tsv"
        catalogue.write_text("".join(f"{ref}\t{qty}\n" for ref, qty in articles.items()))
        document = {
            "store": name,
            "integration": "interstock",
            "catalogue": str(catalogue),
            "import": str(store_root / "import"),
            "export": str(store_root / "export" / "articles.txt"),
            "errors": str(store_root / "errors"),
            "settle": {"min_age": "0s", "recheck": "0s"},
            **overrides,
        }
        path = store_root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    return factory


# -- deployments and runs through the API ---------------------------------------------------


@contextmanager
def api(url: str) -> Iterator[None]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: url}):
        yield


async def read_all_deployments(client) -> list[Any]:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    found, offset = [], 0
    while True:
        page = await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG])),
            limit=200,
            offset=offset,
        )
        found.extend(page)
        if len(page) < 200:
            return found
        offset += 200


async def deployments_by_name() -> dict[str, Any]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return {d.name: d for d in await read_all_deployments(client)}


async def count_deployments() -> int:
    from prefect.client.orchestration import get_client

    body = {"deployments": {"tags": {"all_": [TAG]}}}
    async with get_client() as client:
        response = await client.request("POST", "/deployments/count", json=body)
        return int(response.json())


async def trigger(deployment_ids: list[Any], parallel: int = 8) -> list[Any]:
    """One flow run per deployment, created ``parallel`` at a time."""
    from prefect.client.orchestration import get_client

    gate = asyncio.Semaphore(parallel)
    async with get_client() as client:

        async def one(deployment_id):
            async with gate:
                return (await client.create_flow_run_from_deployment(deployment_id)).id

        return list(await asyncio.gather(*(one(d) for d in deployment_ids)))


async def read_runs(run_ids: list[Any]) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs = []
    async with get_client() as client:
        for start in range(0, len(run_ids), 200):
            chunk = run_ids[start : start + 200]
            runs.extend(
                await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=chunk)), limit=200
                )
            )
    return runs


def wait_until(check: Callable[[], Any], timeout: float, every: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached after {timeout:.0f}s")
        time.sleep(every)


# -- the runner -----------------------------------------------------------------------------


def start_serve(work: Path, folder: Path, api_url: str, limit: int, poll: int) -> Process:
    env = base_env(work / f"runner-home-{folder.name}")
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_RUNNER_PROCESS_LIMIT=str(limit),
        PREFECT_RUNNER_POLL_FREQUENCY=str(poll),
        PREFECT_LOGGING_LEVEL="WARNING",
        # the client logs each retried 429/502/503 at DEBUG: make them countable
        PREFECT_LOGGING_LOGGERS_PREFECT_CLIENT_LEVEL="DEBUG",
    )
    argv = [str(STOCKBRIDGE), "serve", str(folder)]
    log = work / f"serve-{folder.name}.log"
    return Process.start(f"stockbridge serve {folder.name}", argv, env, log, work)


# -- the ledger ------------------------------------------------------------------------------------


def ledger_problems(
    ledger_url: str, stores: list[str], roots: dict[str, Path], idle: Sequence[str] = ()
) -> list[str]:
    """Every store of the burst: opened once, both files applied exactly once and archived,
    stock exact, one completed run. Every ``idle`` store: nothing in the ledger."""
    engine = sa.create_engine(ledger_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            documents = connection.execute(
                sa.text("SELECT store, document, status, note FROM documents")
            ).all()
            movements = dict(
                connection.execute(
                    sa.text("SELECT store, COUNT(*) FROM movements GROUP BY store")
                ).all()
            )
            stock = connection.execute(sa.text("SELECT store, reference, on_hand FROM stock")).all()
            runs = connection.execute(sa.text("SELECT store, state, files_applied FROM runs")).all()
    finally:
        engine.dispose()
    docs: dict[str, Counter] = defaultdict(Counter)
    openings: Counter = Counter()
    for row in documents:
        if row.note == "opening stock":
            openings[row.store] += 1
        else:
            docs[row.store][(row.document, row.status)] += 1
    stocks: dict[str, dict[str, int]] = defaultdict(dict)
    for row in stock:
        stocks[row.store][row.reference] = int(row.on_hand)
    ledger_runs: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for row in runs:
        ledger_runs[row.store].append((row.state, row.files_applied))
    wanted_docs = Counter({(name, "archived"): 1 for name in MOVEMENT_FILES})
    problems = []
    for store in idle:
        if docs[store] or openings[store] or ledger_runs[store]:
            problems.append(f"{store} was not in the burst but has ledger rows")
    for store in stores:
        if openings[store] != 1:
            problems.append(f"{store}: opened {openings[store]} times")
        if docs[store] != wanted_docs:
            problems.append(f"{store}: documents {dict(docs[store])}")
        if movements.get(store) != EXPECTED_MOVEMENTS:
            problems.append(f"{store}: {movements.get(store)} movements, not {EXPECTED_MOVEMENTS}")
        if stocks[store] != EXPECTED_STOCK:
            problems.append(f"{store}: stock {stocks[store]}")
        if ledger_runs[store] != [("completed", len(MOVEMENT_FILES))]:
            problems.append(f"{store}: ledger runs {ledger_runs[store]}")
        inbox = roots[store] / "import"
        left = sorted(p.name for p in inbox.iterdir() if p.is_file())
        archive = inbox / "archive"
        archived = sorted(p.name for p in archive.iterdir()) if archive.exists() else []
        if left or len(archived) != len(MOVEMENT_FILES):
            problems.append(f"{store}: import folder {left}, archive {archived}")
    return problems


def store_roots(folder: Path) -> dict[str, Path]:
    roots = {}
    for path in folder.rglob("*.yaml"):
        document = yaml.safe_load(path.read_text())
        roots[document["store"]] = Path(document["import"]).parent
    return roots


# -- the whole scenario ---------------------------------------------------------------------


@dataclass
class Scenario:
    stores: int = 200
    regions: int = 2  # one `stockbridge serve <folder>` per region, as on several machines
    burst: int = 200
    limit: int = 2  # PREFECT_RUNNER_PROCESS_LIMIT of each serve
    poll: int = 2  # PREFECT_RUNNER_POLL_FREQUENCY (Prefect's default is 10 s)
    deadline: float = 150  # seconds for the burst to reach final states
    finish_by: float | None = None  # time.monotonic() by which every wait must have ended

    def timeout(self, wanted: float) -> float:
        if self.finish_by is None:
            return wanted
        return max(5.0, min(wanted, self.finish_by - time.monotonic()))


def region_name(index: int) -> str:
    return f"region-{index}"


def run_scenario(
    work: Path,
    server: Server,
    ledger_url: str,
    make_store: Callable[..., Path],
    scenario: Scenario,
    figures: dict[str, Any],
) -> dict[str, Any]:
    """Stores -> one serve per region -> burst -> final states; fills ``figures``.

    The second region's serve starts once the first one has registered deployments, as a
    second machine joining. Raises AssertionError when something is wrong (missing
    deployments, runs not completed, ledger not exact); every serve is always stopped.
    """
    from stockbridge.deployments import build_deployments

    figures.update(
        prefect_database=server.database,
        server_startup_seconds=round(server.startup_seconds, 1),
        stores=scenario.stores,
        serve_processes=scenario.regions,
        burst=scenario.burst,
        runner_process_limit=scenario.limit,
        runner_poll_seconds=scenario.poll,
    )
    configs = work / "configs"
    started = time.monotonic()
    regions: dict[str, list[str]] = defaultdict(list)
    for index in range(scenario.stores):
        name = store_name(index)
        region = region_name(index % scenario.regions)
        path = make_store(articles=CATALOGUE, name=name, ledger=ledger_url, schedule=QUIET_SCHEDULE)
        write_movements(path)
        (configs / region).mkdir(parents=True, exist_ok=True)
        (configs / region / path.name).write_text(path.read_text())
        regions[region].append(name)
    names = [store_name(index) for index in range(scenario.stores)]
    folders = [configs / region for region in regions]
    figures["store_files_seconds"] = round(time.monotonic() - started, 1)

    started = time.monotonic()
    built = build_deployments(folders)
    figures["build_deployments_seconds"] = round(time.monotonic() - started, 2)
    assert sorted(d.name for d in built) == names

    # The ledger database is empty: the first runs of the burst, started together by both
    # serves, create its tables (migrate() serialises them with a lock).

    serves: list[Process] = []
    with api(server.api_url):
        try:
            registration = time.monotonic()
            for number, folder in enumerate(folders):
                serves.append(
                    start_serve(work, folder, server.api_url, scenario.limit, scenario.poll)
                )
                if number + 1 < len(folders):  # the next machine joins while this one registers
                    wait_until(
                        lambda: _alive(serves) and asyncio.run(count_deployments()) > 0,
                        timeout=120, every=0.5, what=f"first deployment of {folder.name}",
                    )  # fmt: skip

            def all_ready() -> dict[str, Any] | None:
                _alive(serves)
                if asyncio.run(count_deployments()) < len(names):  # cheaper than reading them
                    return None
                current = asyncio.run(deployments_by_name())
                ready = [d for d in current.values() if d.status and d.status.value == "READY"]
                return current if len(ready) == len(names) == len(current) else None

            wait = scenario.timeout(150)
            try:
                stored = wait_until(all_ready, wait, 3, "all deployments READY (runners polling)")
            except TimeoutError:
                current = asyncio.run(deployments_by_name())
                missing = sorted(set(names) - set(current))
                raise AssertionError(
                    f"{len(current)} of {len(names)} deployments after {wait:.0f}s; missing e.g."
                    f" {missing[:5]}\n" + "\n".join(f"{s.name}: {s.tail(8)}" for s in serves)
                ) from None
            registered = time.monotonic() - registration
            figures["registration_wall_seconds"] = round(registered, 1)
            figures["registration_ms_per_deployment"] = round(1000 * registered / len(names))
            figures["serve_seconds_to_serving_line"] = [
                round(_serving_at(s) - s.started, 1) for s in serves
            ]
            figures["removed_by_serves"] = sum(
                s.output().count("removed deployment") for s in serves
            )
            home = {name: region for region, members in regions.items() for name in members}
            wrong = [
                n for n, d in stored.items()
                if set(d.tags) != {TAG, f"store:{n}", "integration:interstock"}
                or Path(d.parameters["config_path"]).parent.name != home[n]
            ]  # fmt: skip
            assert not wrong, f"deployments with wrong tags or store file: {wrong[:5]}"

            chosen = [stored[name].id for name in names[: scenario.burst]]
            burst_started = time.monotonic()
            wait = scenario.timeout(scenario.deadline)
            try:
                run_ids = asyncio.run(asyncio.wait_for(trigger(chosen), wait))
            except TimeoutError:
                raise AssertionError(f"creating {len(chosen)} runs took over {wait:.0f}s") from None
            figures["burst_trigger_seconds"] = round(time.monotonic() - burst_started, 2)

            def finished() -> list[Any] | None:
                _alive(serves)
                runs = asyncio.run(read_runs(run_ids))
                done = [r for r in runs if r.state and r.state.type.value in FINAL]
                return runs if len(done) == len(run_ids) else None

            wait = scenario.timeout(scenario.deadline)
            try:
                runs = wait_until(finished, wait, 2, "burst final states")
            except TimeoutError:
                states = Counter(r.state.type.value for r in asyncio.run(read_runs(run_ids)))
                raise AssertionError(
                    f"burst not finished after {wait:.0f}s: {dict(states)}; figures so far"
                    f" {figures}"
                ) from None
            burst_wall = time.monotonic() - burst_started
        finally:
            for serve in serves:
                serve.stop(signal.SIGINT)
            figures.update(  # also when something failed: these tell why
                serve_peak_rss_mb_runner=[round(s.peak_leader_rss_mb) for s in serves],
                serve_peak_rss_mb_with_children=[round(s.peak_rss_mb) for s in serves],
                serve_peak_processes=[s.peak_members for s in serves],
                http_503_server_log=server.count_503(),
                http_503_serve_output=sum(len(HTTP_503.findall(s.output())) for s in serves),
                client_retries_serve_output=sum(
                    s.output().count("Another attempt will be made") for s in serves
                ),
                server_requests_logged=server.requests(),
                server_database_locked=server.process.output().count("database is locked"),
            )

    states = Counter(r.state.type.value for r in runs)
    durations = sorted(r.total_run_time.total_seconds() for r in runs)
    waits = sorted(
        (r.start_time - r.expected_start_time).total_seconds() for r in runs if r.start_time
    )
    figures.update(
        burst_states=dict(states),
        burst_wall_seconds=round(burst_wall, 1),
        runs_per_minute=round(60 * len(runs) / burst_wall, 1),
        run_seconds_median=round(durations[len(durations) // 2], 2),
        run_seconds_max=round(durations[-1], 2),
        start_delay_seconds_max=round(waits[-1], 1) if waits else None,
    )
    failed = [
        (r.name, r.state.type.value, r.state.message) for r in runs
        if r.state.type.value != "COMPLETED"
    ]  # fmt: skip
    assert not failed, f"{dict(states)}: {failed[:5]}\n" + "\n".join(s.tail(20) for s in serves)
    problems = ledger_problems(
        ledger_url, names[: scenario.burst], store_roots(configs), idle=names[scenario.burst :]
    )
    assert not problems, f"{len(problems)} ledger problems, e.g. {problems[:5]}"
    return figures


def _alive(serves: list[Process]) -> bool:
    for serve in serves:
        assert serve.popen.poll() is None, f"{serve.name} exited:\n{serve.tail()}"
    return True


def _serving_at(serve: Process) -> float:
    """When the serve printed "serving N store(s)" (its pre-registration steps done)."""
    return serve.serving_at or float("nan")


def print_figures(figures: dict[str, Any]) -> None:
    print("\n== stockbridge scale figures ==")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    print(json.dumps(figures))


@contextmanager
def work_folder(keep: bool) -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="stockbridge-scale-")
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefect-db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--limit", type=int, default=2)
    parser.add_argument("--poll", type=int, default=2)
    parser.add_argument("--deadline", type=float, default=1800)
    parser.add_argument("--keep", action="store_true", help="keep the work folder and its logs")
    args = parser.parse_args(argv)
    scenario = Scenario(args.stores, args.regions, args.burst, args.limit, args.poll, args.deadline)
    figures: dict[str, Any] = {}
    try:
        with (
            work_folder(args.keep) as tmp,
            postgres_database("stockbridge_scale_ledger") as ledger_url,
        ):
            work = Path(tmp)
            print(f"work folder: {work}", flush=True)
            make_store = standalone_make_store(work / "stores")
            if args.prefect_db == "postgresql":
                with postgres_database("stockbridge_scale_prefect") as prefect_url:
                    figures["pg_trgm"] = try_pg_trgm(prefect_url)
                    with prefect_server(work, asyncpg_url(prefect_url)) as server:
                        run_scenario(work, server, ledger_url, make_store, scenario, figures)
            else:
                with prefect_server(work, None) as server:
                    run_scenario(work, server, ledger_url, make_store, scenario, figures)
    finally:
        print_figures(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
