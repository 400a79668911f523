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
import shutil
import tempfile
import time
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


def reference_push(till: sa.Engine, hq_url: str, profile) -> float:
    """The seed's way: read the rows, one INSERT per row, commit every 20 rows."""
    hq = open_engine(Database(url=hq_url), "HQ")
    tables = ensure_hq_schema(hq, profile)
    table = tables["ticket_lines"]
    started = time.perf_counter()
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
    elapsed = time.perf_counter() - started
    hq.dispose()
    return elapsed


def run_flow(path: Path) -> float:
    from flows.chain import chain

    started = time.perf_counter()
    state = chain(config_path=str(path), return_state=True)
    elapsed = time.perf_counter() - started
    summary = state.result(raise_on_failure=False)
    assert summary.state == "completed", summary.render()
    return elapsed


def measure_push(root: Path, lines: int, hq_url: str) -> dict:
    """A store's ``lines``-line backlog pushed by a whole run, beside the reference."""
    profile = load_profile(profile_path("reference-till").absolute())
    ledger = f"sqlite:///{root / 'ledger.db'}"
    till_url = f"sqlite:///{root / 'till-lyon.db'}"
    till = Till(open_engine(Database(url=till_url), "till"), profile, "lyon")
    till.sales_backlog(lines // 4, 4)
    Till(open_engine(Database(url=f"sqlite:///{root / 'till-hq.db'}"), "t"), profile, "hq")
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
    run_flow(hq_file)
    reference = reference_push(till.engine, hq_url, profile)
    load_before = machine_load()
    ours = run_flow(lyon)
    load_after = machine_load()
    hq = open_engine(Database(url=hq_url), "HQ")
    with hq.connect() as connection:
        count = connection.execute(
            sa.text("SELECT COUNT(*) FROM chain_ticket_lines WHERE sb_store = 'lyon'")
        ).scalar_one()
    hq.dispose()
    return {
        "marginal_seconds": ours,
        "count": int(count),
        "load_before": load_before,
        "load_after": load_after,
        "reference": {"estimate_seconds": reference, "measured_seconds": reference, "rows": lines},
    }


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
        "chain push: a whole store run (checks, push, ledger stock) vs the seed's way (one"
        " INSERT per row, a commit every 20 rows) in the same process, SQLite till and HQ"
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
            print(
                f"    ours {result['marginal_seconds']:.2f} s, reference"
                f" {result['reference']['estimate_seconds']:.2f} s",
                flush=True,
            )
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
        ours, reference = pushed["marginal_seconds"], pushed["reference"]["estimate_seconds"]
        print(
            f"push {args.lines:,} sale lines to HQ ({Database(url=hq_url).backend}):"
            f" stockbridge {ours:.2f} s (whole run: checks, push, ledger stock) vs reference"
            f" {reference:.2f} s -> ratio {ours / reference:.3f}x (goal <= 0.05x)"
        )
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
        ours = run_flow(paris)
        print(
            f"pull {args.articles:,} articles into a till (SQLite): stockbridge {ours:.2f} s"
            f" vs reference {reference:.2f} s -> ratio {ours / reference:.3f}x"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
