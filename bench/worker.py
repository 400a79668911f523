"""The timing process: runs the flow in-process on prepared data and writes raw figures.

Started by ``python -m bench`` with the environment already set (STOCKBRIDGE_HOME,
PREFECT_HOME, telemetry off), so Prefect reads it at import. Prints progress on stdout and
writes a JSON file of raw timings after each case; the parent judges them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from bench.memory import PeakMemory
from bench.reference import Reference


def stage(source: Path, target: Path) -> int:
    """Hard-link the prepared files into an import folder (instant; mtimes kept)."""
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(source.iterdir()):
        if path.is_file():
            os.link(path, target / path.name)
            count += 1
    return count


def cpu_seconds() -> float:
    """User + system CPU of this process (all threads): insensitive to other processes
    competing for the cores, unlike wall time."""
    times = os.times()
    return times.user + times.system


def machine_load() -> dict[str, float]:
    """1-minute load average and CPU pressure (share of time something waited for a core)."""
    load: dict[str, float] = {"loadavg_1m": os.getloadavg()[0]}
    try:
        with open("/proc/pressure/cpu") as handle:
            fields = dict(item.split("=") for item in handle.readline().split()[1:])
        load["cpu_pressure_avg10"] = float(fields["avg10"])
    except (OSError, KeyError, ValueError):
        pass
    return load


def code_revision() -> str:
    """The commit this worker imported (others may commit while a long benchmark runs)."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    try:
        dirty = git(
            "status", "--porcelain", "--untracked-files=no", "--", "stockbridge", "tasks", "flows"
        )
        return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")
    except OSError:
        return ""


def leftover_files(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file()) if folder.exists() else -1


class Profiled:
    """pyinstrument around one call when ``--profile`` is given (not a dependency)."""

    def __init__(self, folder: str | None, name: str):
        self.folder = Path(folder) if folder else None
        self.name = name
        self.profiler = None

    def __enter__(self):
        if self.folder is None:
            return self
        from pyinstrument import Profiler

        self.profiler = Profiler(interval=0.001)
        self.profiler.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.profiler is None or self.folder is None:
            return
        self.profiler.stop()
        self.folder.mkdir(parents=True, exist_ok=True)
        text = self.profiler.output_text(unicode=True, color=False, show_all=False)
        (self.folder / f"{self.name}.txt").write_text(text)
        (self.folder / f"{self.name}.html").write_text(self.profiler.output_html())
        # Re-render later with: pyinstrument --load=NAME.pyisession -r text --show-all
        self.profiler.last_session.save(str(self.folder / f"{self.name}.pyisession"))
        print(f"    profile written to {self.folder / self.name}.txt/.html", flush=True)


def run_flow(config: str, profile: str | None = None, label: str = "") -> dict[str, Any]:
    from flows.interstock import interstock
    from stockbridge.summary import RunSummary

    with Profiled(profile, label) if profile else nullcontext():
        load_before = machine_load()
        wall_start = time.time()
        cpu_start = cpu_seconds()
        start = time.perf_counter()
        state = interstock(config_path=config, return_state=True)
        seconds = time.perf_counter() - start
        cpu = cpu_seconds() - cpu_start
    # The flow's last statement creates its final state: its timestamp is when the work
    # ended. After it, Prefect joins its heartbeat thread, which sleeps in whole seconds, so
    # the call returns on the next one-second tick; that wait is reported as ``tail``.
    flow_seconds = min(seconds, state.timestamp.timestamp() - wall_start)
    summary = getattr(state, "data", None)
    if not isinstance(summary, RunSummary):
        try:
            summary = state.result(raise_on_failure=False)
        except Exception:
            summary = None
    record: dict[str, Any] = {
        "seconds": flow_seconds,
        "wall_seconds": seconds,
        "tail_seconds": seconds - flow_seconds,
        "cpu_seconds": cpu,
        "load_before": load_before,
        "load_after": machine_load(),
        "state": state.type.value,
        "message": state.message,
        "flow_run_id": str(state.state_details.flow_run_id),
    }
    if isinstance(summary, RunSummary):
        record.update(
            summary_state=summary.state,
            files_applied=summary.count("applied"),
            files_duplicate=summary.count("duplicate"),
            files_quarantined=summary.count("quarantined"),
            files_recovered=summary.count("recovered"),
            lines_applied=summary.lines_applied,
            lines_rejected=summary.lines_rejected,
            error_files=sum(1 for f in summary.files if f.error_file),
            export_rows=summary.export_rows,
            negative=len(summary.negative),
            new_articles=summary.new_articles,
        )
    return record


def server_times(flow_run_ids: list[str]) -> list[dict[str, float | None]]:
    """What the Prefect API recorded: start to end of each flow run."""
    from prefect.client.orchestration import get_client

    found = []
    with get_client(sync_client=True) as client:
        for flow_run_id in flow_run_ids:
            run = client.read_flow_run(flow_run_id)
            span = (
                (run.end_time - run.start_time).total_seconds()
                if run.start_time and run.end_time
                else None
            )
            found.append(
                {"start_to_end": span, "total_run_time": run.total_run_time.total_seconds()}
            )
    return found


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = call()
    return time.perf_counter() - start, value


def _say(message: str) -> None:
    print(f"    {message}", flush=True)


def run_reference(spec: dict[str, Any]) -> dict[str, Any]:
    reference = Reference(Path(spec["root"]), Path(spec["catalogue"]))
    try:
        warm, _ = timed(reference.run)
        empties, empty_cpus = [], []
        for _ in range(2):
            cpu_start = cpu_seconds()
            empties.append(timed(reference.run)[0])
            empty_cpus.append(cpu_seconds() - cpu_start)
        stage(Path(spec["data"]), reference.imports)
        cpu_start = cpu_seconds()
        data, counts = timed(reference.run)
        cpu = cpu_seconds() - cpu_start
    finally:
        reference.close()
    empty = min(empties)
    marginal = data - empty
    result = {
        "warm_seconds": warm,
        "empty_seconds": empties,
        "data_seconds": data,
        "data_cpu_seconds": cpu,
        "marginal_seconds": marginal,
        "scale": spec["scale"],
        "estimate_seconds": marginal * spec["scale"],
        "estimate_cpu_seconds": (cpu - min(empty_cpus)) * spec["scale"],
        "counts": counts,
        "export": str(reference.export),
    }
    _say(
        f"reference: empty {empty:.2f} s, data {data:.2f} s, marginal {marginal:.2f} s"
        + (f" × {spec['scale']:g} = {marginal * spec['scale']:.2f} s" if spec["scale"] != 1 else "")
    )
    return result


def apply_case(case: dict[str, Any], profile: str | None) -> dict[str, Any]:
    config = case["store"]
    warm = run_flow(config)
    _say(f"warm-up run {warm['seconds']:.2f} s ({warm['state']}: {warm['message']})")
    with PeakMemory() as empty_memory:
        empties = [run_flow(config) for _ in range(case["empty_runs"])]
    staged = stage(Path(case["data"]), Path(case["import"]))
    with PeakMemory() as data_memory:
        data = run_flow(config, profile, case["name"])
    empty = min(r["seconds"] for r in empties)
    shown = ", ".join(f"{r['seconds']:.2f}" for r in empties)
    _say(
        f"empty {shown} s; data ({staged} files) {data['seconds']:.2f} s"
        f" (call {data['wall_seconds']:.2f} s); marginal {data['seconds'] - empty:.2f} s;"
        f" peak +{data_memory.delta / 2**20:.0f} MB; CPU {data['cpu_seconds']:.2f} s;"
        f" load {data['load_before']['loadavg_1m']:.1f} -> {data['load_after']['loadavg_1m']:.1f}"
    )
    result = {
        "warm": warm,
        "empty": empties,
        "data": data,
        "marginal_seconds": data["seconds"] - empty,
        "marginal_cpu_seconds": data["cpu_seconds"] - min(r["cpu_seconds"] for r in empties),
        "memory": data_memory.to_json(),
        "empty_memory": empty_memory.to_json(),
        "import_leftover": leftover_files(Path(case["import"])),
    }
    if case.get("reference"):
        result["reference"] = run_reference(case["reference"])
    return result


def export_case(case: dict[str, Any], profile: str | None) -> dict[str, Any]:
    from stockbridge.config.loader import load_store
    from stockbridge.context import RunContext
    from stockbridge.integrations.interstock.catalogue import sync_catalogue
    from stockbridge.integrations.interstock.export import publish_export

    tiny, big = case["tiny_store"], case["store"]
    warm_tiny = run_flow(tiny)
    opening = run_flow(big)
    _say(
        f"warm-up {warm_tiny['seconds']:.2f} s; opening {case['articles']:,} articles"
        f" {opening['seconds']:.2f} s ({opening['message']})"
    )
    tiny_runs = [run_flow(tiny) for _ in range(case["empty_runs"])]
    big_runs = [run_flow(big) for _ in range(case["empty_runs"])]
    whole_run = (
        min(r["seconds"] for r in big_runs) - min(r["seconds"] for r in tiny_runs)
        if big_runs
        else None
    )

    ctx = RunContext(load_store(big), "bench-export", logging.getLogger("bench"))  # type: ignore[arg-type]
    try:
        catalogue = sync_catalogue.fn(ctx)
        direct: list[float] = []
        direct_cpu: list[float] = []
        load = machine_load()
        with PeakMemory() as memory:
            for number in range(3):
                label = f"{case['name']}-publish_export" if number == 0 else ""
                with Profiled(profile if number == 0 else None, label):
                    cpu_start = cpu_seconds()
                    seconds, exported = timed(lambda: publish_export.fn(ctx, catalogue.references))
                    direct_cpu.append(cpu_seconds() - cpu_start)
                direct.append(seconds)
    finally:
        ctx.close()
    measured = statistics.median(direct)
    if whole_run is not None:
        _say(
            f"empty run {min(r['seconds'] for r in big_runs):.2f} s on {case['articles']:,}"
            f" articles vs {min(r['seconds'] for r in tiny_runs):.2f} s on 3: +{whole_run:.2f} s"
        )
    _say(f"publish_export.fn {', '.join(f'{s:.3f}' for s in direct)} s")
    result: dict[str, Any] = {
        "warm": warm_tiny,
        "opening": opening,
        "tiny_empty": tiny_runs,
        "big_empty": big_runs,
        "whole_run_delta_seconds": whole_run,
        "publish_export_seconds": direct,
        "marginal_seconds": measured,
        "marginal_cpu_seconds": statistics.median(direct_cpu),
        "load_before": load,
        "load_after": machine_load(),
        "export_rows": exported.rows,
        "export_path": exported.path,
        "memory": memory.to_json(),
    }
    spec = case.get("reference")
    if spec:
        reference = Reference(Path(spec["root"]), Path(spec["catalogue"]))
        times, cpus = [], []
        try:
            known = reference.sync_catalogue()
            for _ in range(3):
                cpu_start = cpu_seconds()
                times.append(timed(lambda: reference.write_export(known))[0])
                cpus.append(cpu_seconds() - cpu_start)
        finally:
            reference.close()
        result["reference"] = {
            "export_seconds": times,
            "estimate_seconds": statistics.median(times),
            "estimate_cpu_seconds": statistics.median(cpus),
            "export": str(reference.export),
        }
        _say(f"reference export {', '.join(f'{s:.3f}' for s in times)} s")
    return result


def idle_case(case: dict[str, Any], profile: str | None) -> dict[str, Any]:
    config = case["store"]
    warm = run_flow(config)
    runs = [run_flow(config) for _ in range(case["empty_runs"])]
    if profile:
        run_flow(config, profile, case["name"])
    wall = [r["wall_seconds"] for r in runs]
    flow = [r["seconds"] for r in runs]
    try:
        server = server_times([r["flow_run_id"] for r in runs])
    except Exception as exc:
        server = [{"error": repr(exc)}]
    recorded = [s.get("start_to_end") for s in server]
    _say(
        f"warm-up {warm['wall_seconds']:.2f} s; runs (wall) {_join(wall)} s; to final state"
        f" {_join(flow)} s; Prefect API start-to-end {_join(recorded)} s"
    )
    return {
        "warm": warm,
        "runs": runs,
        "marginal_seconds": statistics.median(wall),
        "flow_seconds": statistics.median(flow),
        "marginal_cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "tail_seconds": statistics.median(r["tail_seconds"] for r in runs),
        "server": server,
    }


def _join(values: list) -> str:
    return ", ".join("?" if v is None else f"{v:.2f}" for v in values)


RUNNERS = {"apply": apply_case, "export": export_case, "idle": idle_case}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--plan", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--profile", default=None, help="folder for pyinstrument profiles")
    args = parser.parse_args(argv)
    plan = json.loads(Path(args.plan).read_text())

    start = time.perf_counter()
    import flows.interstock  # noqa: F401 - Prefect's import cost, kept out of the figures

    results: dict[str, Any] = {
        "import_seconds": time.perf_counter() - start,
        "code": code_revision(),
        "cases": {},
    }
    for case in plan["cases"]:
        print(f"  {case['name']}: {case['title']}", flush=True)
        try:
            results["cases"][case["name"]] = RUNNERS[case["kind"]](case, args.profile)
            results["cases"][case["name"]]["code"] = results["code"]
        except Exception:
            text = traceback.format_exc()
            print(text, file=sys.stderr, flush=True)
            print(f"    FAILED: {text.strip().splitlines()[-1]}", flush=True)
            results["cases"][case["name"]] = {"error": text}
        Path(args.out).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
