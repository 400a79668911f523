"""The chain's concurrent case: 50 stores x 2,000 lines pushed by concurrent runs.

Each store has its own SQLite till with a 2,000-line sales backlog (500 tickets of 4
lines, ``Till.sales_backlog``) and its own store file; HQ and the chain's ledger are on
MariaDB when the server answers (two databases created and dropped by this run), else
SQLite files. The 50 store runs are the ``chain`` flow called from a thread pool in this
one process (``--concurrency`` at once; one temporary Prefect server for the process):
Prefect 3 gives each thread's flow run its own context, so threads are what a worker
serving many stores does, and unlike processes they start in no time and share the
imported modules.

Reported: total wall time, rows/s, HQ exactly once (2,000 lines per store), each run's
duration (median, max), and HQ's load: the statements and commits stockbridge sent to HQ
(counted at the client, per database), on MariaDB the server's ``SHOW GLOBAL STATUS``
deltas over the run (server-wide: HQ, the ledger and any other client of that server)
with the peak of ``Threads_connected`` and the server's CPU seconds (``/proc`` of mariadbd),
and the CPU of this process and of its children (Prefect's temporary server).

The reference, timed in the same run and the same HQ kind, with the same concurrency in
threads: the seed's way for each store (read its till's lines, one INSERT per row, a commit
every 20 rows, its own HQ connection) into an HQ database of its own. Lines only: no
tickets, no ledger, no Prefect, as ``bench.chain``'s reference.

``python -m bench.chain_concurrent [--hq URL|sqlite] [--stores 50] [--lines 2000]
[--concurrency N]``; ``make bench`` runs it as the case ``chain-concurrent-50x2k``
(``--plan``/``--out``: this module is then the case's worker).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from bench.cases import Case
from bench.chain import _store_file
from bench.worker import code_revision, cpu_seconds, machine_load
from stockbridge.integrations.chain.config import Database
from stockbridge.integrations.chain.database import ensure_hq_schema, open_engine
from stockbridge.integrations.chain.profile import load_profile, profile_path
from stockbridge.integrations.chain.simulator import Till

STORES = 50
LINES = 2_000
LINES_PER_TICKET = 4
CONCURRENCY = 4
"""Runs at once by default: what this machine (2 shared cores) takes without errors. All 50
at once, the temporary Prefect server (SQLite) answered 20 of the 50 flow-run creations
with 503 Service Unavailable; at 10, one run's final state came back without its result
(Prefect's ``MissingResult``) though its rows were at HQ. CPU was the same at 4 and 10
(threads run Python one at a time), the wall time lower at 4. ``--concurrency 50`` runs
the issue's every-store-at-once case."""
MARIADB_ADMIN = os.environ.get("STOCKBRIDGE_BENCH_MARIADB", "mysql://root@127.0.0.1:3306/")
STATUS = (
    "Questions",
    "Com_select",
    "Com_insert",
    "Com_update",
    "Com_commit",
    "Innodb_rows_inserted",
    "Innodb_rows_updated",
    "Handler_write",
    "Handler_update",
    "Innodb_os_log_written",
    "Innodb_row_lock_waits",
    "Innodb_row_lock_time",
    "Innodb_deadlocks",
    "Bytes_received",
    "Max_used_connections",
)
"""The MariaDB server's counters whose deltas are HQ's load (server-wide). MariaDB 10.6+
has no ``Innodb_rows_inserted``/``_updated`` (shown when the server has them): ``Handler_write``
and ``Handler_update`` count the rows written and updated (temporary tables included), and
``Innodb_os_log_written`` the bytes of redo log."""


# -- databases ---------------------------------------------------------------------------------


@dataclass
class Place:
    """Where HQ, the ledger and the reference's HQ live for this run."""

    kind: str  # "mariadb" or "sqlite"
    hq: str
    ledger: str
    reference_hq: str
    why: str = ""
    created: list[str] = field(default_factory=list)

    def drop(self) -> None:
        if self.kind != "mariadb":
            return
        admin = _admin_engine(self.hq)
        try:
            with admin.connect() as connection:
                for name in self.created:
                    connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
                connection.commit()
        finally:
            admin.dispose()


def _admin_engine(url: str) -> sa.Engine:
    parsed = sa.engine.make_url(Database(url=url.split("?")[0]).sqlalchemy_url())
    return sa.create_engine(
        parsed.set(database=""), poolclass=NullPool, connect_args={"connect_timeout": 5}
    )


def place(root: Path, hq: str | None) -> Place:
    """MariaDB databases created for this run when the server answers, else SQLite files."""
    files = Place(
        "sqlite",
        f"sqlite:///{root / 'central.db'}",
        f"sqlite:///{root / 'ledger.db'}",
        f"sqlite:///{root / 'central-reference.db'}",
    )
    if hq == "sqlite":
        files.why = "asked for (--hq sqlite)"
        return files
    server = (hq or MARIADB_ADMIN).rstrip("/")
    tag = uuid.uuid4().hex[:8]
    names = [f"sb_bench_hq_{tag}", f"sb_bench_ledger_{tag}", f"sb_bench_ref_{tag}"]
    try:
        admin = _admin_engine(server + "/")
        try:
            with admin.connect() as connection:
                for name in names:
                    connection.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
                connection.commit()
        finally:
            admin.dispose()
    except Exception as exc:  # unreachable or refused: the SQLite fall-back, said in the output
        files.why = f"MariaDB at {server} not usable: {str(exc).splitlines()[0][:120]}"
        return files
    url = [f"{server}/{name}?charset=utf8mb4" for name in names]
    return Place("mariadb", url[0], url[1], url[2], f"databases {', '.join(names)}", names)


# -- watching HQ ------------------------------------------------------------------------------


class ClientCounts:
    """Statements, rows written and commits this process sent to each database (keyed by
    database name): HQ's load as the client sees it, exact whatever else the server does."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, Counter] = {}

    def _add(self, connection: sa.Connection, **amounts: int) -> None:
        database = str(connection.engine.url.database or "")
        name = Path(database).name if connection.dialect.name == "sqlite" else database
        with self.lock:
            self.counts.setdefault(name, Counter()).update(amounts)

    def statement(self, conn, cursor, statement, parameters, context, executemany) -> None:
        rows = len(parameters) if executemany else 1
        self._add(conn, statements=1, executemany_rows=rows if executemany else 0)

    def commit(self, conn) -> None:
        self._add(conn, commits=1)

    def connection(self, conn) -> None:
        """A checkout: with the runs' NullPool engines, a new database connection."""
        self._add(conn, connections=1)

    @contextmanager
    def listening(self) -> Iterator[ClientCounts]:
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self.statement)
        sa.event.listen(sa.engine.Engine, "commit", self.commit)
        sa.event.listen(sa.engine.Engine, "engine_connect", self.connection)
        try:
            yield self
        finally:
            sa.event.remove(sa.engine.Engine, "before_cursor_execute", self.statement)
            sa.event.remove(sa.engine.Engine, "commit", self.commit)
            sa.event.remove(sa.engine.Engine, "engine_connect", self.connection)

    def of(self, url: str) -> dict[str, int]:
        database = str(sa.engine.make_url(url).database or "")
        return dict(
            self.counts.get(Path(database).name if url.startswith("sqlite") else database, {})
        )


def _server_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("mariadbd", "mysqld"):
                    return int(entry.name)
            except OSError:
                continue
    return None


def _proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    """CPU of this process's live descendants (Prefect's temporary server)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[1])
    mine, found = {os.getpid()}, True
    while found:
        found = False
        for pid, parent in parents.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                found = True
    mine.discard(os.getpid())
    return sum(_proc_cpu(pid) for pid in mine)


class ServerWatch:
    """The MariaDB server around a timed stretch: status deltas, the peak of
    ``Threads_connected`` (sampled every 0.2 s by one extra connection, not counted) and
    the server process's CPU."""

    def __init__(self, url: str) -> None:
        self.engine = _admin_engine(url)
        self.pid = _server_pid()
        self.peak = 0
        self.stop = threading.Event()

    def _status(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql("SHOW GLOBAL STATUS").all()
        return {name: int(value) for name, value in rows if str(value).lstrip("-").isdigit()}

    def _sample(self) -> None:
        with self.engine.connect() as connection:
            while not self.stop.wait(0.2):
                value = connection.exec_driver_sql(
                    "SHOW GLOBAL STATUS LIKE 'Threads_connected'"
                ).first()
                self.peak = max(self.peak, int(value[1]) - 1)

    @contextmanager
    def watching(self) -> Iterator[dict[str, Any]]:
        found: dict[str, Any] = {}
        before, cpu = self._status(), _proc_cpu(self.pid) if self.pid else None
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        try:
            yield found
        finally:
            self.stop.set()
            sampler.join()
            after = self._status()
            found["status"] = {
                name: after.get(name, 0) - before.get(name, 0)
                for name in STATUS
                if name in after and name != "Max_used_connections"
            }
            found["max_used_connections"] = (
                before.get("Max_used_connections"),
                after.get("Max_used_connections"),
            )
            found["threads_connected_peak"] = self.peak
            if cpu is not None and self.pid:
                found["server_cpu_seconds"] = _proc_cpu(self.pid) - cpu
            self.engine.dispose()


@contextmanager
def _nothing() -> Iterator[dict[str, Any]]:
    yield {}


# -- the runs ---------------------------------------------------------------------------------


def _in_threads(
    work: Callable[[str], tuple[float, str]], stores: list[str], concurrency: int
) -> tuple[float, list[float], list[str]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="store") as pool:
        done = list(pool.map(work, stores))
    wall = time.perf_counter() - started
    return (
        wall,
        [d for d, _ in done],
        [f"{s}: {p}" for s, (_, p) in zip(stores, done, strict=True) if p],
    )


LOST = "Completed, but Prefect returned the final state without its result (MissingResult)"
"""A loaded temporary Prefect server sometimes answers the final state's proposal with the
state as stored (a retried request?), which holds no result: the run completed (its rows are
at HQ, checked by count), only its summary is not returned. Counted apart, not a failure."""


def _flow_run(folder: Path) -> Callable[[str], tuple[float, str]]:
    from prefect.exceptions import MissingResult

    from flows.chain import chain

    def one(store: str) -> tuple[float, str]:
        started = time.perf_counter()
        try:
            state = chain(config_path=str(folder / f"{store}.yaml"), return_state=True)
            try:
                summary = state.result(raise_on_failure=False)
            except MissingResult:
                if not state.is_completed():
                    raise
                return time.perf_counter() - started, LOST
            problem = "" if summary.state == "completed" else summary.render()[-400:]
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"[-400:]
        return time.perf_counter() - started, problem

    return one


def _seed_push(folder: Path, hq_url: str, profile) -> Callable[[str], tuple[float, str]]:
    """The seed's way for one store, in its own thread and HQ connection (HQ's tables made
    once beforehand, untimed, as HQ's run makes ours)."""
    engine = open_engine(Database(url=hq_url), "HQ")
    table = ensure_hq_schema(engine, profile)["ticket_lines"]
    engine.dispose()

    def one(store: str) -> tuple[float, str]:
        started = time.perf_counter()
        till = open_engine(Database(url=f"sqlite:///{folder / f'till-{store}.db'}"), "till")
        hq = open_engine(Database(url=hq_url), "HQ")
        try:
            with till.connect() as source:
                rows = [
                    dict(r._mapping) for r in source.execute(sa.text("SELECT * FROM ticket_lines"))
                ]
            with hq.connect() as target:
                for start in range(0, len(rows), 20):
                    for row in rows[start : start + 20]:
                        target.execute(
                            table.insert().values(
                                **row,
                                sb_store=store,
                                sb_seq=row["id"],
                                sb_received_at=sa.func.now(),
                            )
                        )
                    target.commit()
            problem = ""
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"[-400:]
        finally:
            till.dispose()
            hq.dispose()
        return time.perf_counter() - started, problem

    return one


def _counts(url: str) -> dict[str, int]:
    engine = open_engine(Database(url=url), "HQ")
    try:
        with engine.connect() as connection:
            return {
                store: int(count)
                for store, count in connection.execute(
                    sa.text("SELECT sb_store, COUNT(*) FROM chain_ticket_lines GROUP BY sb_store")
                )
            }
    finally:
        engine.dispose()


def _timed(
    label: str,
    work: Callable[[str], tuple[float, str]],
    stores: list[str],
    concurrency: int,
    where: Place,
    counts: ClientCounts,
    hq_url: str,
) -> dict[str, Any]:
    watch = ServerWatch(where.hq) if where.kind == "mariadb" else None
    cpu, children = cpu_seconds(), _children_cpu()
    load_before = machine_load()
    with counts.listening(), watch.watching() if watch else _nothing() as server:
        wall, durations, problems = _in_threads(work, stores, concurrency)
    result: dict[str, Any] = {
        "what": label,
        "wall_seconds": wall,
        "cpu_seconds": cpu_seconds() - cpu,
        "children_cpu_seconds": max(0.0, _children_cpu() - children),
        "load_before": load_before,
        "load_after": machine_load(),
        "run_seconds": {
            "median": statistics.median(durations),
            "max": max(durations),
            "min": min(durations),
        },
        "problems": [p for p in problems if not p.endswith(LOST)],
        "lost_results": [p.split(":")[0] for p in problems if p.endswith(LOST)],
        "server": server,
        "client": {"hq": counts.of(hq_url), "ledger": counts.of(where.ledger)},
    }
    return result


def prepare_stores(root: Path, where: Place, stores: list[str], lines: int) -> None:
    """The stores' tills with their backlogs, HQ's till, every store file."""
    profile = load_profile(profile_path("reference-till").absolute())
    for store in ["hq", *stores]:
        url = f"sqlite:///{root / f'till-{store}.db'}"
        engine = open_engine(Database(url=url), "till")
        till = Till(engine, profile, store)
        if store != "hq":
            till.sales_backlog(lines // LINES_PER_TICKET, LINES_PER_TICKET)
        engine.dispose()
        extra: dict[str, Any] = {"role": "hq", "stores": stores} if store == "hq" else {}
        _store_file(root, store, url, where.hq, where.ledger, **extra)


def measure(
    root: Path, where: Place, stores: int, lines: int, concurrency: int, reference: bool = True
) -> dict[str, Any]:
    names = [f"s{n:03d}" for n in range(1, stores + 1)]
    started = time.perf_counter()
    prepare_stores(root, where, names, lines)
    prepared = time.perf_counter() - started
    run = _flow_run(root)
    first, problem = run("hq")  # HQ's run: HQ's tables, the stores registered, the ledger
    assert not problem, problem
    counts = ClientCounts()
    profile = load_profile(profile_path("reference-till").absolute())
    result: dict[str, Any] = {
        "hq_kind": where.kind,
        "where": where.why,
        "stores": stores,
        "lines": lines,
        "concurrency": concurrency,
        "prepare_seconds": prepared,
        "hq_run_seconds": first,
    }
    if reference:
        result["reference"] = _timed(
            "reference",
            _seed_push(root, where.reference_hq, profile),
            names,
            concurrency,
            where,
            counts,
            where.reference_hq,
        )
        result["reference"]["counts"] = _counts(where.reference_hq)
    counts = ClientCounts()
    ours = _timed("stockbridge", run, names, concurrency, where, counts, where.hq)
    ours["counts"] = _counts(where.hq)
    result["ours"] = ours
    return result


# -- reporting --------------------------------------------------------------------------------


def problems_of(result: dict[str, Any]) -> list[str]:
    """Exactly once at HQ: every store's 2,000 lines, no more; every run completed."""
    found = []
    for who in ("ours", "reference"):
        part = result.get(who)
        if not part:
            continue
        wrong = {
            s: part["counts"].get(s, 0)
            for s in (f"s{n:03d}" for n in range(1, result["stores"] + 1))
            if part["counts"].get(s, 0) != result["lines"]
        }
        if wrong:
            found.append(f"{who}: {len(wrong)} store(s) without exactly {result['lines']} lines")
        found += [f"{who}: {p}" for p in part["problems"][:3]]
    return found


def lines_of(result: dict[str, Any]) -> list[str]:
    total = result["stores"] * result["lines"]
    ours, reference = result["ours"], result.get("reference")
    out = [
        f"{result['stores']} stores x {result['lines']:,} lines, {result['concurrency']} runs"
        f" at once in threads, HQ and ledger on {result['hq_kind']} ({result['where']})",
    ]
    for part in (ours, reference):
        if not part:
            continue
        runs, wall = part["run_seconds"], part["wall_seconds"]
        out.append(
            f"{part['what']}: {wall:.1f} s in all, {total / wall:,.0f} lines/s; a store's run"
            f" median {runs['median']:.1f} s, max {runs['max']:.1f} s;"
            f" CPU {part['cpu_seconds']:.1f} s here + {part['children_cpu_seconds']:.1f} s"
            f" Prefect server;"
            + (
                f" {len(part['lost_results'])} run(s) {LOST[:9]} but their result lost by Prefect;"
                if part.get("lost_results")
                else ""
            )
            + " HQ exactly once: "
            + (
                "yes"
                if all(part["counts"].get(s) == result["lines"] for s in _names(result))
                else "NO"
            )
        )
        client = part["client"]["hq"]
        out.append(
            f"  HQ load sent by the client: {client.get('statements', 0):,} statements"
            f" ({client.get('executemany_rows', 0):,} rows in executemany),"
            f" {client.get('commits', 0):,} commits, {client.get('connections', 0):,} connections"
            + (
                f"; ledger: {part['client']['ledger'].get('statements', 0):,} statements,"
                f" {part['client']['ledger'].get('commits', 0):,} commits,"
                f" {part['client']['ledger'].get('connections', 0):,} connections"
                if part["client"]["ledger"]
                else ""
            )
        )
        server = part.get("server") or {}
        if server.get("status"):
            status = server["status"]
            used = server["max_used_connections"]
            out.append(
                "  MariaDB server (HQ + ledger, and any other client): "
                + ", ".join(f"{k} {v:,}" for k, v in status.items())
                + f"; Threads_connected peak {server['threads_connected_peak']}"
                + f", Max_used_connections {used[0]} -> {used[1]}"
                + (
                    f"; mariadbd CPU {server['server_cpu_seconds']:.1f} s"
                    if "server_cpu_seconds" in server
                    else ""
                )
            )
    if reference:
        out.append(
            f"ratio {ours['wall_seconds'] / reference['wall_seconds']:.2f}x the reference's wall"
            " time (ours: whole runs with tickets, lines and the ledger's stock; reference: lines"
            " only)"
        )
    return out


def _names(result: dict[str, Any]) -> list[str]:
    return [f"s{n:03d}" for n in range(1, result["stores"] + 1)]


# -- the ``make bench`` case -------------------------------------------------------------------


def prepare(case: Case, folder: Path, ledger: str, reference: bool) -> tuple[dict, dict]:
    plan = {
        "folder": str(folder),
        "stores": case.files,
        "lines": case.lines_per_file,
        "concurrency": min(CONCURRENCY, case.files),  # the default: see CONCURRENCY
        "reference": reference,
    }
    return plan, {"stores": case.files, "lines": case.lines_per_file}


def check(case: Case, plan: dict, expected: dict, result: dict) -> list[str]:
    return problems_of(result)


def describe(entry: dict) -> list[str]:
    raw = entry.get("raw") or {}
    return lines_of(raw) if raw.get("ours") else []


def work(plan_path: str, out_path: str) -> int:
    from stockbridge.runtime import configure_prefect

    configure_prefect()
    plan = json.loads(Path(plan_path).read_text())
    results: dict = {"import_seconds": 0.0, "code": code_revision(), "cases": {}}
    for case in plan["cases"]:
        print(f"  {case['name']}: {case['title']}", flush=True)
        root = Path(tempfile.mkdtemp(prefix="bench-chain-concurrent-", dir=case["folder"]))
        where = place(root, None)
        try:
            result = measure(
                root,
                where,
                case["stores"],
                case["lines"],
                case["concurrency"],
                case["reference"],
            )
            ours = result["ours"]
            result.update(
                code=results["code"],
                marginal_seconds=ours["wall_seconds"],
                marginal_cpu_seconds=ours["cpu_seconds"],
                load_before=ours["load_before"],
                load_after=ours["load_after"],
            )
            if result.get("reference"):
                reference = result["reference"]
                reference.update(
                    estimate_seconds=reference["wall_seconds"],
                    estimate_cpu_seconds=reference["cpu_seconds"],
                )
            print(f"    {lines_of(result)[1]}", flush=True)
        except Exception as exc:
            result = {"error": traceback.format_exc() or repr(exc)}
        finally:
            where.drop()
            shutil.rmtree(root, ignore_errors=True)
        results["cases"][case["name"]] = result
        Path(out_path).write_text(json.dumps(results, indent=1, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chain_concurrent")
    parser.add_argument(
        "--hq",
        help="the MariaDB server to create HQ's and the ledger's databases on (default"
        f" {MARIADB_ADMIN}, or $STOCKBRIDGE_BENCH_MARIADB), or 'sqlite' for SQLite files;"
        " an unreachable server falls back to SQLite (said in the output)",
    )
    parser.add_argument("--stores", type=int, default=STORES)
    parser.add_argument("--lines", type=int, default=LINES, help="lines per store")
    parser.add_argument("--concurrency", type=int, default=None, help="runs at once")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--plan", help="(make bench) the worker's plan file")
    parser.add_argument("--out", help="(make bench) where the worker writes its results")
    parser.add_argument("--profile", default=None, help="(make bench; not used here)")
    args = parser.parse_args(argv)
    if args.plan:
        return work(args.plan, args.out)
    from stockbridge.runtime import configure_prefect

    root = Path(tempfile.mkdtemp(prefix="bench-chain-concurrent-"))
    os.environ.setdefault("PREFECT_HOME", str(root / "prefect"))
    os.environ.setdefault("STOCKBRIDGE_HOME", str(root / "home"))
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    configure_prefect()
    where = place(root, args.hq)
    concurrency = args.concurrency or min(CONCURRENCY, args.stores)
    try:
        result = measure(root, where, args.stores, args.lines, concurrency, not args.no_reference)
        for line in lines_of(result):
            print(line)
        for problem in problems_of(result):
            print(f"PROBLEM: {problem}")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1, default=str))
        return 1 if problems_of(result) else 0
    finally:
        where.drop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
