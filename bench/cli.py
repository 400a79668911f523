"""``python -m bench``: prepare data, run the worker(s), check the results, print and save.

Full runs start one worker process per case (so each case's peak memory is its own);
``--quick`` runs every case in one worker to keep Prefect's start-up paid once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bench import chain, chain_concurrent, matching, seliton
from bench.cases import Case, select
from bench.data import Catalogue, Expected, make_catalogue, write_catalogue, write_export
from bench.data import write_movements as _write_movements

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
POSTGRES_ADMIN = os.environ.get(
    "STOCKBRIDGE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SETTLE = {"min_age": "0s", "recheck": "0s"}
ENVIRONMENT = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = [n for item in args.case or [] for n in item.split(",") if n]
    cases = select(names, args.quick)
    started = datetime.now()
    root = Path(tempfile.mkdtemp(prefix="stockbridge-bench-"))
    mode = "quick" if args.quick else "full"
    print(f"stockbridge bench ({mode}): {', '.join(c.name for c in cases)}")
    print(f"  data and ledgers in {root} ({'kept' if args.keep else 'removed at the end'})")
    print(
        f"  store files: settle {{min_age: 0s, recheck: 0s}}, default batch settings unless"
        f" noted; env {' '.join(f'{k}={v}' for k, v in ENVIRONMENT.items())}"
    )
    print("  figure = (run with the data) - (run with an empty import folder), same process,")
    print("  after a warm-up run; interpreter and Prefect start-up are excluded. A run is timed")
    print("  from the flow call to its final state; Prefect then waits up to 1 s for its")
    print("  heartbeat thread (shown as the idle-run case), which would quantise the figures")

    databases: list[str] = []
    try:
        plans, expectations, skipped = _prepare(cases, root, args, databases)
        raw: dict[str, Any] = {}
        runnable = [c for c in cases if c.name in plans]
        flows = [c for c in runnable if c.kind not in WORKERS]
        groups = [flows] if (args.quick or args.one_process) else [[c] for c in flows]
        groups += [[c] for c in runnable if c.kind in WORKERS]
        for group in groups:
            if group:
                raw.update(_run_worker(group, plans, root, args))
        report = _report(cases, plans, expectations, raw, skipped, args)
    finally:
        for name in databases:
            _drop_database(name)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    document = {
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *(argv or sys.argv[1:])]),
        "mode": mode,
        "profiled": bool(args.profile),
        "machine": _machine(),
        "settings": {"settle": SETTLE, "environment": ENVIRONMENT},
        "cases": report,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%S")
    target = RESULTS / f"{stamp}-{mode}.json"
    text = json.dumps(document, indent=1, default=str)
    target.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print(f"\nresults: {target.relative_to(REPO)} (and bench/results/latest.json)")
    failed = [c for c in report if c["result"] in ("error", "incorrect")]
    return 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run (< 60 s)")
    parser.add_argument("--case", action="append", help="run only this case (repeatable)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile each measured run with pyinstrument (install it first; figures are"
        " then inflated) into bench/results/profiles/",
    )
    parser.add_argument("--one-process", action="store_true", help="all cases in one worker")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--verbose", action="store_true", help="show the worker's stderr")
    return parser


# -- preparing --------------------------------------------------------------------------------


def _prepare(
    cases: list[Case], root: Path, args: argparse.Namespace, databases: list[str]
) -> tuple[dict[str, dict], dict[str, dict], dict[str, str]]:
    plans: dict[str, dict] = {}
    expectations: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    for case in cases:
        start = time.perf_counter()
        folder = root / case.name
        folder.mkdir(parents=True)
        ledger = f"sqlite:///{folder / 'ledger.db'}"
        if case.backend == "postgresql":
            try:
                name = _create_database()
            except Exception as exc:
                skipped[case.name] = f"PostgreSQL not reachable: {exc}".splitlines()[0]
                print(f"  {case.name}: skipped ({skipped[case.name]})")
                continue
            databases.append(name)
            ledger = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        with_reference = case.reference and not args.no_reference
        plan, expected = PREPARE[case.kind](case, folder, ledger, with_reference)
        plan.update(name=case.name, title=case.title, kind=case.kind)
        plan.update(empty_runs=case.empty_runs, articles=case.articles, ledger=ledger)
        plans[case.name] = plan
        expectations[case.name] = expected
        print(f"  {case.name}: data prepared in {time.perf_counter() - start:.1f} s")
    return plans, expectations, skipped


def _write_store(
    folder: Path, store: str, ledger: str, catalogue: Path, batch: dict | None = None
) -> Path:
    document: dict[str, Any] = {
        "store": store,
        "integration": "interstock",
        "schedule": {"every": "60s"},
        "ledger": ledger,
        "catalogue": str(catalogue),
        "import": str(folder / "import"),
        "export": str(folder / "export" / "articles.txt"),
        "errors": str(folder / "errors"),
        "settle": dict(SETTLE),
    }
    if batch:
        document["batch"] = dict(batch)
    (folder / "import").mkdir(parents=True, exist_ok=True)
    path = folder / "store.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _catalogue(folder: Path, articles: int) -> tuple[Catalogue, Path]:
    catalogue = make_catalogue(articles)
    path = folder / "articles.tsv"
    write_catalogue(path, catalogue)
    return catalogue, path


def _prepare_apply(case: Case, folder: Path, ledger: str, reference: bool):
    catalogue, path = _catalogue(folder, case.articles)
    expected = _write_movements(
        folder / "data", catalogue, case.files, case.lines_per_file, folder / "expected.txt"
    )
    plan: dict[str, Any] = {
        "store": str(_write_store(folder, f"bench-{case.name}", ledger, path, case.batch)),
        "data": str(folder / "data"),
        "import": str(folder / "import"),
        "export": str(folder / "export" / "articles.txt"),
    }
    expectations: dict[str, Any] = {"flow": expected.to_json()}
    if reference:
        data, ref_expected = folder / "data", expected
        if case.reference_data is not None:
            files, lines_per_file = case.reference_data
            data = folder / "reference-data"
            ref_expected = _write_movements(
                data, catalogue, files, lines_per_file, folder / "expected-reference.txt"
            )
        plan["reference"] = {
            "root": str(folder / "reference"),
            "catalogue": str(path),
            "data": str(data),
            "scale": case.reference_scale,
        }
        expectations["reference"] = ref_expected.to_json()
    return plan, expectations


def _prepare_export(case: Case, folder: Path, ledger: str, reference: bool):
    catalogue, path = _catalogue(folder, case.articles)
    write_export(folder / "expected.txt", catalogue, catalogue.opening)
    tiny_folder = folder / "tiny"
    tiny_folder.mkdir()
    _, tiny_path = _catalogue(tiny_folder, 3)
    tiny_ledger = f"sqlite:///{tiny_folder / 'ledger.db'}"
    plan: dict[str, Any] = {
        "store": str(_write_store(folder, f"bench-{case.name}", ledger, path, case.batch)),
        "tiny_store": str(_write_store(tiny_folder, "bench-tiny", tiny_ledger, tiny_path)),
        "export": str(folder / "export" / "articles.txt"),
    }
    if reference:
        plan["reference"] = {"root": str(folder / "reference"), "catalogue": str(path)}
    expected = {"export": str(folder / "expected.txt"), "articles": case.articles}
    return plan, {"flow": expected, "reference": expected}


def _prepare_idle(case: Case, folder: Path, ledger: str, reference: bool):
    _, path = _catalogue(folder, case.articles)
    plan = {"store": str(_write_store(folder, f"bench-{case.name}", ledger, path, case.batch))}
    return plan, {}


PREPARE = {
    "apply": _prepare_apply,
    "export": _prepare_export,
    "idle": _prepare_idle,
    "match": matching.prepare,
    "seliton": seliton.prepare,
    "chain": chain.prepare,
    "chain-concurrent": chain_concurrent.prepare,
}
WORKERS = {
    "match": "bench.matching",
    "seliton": "bench.seliton",
    "chain": "bench.chain",
    "chain-concurrent": "bench.chain_concurrent",
}
"""Case kinds timed by a worker module of their own (no Prefect); others use bench.worker."""


def _create_database() -> str:
    import psycopg

    name = f"stockbridge_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return name


def _drop_database(name: str) -> None:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    except Exception as exc:
        print(f"  could not drop database {name}: {exc}")


# -- running ----------------------------------------------------------------------------------


def _run_worker(
    group: list[Case], plans: dict[str, dict], root: Path, args: argparse.Namespace
) -> dict[str, Any]:
    tag = group[0].name if len(group) == 1 else "all"
    plan_path = root / f"plan-{tag}.json"
    out_path = root / f"raw-{tag}.json"
    log_path = root / f"worker-{tag}.log"
    plan_path.write_text(json.dumps({"cases": [plans[c.name] for c in group]}, indent=1))
    home = root / "home"
    (home / "prefect").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(ENVIRONMENT)
    env.update(STOCKBRIDGE_HOME=str(home), PREFECT_HOME=str(home / "prefect"))
    module = WORKERS.get(group[0].kind, "bench.worker")
    command = [sys.executable, "-m", module, "--plan", str(plan_path)]
    command += ["--out", str(out_path)]
    if args.profile:
        command += ["--profile", str(RESULTS / "profiles")]
    print(f"\nworker for {', '.join(c.name for c in group)}:", flush=True)
    start = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.run(
            command, cwd=REPO, env=env, stderr=None if args.verbose else log, check=False
        )
    elapsed = time.perf_counter() - start
    raw = json.loads(out_path.read_text()) if out_path.exists() else {"cases": {}}
    imported = raw.get("import_seconds", 0)
    print(
        f"  worker finished in {elapsed:.1f} s (Prefect import {imported:.1f} s;"
        f" code {raw.get('code') or '?'})"
    )
    results = raw.get("cases", {})
    warnings = _worker_warnings(log_path)
    for line in warnings[:10]:
        print(f"  worker said: {line}")
    for case in group:
        if case.name in results:
            results[case.name]["worker_warnings"] = warnings
        if case.name not in results:
            tail = log_path.read_text()[-3000:] if log_path.exists() else ""
            results[case.name] = {"error": f"worker exited with {process.returncode}\n{tail}"}
    return results


def _worker_warnings(log_path: Path) -> list[str]:
    """Distinct warnings and errors the worker printed (Prefect's console, tracebacks)."""
    if not log_path.exists():
        return []
    seen: dict[str, str] = {}
    pattern = re.compile(r"WARNING|ERROR|Error|greater than the max size|Refusing")
    for line in log_path.read_text(errors="replace").splitlines():
        if pattern.search(line):
            text = re.sub(r"^\d\d:\d\d:\d\d\.\d+ \| ", "", line.strip())
            seen.setdefault(re.sub(r"\d+", "N", text), text[:300])
    return list(seen.values())


# -- judging ----------------------------------------------------------------------------------


def _report(
    cases: list[Case],
    plans: dict[str, dict],
    expectations: dict[str, dict],
    raw: dict[str, Any],
    skipped: dict[str, str],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    report = []
    for case in cases:
        entry: dict[str, Any] = {
            "case": asdict(case),
            "name": case.name,
            "target": case.target_text(),
        }
        if case.name in skipped:
            entry.update(result="skipped", why=skipped[case.name])
            report.append(entry)
            continue
        result = raw.get(case.name, {"error": "not run"})
        entry["raw"] = result
        entry["expected"] = expectations.get(case.name)
        if "error" in result:
            entry.update(result="error", problems=[result["error"].strip().splitlines()[-1]])
            report.append(entry)
            continue
        problems = CHECKS[case.kind](case, plans[case.name], expectations[case.name], result)
        measured = result["marginal_seconds"]
        cpu = result.get("marginal_cpu_seconds")
        timed_run = result.get("data") or (result.get("runs") or [result])[-1]
        load = max(
            timed_run.get("load_before", {}).get("loadavg_1m", 0.0),
            timed_run.get("load_after", {}).get("loadavg_1m", 0.0),
        )
        reference = (result.get("reference") or {}).get("estimate_seconds")
        ratio = measured / reference if reference else None
        reference_cpu = (result.get("reference") or {}).get("estimate_cpu_seconds")
        cpu_ratio = cpu / reference_cpu if cpu is not None and reference_cpu else None
        memory = result.get("memory", {}).get("delta_mb")
        misses = []
        if case.target_seconds is not None and measured > case.target_seconds:
            misses.append(f"{measured:.2f} s > {case.target_seconds:g} s")
        if case.target_ratio is not None and ratio is not None and ratio > case.target_ratio:
            misses.append(f"{ratio:.2f}× > {case.target_ratio:g}× reference")
        if (
            case.target_memory_mb is not None
            and memory is not None
            and memory > case.target_memory_mb
        ):
            misses.append(f"+{memory:.0f} MB > {case.target_memory_mb:.0f} MB")
        if case.kind in MISSES:
            misses.extend(MISSES[case.kind](case, result))
        if problems:
            verdict = "incorrect"
        elif args.quick:
            verdict = "smoke"
        elif args.profile:
            verdict = "profiled"
        else:
            verdict = "miss" if misses else "pass"
        entry.update(
            code=result.get("code"),
            measured_seconds=measured,
            cpu_seconds=cpu,
            loadavg_1m=load,
            reference_seconds=reference,
            ratio=ratio,
            reference_cpu_seconds=reference_cpu,
            cpu_ratio=cpu_ratio,
            memory_delta_mb=memory,
            problems=problems,
            misses=misses,
            result=verdict,
        )
        report.append(entry)
    _print_table(report, args)
    return report


def _print_table(report: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    header = (
        "case",
        "measured",
        "cpu",
        "target",
        "reference",
        "ratio",
        "peak Δ RSS",
        "load",
        "checks",
        "result",
    )
    rows = [header]
    for entry in report:
        if entry["result"] in ("skipped", "error"):
            why = entry.get("why") or "; ".join(entry.get("problems", []))
            name, target, result = entry["name"], entry["target"], entry["result"]
            rows.append((name, "-", "-", target, "-", "-", "-", "-", why[:60], result))
            continue
        reference = entry["reference_seconds"]
        memory = entry["memory_delta_mb"]
        rows.append(
            (
                entry["name"],
                f"{entry['measured_seconds']:.2f} s",
                f"{entry['cpu_seconds']:.2f} s" if entry.get("cpu_seconds") is not None else "-",
                entry["target"],
                f"{reference:.2f} s" if reference else "-",
                (f"{entry['ratio']:.2f}×" if entry["ratio"] is not None else "-")
                + (f" (cpu {entry['cpu_ratio']:.2f}×)" if entry.get("cpu_ratio") else ""),
                f"+{memory:.0f} MB" if memory is not None else "-",
                f"{entry['loadavg_1m']:.1f}",
                "ok" if not entry["problems"] else f"{len(entry['problems'])} problem(s)",
                entry["result"]
                + (
                    f" ({'; '.join(entry['misses'])})" if entry["misses"] and not args.quick else ""
                ),
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header) - 1)]
    for index, row in enumerate(rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  " + "  ".join([*cells, str(row[-1])]))
        if index == 0:
            print("  " + "  ".join("-" * w for w in widths) + "  ------")
    if args.quick:
        print("  (quick: small sizes, targets not judged)")
    print(
        "  measured = marginal wall time; cpu = marginal CPU time of the process (all threads);"
        " ratio (cpu ..) = the same against the reference's CPU time;\n  load = 1-min load"
        " average around the timed run"
    )
    busy = [e["name"] for e in report if (e.get("loadavg_1m") or 0) > (os.cpu_count() or 1)]
    if busy:
        print(
            f"  WARNING: the machine was busy (load > {os.cpu_count()} cores) during"
            f" {', '.join(busy)}: wall times are inflated; compare CPU times, or re-run"
        )
    for entry in report:
        for problem in entry.get("problems") or []:
            print(f"  {entry['name']}: {problem}")
        note = entry["case"].get("note")
        about_ratio = note.startswith("ratio") if note else False
        if note and entry["result"] != "skipped" and not (about_ratio and not entry.get("ratio")):
            print(f"  {entry['name']}: {note}")
        if entry["case"].get("reference_data") and entry.get("reference_seconds"):
            files, lines = entry["case"]["reference_data"]
            scale = entry["raw"]["reference"]["scale"]
            print(
                f"  {entry['name']}: reference extrapolated ×{scale:g} from the reference run on"
                f" {files * lines:,} lines in {files} file(s)"
            )
        if entry["case"].get("batch"):
            print(f"  {entry['name']}: batch settings {entry['case']['batch']}")
        if entry["case"]["kind"] in DESCRIBE and entry["result"] not in ("skipped", "error"):
            for line in DESCRIBE[entry["case"]["kind"]](entry):
                print(f"  {entry['name']}: {line}")


def _same_bytes(actual: str, expected: str) -> str | None:
    try:
        got = Path(actual).read_bytes()
    except OSError as exc:
        return f"export not readable: {exc}"
    want = Path(expected).read_bytes()
    if got == want:
        return None
    got_lines, want_lines = got.split(b"\n"), want.split(b"\n")
    differing = sum(1 for a, b in zip(got_lines, want_lines, strict=False) if a != b)
    first = next(
        (i for i, (a, b) in enumerate(zip(got_lines, want_lines, strict=False)) if a != b), None
    )
    where = ""
    if first is not None:
        where = f"; first at line {first + 1}: {got_lines[first]!r} vs {want_lines[first]!r}"
    return (
        f"export differs from the expected one: {len(got_lines)} vs {len(want_lines)} lines,"
        f" {differing} differing{where}"
    )


def _check_apply(case: Case, plan: dict, expected: dict, result: dict) -> list[str]:
    problems = []
    flow = Expected(**expected["flow"])
    data = result["data"]
    if data.get("state") != "COMPLETED" or data.get("summary_state") != "completed":
        problems.append(f"data run ended {data.get('state')}: {data.get('message')}")
    wanted = {
        "files_applied": flow.files,
        "lines_applied": flow.applied,
        "lines_rejected": flow.rejected,
        "error_files": flow.files_with_rejects,
        "export_rows": flow.articles,
        "negative": flow.negative,
        "files_duplicate": 0,
        "files_quarantined": 0,
    }
    for key, value in wanted.items():
        if data.get(key) != value:
            problems.append(f"flow reported {key}={data.get(key)}, expected {value}")
    if result.get("import_leftover") != 0:
        problems.append(f"{result.get('import_leftover')} file(s) left in the import folder")
    if (issue := _same_bytes(plan["export"], flow.export)) is not None:
        problems.append(issue)
    reference = result.get("reference")
    if reference:
        ref = Expected(**expected["reference"])
        counts = reference["counts"]
        if (counts["applied"], counts["rejected"]) != (ref.applied, ref.rejected):
            problems.append(
                f"reference applied {counts['applied']}/rejected {counts['rejected']},"
                f" expected {ref.applied}/{ref.rejected}"
            )
        if (issue := _same_bytes(reference["export"], ref.export)) is not None:
            problems.append("reference " + issue)
    return problems


def _check_export(case: Case, plan: dict, expected: dict, result: dict) -> list[str]:
    problems = []
    if result.get("export_rows") != case.articles:
        problems.append(f"exported {result.get('export_rows')} rows, expected {case.articles}")
    if (issue := _same_bytes(plan["export"], expected["flow"]["export"])) is not None:
        problems.append(issue)
    reference = result.get("reference")
    if reference and (issue := _same_bytes(reference["export"], expected["flow"]["export"])):
        problems.append("reference " + issue)
    for run in [result["opening"], *result["big_empty"], *result["tiny_empty"]]:
        if run.get("state") != "COMPLETED":
            problems.append(f"a run ended {run.get('state')}: {run.get('message')}")
    return problems


def _check_idle(case: Case, plan: dict, expected: dict, result: dict) -> list[str]:
    return [
        f"a run ended {run.get('state')}: {run.get('message')}"
        for run in result["runs"]
        if run.get("state") != "COMPLETED"
    ]


CHECKS = {
    "apply": _check_apply,
    "export": _check_export,
    "idle": _check_idle,
    "match": matching.check,
    "seliton": seliton.check,
    "chain": chain.check,
    "chain-concurrent": chain_concurrent.check,
}
MISSES = {"match": matching.misses}
"""Goals of a case kind beyond time and memory (accuracy of the match case)."""
DESCRIBE = {
    "match": matching.describe,
    "seliton": seliton.describe,
    "chain": chain.describe,
    "chain-concurrent": chain_concurrent.describe,
}
"""Lines a case kind prints under the table."""


def _machine() -> dict[str, Any]:
    import numpy
    import pyarrow

    try:
        revision = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=REPO,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
    except OSError:
        revision, dirty = "", False
    memory = ""
    try:
        with open("/proc/meminfo") as handle:
            memory = handle.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
        "git": revision + ("+dirty" if dirty else ""),
    }
