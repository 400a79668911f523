"""The benchmark cases, their sizes (full and ``--quick``) and their targets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

Kind = Literal["apply", "chain", "chain-concurrent", "export", "idle", "match", "seliton"]


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    kind: Kind
    articles: int
    files: int = 0
    lines_per_file: int = 0
    backend: Literal["sqlite", "postgresql"] = "sqlite"
    target_seconds: float | None = None
    target_ratio: float | None = None
    target_memory_mb: float | None = None
    batch: dict[str, Any] = field(default_factory=dict)
    """Overrides of the store's ``batch`` settings (defaults otherwise)."""
    reference_data: tuple[int, int] | None = None
    """(files, lines per file) of a smaller dataset the reference runs on, its time then
    scaled up linearly by line count; None: the reference runs on the case's own data."""
    empty_runs: int = 2
    reference: bool = True
    """Run the plain-Python reference (``--quick`` keeps it for sqlite-1m only)."""
    labels: int = 0
    """Till labels to match (``match`` cases; ``articles`` is then the cellar's items)."""
    note: str = ""

    @property
    def lines(self) -> int:
        return self.files * self.lines_per_file

    @property
    def reference_scale(self) -> float:
        if self.reference_data is None:
            return 1.0
        files, lines_per_file = self.reference_data
        return self.lines / (files * lines_per_file)

    def target_text(self) -> str:
        parts = []
        if self.target_seconds is not None:
            parts.append(f"≤ {self.target_seconds:g} s")
        if self.target_ratio is not None:
            parts.append(f"≤ {self.target_ratio:g}× ref")
        if self.target_memory_mb is not None:
            parts.append(f"≤ {self.target_memory_mb / 1024:g} GB")
        return ", ".join(parts) or "report"


CASES: list[Case] = [
    Case(
        "sqlite-1m",
        "1,000,000 lines in 100 files, 100,000 articles, SQLite",
        "apply",
        articles=100_000,
        files=100,
        lines_per_file=10_000,
        target_seconds=3.0,
        target_ratio=0.35,
    ),
    Case(
        "postgres-1m",
        "1,000,000 lines in 100 files, 100,000 articles, PostgreSQL",
        "apply",
        articles=100_000,
        files=100,
        lines_per_file=10_000,
        backend="postgresql",
        target_seconds=4.0,
        note="ratio is against the SQLite reference on the same data",
    ),
    Case(
        "one-file-10m",
        "10,000,000 lines in one file, 100,000 articles, SQLite",
        "apply",
        articles=100_000,
        files=1,
        lines_per_file=10_000_000,
        target_seconds=30.0,
        target_memory_mb=2048.0,
        reference_data=(1, 1_000_000),
        empty_runs=1,
    ),
    Case(
        "small-files-10k",
        "10,000 files of 10 lines, 100,000 articles, SQLite",
        "apply",
        articles=100_000,
        files=10_000,
        lines_per_file=10,
        target_seconds=5.0,
    ),
    Case(
        "export-1m",
        "full export of a 1,000,000-article catalogue, SQLite",
        "export",
        articles=1_000_000,
        target_seconds=1.0,
        note="measured: tasks.export.publish_export.fn called directly (median of 3)",
    ),
    Case(
        "idle-run",
        "scheduled run with nothing to do (Prefect overhead), 3 articles",
        "idle",
        articles=3,
        target_seconds=2.0,
        empty_runs=5,
        note="measured: median wall time of the in-process flow call, nothing to import"
        " (includes Prefect's wait for its heartbeat thread after the flow's final state)",
    ),
    Case(
        "match-50k",
        "cellar suggestions for 1,000 till labels, 50,000-item cellar (Pointex/Somm'It)",
        "match",
        articles=50_000,
        labels=1_000,
        target_ratio=0.5,
        empty_runs=0,
        note="measured: CellarIndex(items) + suggest_many(labels), no Prefect; goals also"
        " top-1 on yes labels >= 90 %, right answer >= 85 %",
    ),
    Case(
        "seliton-orders-10k",
        "10,000 Seliton orders into Warehouse Pro (SQLite) with their УНП, HTTPS fake shop",
        "seliton",
        articles=2_000,
        files=10_000,
        target_ratio=1.0,
        empty_runs=0,
        note="measured: orders.import_orders, no Prefect; files = orders",
    ),
    Case(
        "seliton-export-50k",
        "first export of 50,000 Warehouse Pro goods to a Seliton shop, HTTPS fake shop",
        "seliton",
        articles=50_000,
        target_ratio=0.2,
        empty_runs=0,
        note="measured: export.export_goods (digests, batches of 500), no Prefect",
    ),
    Case(
        "chain-push-100k",
        "a chain store's 100,000-line sales backlog pushed to HQ (SQLite till and HQ)",
        "chain",
        articles=0,
        files=1,
        lines_per_file=100_000,
        target_ratio=0.05,
        empty_runs=0,
        note="measured: the push phase of a whole chain run through the flow (tickets and"
        " lines to HQ; the marginal and whole run with the ledger's stock are printed"
        " below); reference: the lines alone, one INSERT per row, a commit every 20 rows",
    ),
    Case(
        "chain-concurrent-50x2k",
        "50 chain stores x 2,000 lines pushed by concurrent runs (HQ, ledger on MariaDB)",
        "chain-concurrent",
        articles=0,
        files=50,
        lines_per_file=2_000,
        empty_runs=0,
        note="measured: the 50 stores' whole chain runs, 4 at once in threads of one process"
        " (bench/chain_concurrent.py says why 4); reference: the seed's way per store, 4"
        " threads; files = stores",
    ),
]

QUICK: dict[str, dict[str, Any]] = {
    "sqlite-1m": {"articles": 10_000, "files": 10, "lines_per_file": 5_000, "empty_runs": 1},
    "postgres-1m": {
        "articles": 10_000,
        "files": 10,
        "lines_per_file": 5_000,
        "empty_runs": 1,
        "reference": False,
    },
    "one-file-10m": {
        "articles": 10_000,
        "files": 1,
        "lines_per_file": 150_000,
        "reference_data": None,
        "empty_runs": 1,
        "reference": False,
        # Small chunks so that the smoke run takes the streaming path of a large file.
        "batch": {"chunk_bytes": 1024 * 1024},
    },
    "small-files-10k": {"articles": 10_000, "files": 300, "empty_runs": 1, "reference": False},
    # empty_runs 0: no whole-run comparison, only publish_export.fn and its reference
    "export-1m": {"articles": 50_000, "empty_runs": 0},
    "idle-run": {"empty_runs": 2},
    "match-50k": {"articles": 10_000, "labels": 200},
    "seliton-orders-10k": {"articles": 500, "files": 1_000},
    "seliton-export-50k": {"articles": 5_000},
    "chain-push-100k": {"lines_per_file": 10_000},
    "chain-concurrent-50x2k": {"files": 5, "lines_per_file": 400},
}


def select(names: list[str] | None, quick: bool) -> list[Case]:
    known = {case.name: case for case in CASES}
    unknown = [name for name in names or [] if name not in known]
    if unknown:
        raise SystemExit(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    chosen = [known[name] for name in names] if names else list(CASES)
    if quick:
        chosen = [replace(case, **QUICK.get(case.name, {})) for case in chosen]
    return chosen
