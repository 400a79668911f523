"""Chain benchmarks: a 100,000-line sales backlog pushed to HQ, a pull of 50,000 articles.

Each beside its plain reference in the same run: the seed's utility without its pause
(read the rows, one INSERT per row, a commit every 20 rows) for the push; one INSERT per row
and a commit every 20 rows into the till for the pull. ``python -m bench.chain [--hq URL]``
prints the times and the ratio (goal for the push: <= 0.05x the reference).

``make bench`` runs the push as the case ``chain-push-100k`` (``--plan``/``--out``: this
module is then the case's worker, like ``bench.seliton``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
import yaml

from bench.cases import Case
from bench.worker import code_revision, machine_load
from stockbridge.integrations.chain.config import Database
from stockbridge.integrations.chain.database import ensure_hq_schema, open_engine
from stockbridge.integrations.chain.profile import load_profile, profile_path
from stockbridge.integrations.chain.simulator import Till

LINES = 100_000
ARTICLES = 50_000


def _store_file(root: Path, store: str, till: str, hq: str, ledger: str, **extra) -> Path:
    path = root / f"{store}.yaml"
    document = {
        "store": store,
        "integration": "chain",
        "till": till,
        "hq": hq,
        "ledger": ledger,
        **extra,
    }
    path.write_text(yaml.safe_dump(document))
    return path


def reference_push(till: sa.Engine, hq_url: str, profile) -> tuple[float, float]:
    """The seed's way: read the rows, one INSERT per row, commit every 20 rows.

    Returns wall and CPU seconds."""
    hq = open_engine(Database(url=hq_url), "HQ")
    tables = ensure_hq_schema(hq, profile)
    table = tables["ticket_lines"]
    started, cpu = time.perf_counter(), time.process_time()
    with till.connect() as source:
        rows = [dict(r._mapping) for r in source.execute(sa.text("SELECT * FROM ticket_lines"))]
    with hq.connect() as target:
        for start in range(0, len(rows), 20):
            for row in rows[start : start + 20]:
                target.execute(
                    table.insert().values(
                        **row, sb_store="ref", sb_seq=row["id"], sb_received_at=sa.func.now()
                    )
                )
            target.commit()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    hq.dispose()
    return elapsed, cpu


@dataclass
class Timed:
    seconds: float
    cpu_seconds: float
    notes: list[str]

    def phase(self, name: str) -> float | None:
        """A phase's seconds from the run's own "time spent" note (push, pull, ledger stock)."""
        for note in self.notes:
            found = re.search(rf"{name} ([0-9.]+) s", note) if note.startswith("time") else None
            if found:
                return float(found.group(1))
        return None


def run_flow(path: Path) -> Timed:
    """A store run, timed as ``bench.worker`` times InterStock's: to its final state's
    timestamp, not to the call's return, which waits for Prefect's heartbeat thread to
    wake on its next whole second (a tail of 0 to 1 s that would blur a difference)."""
    from flows.chain import chain

    wall_start, started, cpu = time.time(), time.perf_counter(), time.process_time()
    state = chain(config_path=str(path), return_state=True)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    elapsed = min(elapsed, state.timestamp.timestamp() - wall_start)
    summary = state.result(raise_on_failure=False)
    assert summary.state == "completed", summary.render()
    return Timed(elapsed, cpu, list(summary.notes))


def measure_push(root: Path, lines: int, hq_url: str) -> dict:
    """A store's ``lines``-line backlog pushed by a whole run, beside the reference.

    The figure compared with the reference is the run's push phase (as the run timed it):
    the reference's own work, reading the till's rows and writing them to HQ (ours also
    sends the 25,000 tickets). Beside it: the marginal run, the data run minus the fastest
    run with nothing to send (another store with an empty till, twice, and the same store
    once more afterwards), which adds the ledger's stock of every line, and the whole run.
    """
    profile = load_profile(profile_path("reference-till").absolute())
    ledger = f"sqlite:///{root / 'ledger.db'}"
    till_url = f"sqlite:///{root / 'till-lyon.db'}"
    till = Till(open_engine(Database(url=till_url), "till"), profile, "lyon")
    till.sales_backlog(lines // 4, 4)
    Till(open_engine(Database(url=f"sqlite:///{root / 'till-hq.db'}"), "t"), profile, "hq")
    empty_url = f"sqlite:///{root / 'till-paris.db'}"
    Till(open_engine(Database(url=empty_url), "till"), profile, "paris")
    hq_file = _store_file(
        root,
        "hq",
        f"sqlite:///{root / 'till-hq.db'}",
        hq_url,
        ledger,
        role="hq",
        stores=["lyon", "paris", "ref"],
    )
    lyon = _store_file(root, "lyon", till_url, hq_url, ledger)
    paris = _store_file(root, "paris", empty_url, hq_url, ledger)
    run_flow(hq_file)  # warm-up: Prefect's temporary server, HQ's tables
    empty = [run_flow(paris), run_flow(paris)]
    reference, reference_cpu = reference_push(till.engine, hq_url, profile)
    load_before = machine_load()
    data = run_flow(lyon)
    load_after = machine_load()
    empty.append(run_flow(lyon))
    hq = open_engine(Database(url=hq_url), "HQ")
    with hq.connect() as connection:
        count = connection.execute(
            sa.text("SELECT COUNT(*) FROM chain_ticket_lines WHERE sb_store = 'lyon'")
        ).scalar_one()
    hq.dispose()
    fastest = min(e.seconds for e in empty)
    return {
        # the figure ``make bench`` compares: the push, the reference's own work
        "marginal_seconds": data.phase("push"),
        "whole_run_marginal_seconds": data.seconds - fastest,
        "whole_run_marginal_cpu_seconds": data.cpu_seconds - min(e.cpu_seconds for e in empty),
        "whole_run_seconds": data.seconds,
        "empty_run_seconds": [e.seconds for e in empty],
        "push_seconds": data.phase("push"),
        "stock_seconds": data.phase("ledger stock"),
        "count": int(count),
        "load_before": load_before,
        "load_after": load_after,
        "reference": {
            "estimate_seconds": reference,
            "measured_seconds": reference,
            "estimate_cpu_seconds": reference_cpu,
            "rows": lines,
        },
    }


def figures(result: dict) -> list[str]:
    """The run's figures beside the reference: the push phase (the goal's figure), the
    marginal run with the ledger's stock, the whole run."""
    reference = result["reference"]["estimate_seconds"]
    lines = [
        f"reference (one INSERT a row, a commit every 20): {reference:.2f} s for"
        f" {result['reference']['rows']:,} lines"
    ]
    if result.get("push_seconds") is not None:
        lines.append(
            f"push phase (tickets and lines to HQ, as the run timed it):"
            f" {result['push_seconds']:.2f} s -> {result['push_seconds'] / reference:.3f}x"
        )
    lines += [
        f"marginal run (data run - fastest empty run; push, then ledger stock"
        f" {result['stock_seconds'] or 0:.2f} s): {result['whole_run_marginal_seconds']:.2f} s"
        f" -> {result['whole_run_marginal_seconds'] / reference:.3f}x",
        f"whole run (checks, push, ledger stock, Prefect): {result['whole_run_seconds']:.2f} s"
        f" -> {result['whole_run_seconds'] / reference:.3f}x",
    ]
    return lines


# -- the ``make bench`` case ---------------------------------------------------------------


def prepare(case: Case, folder: Path, ledger: str, reference: bool) -> tuple[dict, dict]:
    plan = {"name": case.name, "title": case.title, "folder": str(folder), "lines": case.lines}
    return plan, {"lines": case.lines}


def check(case: Case, plan: dict, expected: dict, result: dict) -> list[str]:
    if result.get("count") != expected["lines"]:
        return [f"{result.get('count')} line(s) at HQ of the {expected['lines']} sold"]
    return []


def describe(entry: dict) -> list[str]:
    return [
        "chain push: a store run (checks, push of 25,000 tickets and their 100,000 lines,"
        " ledger stock) vs the seed's way for the lines alone, in the same process, SQLite"
        " till and HQ",
        *figures(entry.get("raw") or {}),
    ]


def work(plan_path: str, out_path: str) -> int:
    from stockbridge.runtime import configure_prefect

    configure_prefect()
    plan = json.loads(Path(plan_path).read_text())
    results: dict = {"import_seconds": 0.0, "code": code_revision(), "cases": {}}
    for case in plan["cases"]:
        print(f"  {case['name']}: {case['title']}", flush=True)
        root = Path(tempfile.mkdtemp(prefix="bench-chain-", dir=case["folder"]))
        try:
            result = measure_push(root, case["lines"], f"sqlite:///{root / 'central.db'}")
            result["code"] = results["code"]
            for line in figures(result):
                print(f"    {line}", flush=True)
        except Exception as exc:
            import traceback

            result = {"error": traceback.format_exc() or repr(exc)}
        finally:
            shutil.rmtree(root, ignore_errors=True)
        results["cases"][case["name"]] = result
        Path(out_path).write_text(json.dumps(results, indent=1, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chain")
    parser.add_argument("--hq", help="HQ database URL (default: an SQLite file)")
    parser.add_argument("--lines", type=int, default=LINES)
    parser.add_argument("--articles", type=int, default=ARTICLES)
    parser.add_argument("--plan", help="(make bench) the worker's plan file")
    parser.add_argument("--out", help="(make bench) where the worker writes its results")
    parser.add_argument("--profile", default=None, help="(make bench; not used here)")
    args = parser.parse_args(argv)
    if args.plan:
        return work(args.plan, args.out)
    from stockbridge.runtime import configure_prefect

    configure_prefect()
    root = Path(tempfile.mkdtemp(prefix="bench-chain-"))
    profile = load_profile(profile_path("reference-till").absolute())
    try:
        hq_url = args.hq or f"sqlite:///{root / 'central.db'}"
        ledger = f"sqlite:///{root / 'ledger.db'}"
        pushed = measure_push(root, args.lines, hq_url)
        backend = Database(url=hq_url).backend
        print(f"push {args.lines:,} sale lines to HQ ({backend}), goal <= 0.05x:")
        for line in figures(pushed):
            print(f"  {line}")
        till = Till(
            open_engine(Database(url=f"sqlite:///{root / 'till-lyon.db'}"), "till"), profile, "lyon"
        )
        hq_file = root / "hq.yaml"

        hq_till = Till(
            open_engine(Database(url=f"sqlite:///{root / 'till-hq.db'}"), "t"), profile, "hq"
        )
        rows = [
            {
                "code": f"B{n:06d}",
                "label": f"article {n}",
                "family": "f",
                "price": Decimal("1.50"),
                "vat": Decimal(20),
                "printer": "P1",
                "updated_at": till.now(),
                "deleted": False,
            }
            for n in range(args.articles)
        ]
        with hq_till.engine.begin() as connection:
            connection.execute(hq_till.tables["articles"].insert(), rows)
        run_flow(hq_file)
        paris_url = f"sqlite:///{root / 'till-paris.db'}"
        Till(open_engine(Database(url=paris_url), "till"), profile, "paris")
        paris = _store_file(root, "paris", paris_url, hq_url, ledger)
        ref_url = f"sqlite:///{root / 'till-ref.db'}"
        ref_till = Till(open_engine(Database(url=ref_url), "till"), profile, "ref")
        started = time.perf_counter()
        with ref_till.engine.connect() as connection:
            for start in range(0, len(rows), 20):
                for row in rows[start : start + 20]:
                    connection.execute(ref_till.tables["articles"].insert().values(**row))
                connection.commit()
        reference = time.perf_counter() - started
        ours = run_flow(paris).seconds
        print(
            f"pull {args.articles:,} articles into a till (SQLite): stockbridge {ours:.2f} s"
            f" vs reference {reference:.2f} s -> ratio {ours / reference:.3f}x"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
