"""Kill -9 at seeded instants over a whole run, on SQLite and PostgreSQL, then finish.

Each campaign: one calibration run on a fresh store (timed, phases printed, checked), then
``KILLS`` runs each SIGKILLed (the whole process group) at one instant drawn with a fixed
seed, stratified-uniform over [0, calibrated duration] (until the run's last ledger write,
plus 0.3 s; what follows is Prefect closing down). Instants past the calibrated start-up are
taken from each run's own end of start-up, so a loaded machine shifts nothing: start-up, the
catalogue, listing, reading, parsing, the ledger transaction, archiving and the export all
get their share. A few deterministic crash points (the tracer kills its own process group
just before a named side effect) cover windows too narrow to hit by time. After *every*
kill the crash invariants are checked (``check_consistent``); new files keep arriving so
each run has the same work. The campaign runs on a second fresh store, so its first kills
land in the very first opening of the catalogue. A final run must complete, and the end
state is exact (``check_final``). The SQLite and PostgreSQL campaigns run side by side.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.faults.harness import (
    EXIT_BUSY,
    EXIT_OK,
    KNOWN_TEMP_LEAK,
    LedgerView,
    Runner,
    check_consistent,
    check_final,
    make_exchange,
    phase_at,
    phase_durations,
    temp_files,
)

pytestmark = [pytest.mark.slow]

KILLS = 30
MAX_EXTRA_RUNS = 8
PENDING = 40
SEEDS = {"sqlite": 1_0032, "postgresql": 2_0032}
CRASH_POINTS = {
    # event:n = just before the n-th such side effect after the import folder was listed
    "sqlite": ["list:2", "archive:5", "mark-archived:1", "export-publish:1"],
    "postgresql": ["list:2", "commit:1", "mark-archived:1", "export-publish:1"],
}
"""``export-publish`` kills after the temp file is written, before it is renamed into place:
the next run must not leave that temp file behind (see ``KNOWN_TEMP_LEAK``)."""
ANCHOR = "run-start"
"""The first side effect of a run: the store lock is held and the run recorded."""


def _wait_postgres_sessions_closed(view: LedgerView, url: str, timeout: float = 10) -> None:
    """A killed client's backend ends (and frees the store lock) once it notices: wait."""
    database = url.rsplit("/", 1)[1].split("?")[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = view._rows(
            "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = :d"
            " AND pid <> pg_backend_pid()",
            d=database,
        )
        if rows[0].n == 0:
            return
        time.sleep(0.05)


class Campaign:
    def __init__(self, database: str, url: str, make_store, cli_env, folder):
        self.database, self.url = database, url
        self.make_store, self.cli_env, self.folder = make_store, cli_env, folder
        self.seed = SEEDS[database]
        self.rng = random.Random(self.seed)
        self.view = LedgerView(url)
        self.lines: list[str] = []

    def say(self, text: str) -> None:
        line = f"[{self.database}] {text}"
        self.lines.append(line)
        print(line, flush=True)

    def settle(self) -> None:
        if self.database == "postgresql":
            _wait_postgres_sessions_closed(self.view, self.url)

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.view.close()

    def _run(self) -> None:
        began = time.monotonic()
        rng, view = self.rng, self.view

        # -- warm-up: the first runs of a session pay the Prefect test server's cold start
        # (seen: start-up 9-10 s instead of 2.5 s when this test runs first); a calibration
        # on such a run stretches every kill window, and the campaign past its time-out.
        warm = make_exchange(self.make_store, self.url, self.seed + 2)
        warm.deliver(1)
        warm_up = Runner(warm, self.cli_env, self.folder / "warm-up").start()
        assert warm_up.wait() == EXIT_OK, warm_up.text()

        # -- calibration: one full run on a fresh store, timed and checked ------------------
        calibrated = make_exchange(self.make_store, self.url, self.seed)
        calibrated.deliver(PENDING)
        calibration = Runner(calibrated, self.cli_env, self.folder / "calibration").start()
        assert calibration.wait() == EXIT_OK, calibration.text()
        ended = time.monotonic()
        events = calibration.events()
        start_up = next(at for at, name in events if name == ANCHOR) - calibration.started
        finished = next(at for at, name in events if name == "run-finish")
        duration = finished - calibration.started + 0.3
        check_final(calibrated, view)
        spent = phase_durations(events, calibration.started, ended)
        self.say(
            f"calibration: process {ended - calibration.started:.2f} s, run until its last"
            f" ledger write {duration - 0.3:.2f} s, start-up {start_up:.2f} s;"
            f" seconds per phase {spent}"
        )

        def instants():
            """One draw in each of KILLS equal slices of [0, duration], shuffled; another
            round if runs end before their instant."""
            while True:
                draws = [(i + rng.random()) * duration / KILLS for i in range(KILLS)]
                rng.shuffle(draws)
                yield from draws

        points = CRASH_POINTS[self.database]
        crash_at = dict(
            zip(sorted(rng.sample(range(KILLS // 3, KILLS), len(points))), points, strict=True)
        )

        # -- the campaign, on another fresh store ------------------------------------------
        exchange = make_exchange(self.make_store, self.url, self.seed + 1)
        runner = Runner(exchange, self.cli_env, self.folder / "runs")
        phases: Counter[str] = Counter()
        outcomes: Counter[str] = Counter()
        draws = instants()
        number = timed = 0
        while timed < KILLS and number < KILLS + len(points) + MAX_EXTRA_RUNS:
            number += 1
            exchange.deliver(PENDING - len(exchange.pending()))
            self.settle()
            point = crash_at.pop(timed, None)
            if point is None:
                instant = next(draws)
                launched = runner.start()
                moment = launched.kill_at(instant, ANCHOR, start_up)
                if moment is None:
                    code = launched.process.returncode
                    assert code in (EXIT_OK, EXIT_BUSY), launched.text()
                    detail = "ended before the kill" if code == EXIT_OK else "skipped (busy)"
                    outcomes[detail] += 1
                else:
                    timed += 1
                    label = phase_at(launched.events(), moment)
                    phases[label] += 1
                    outcomes["killed"] += 1
                    detail = f"killed in {label}"
                self.say(f"#{number:02d} kill at {instant:5.2f} s: {detail}")
            else:
                launched = runner.start(crash=point)
                code = launched.wait()
                if code == -signal.SIGKILL:
                    events = launched.events()
                    label = f"crash point {point} ({phase_at(events, events[-1][0])})"
                    phases[label] += 1
                    outcomes["killed"] += 1
                else:
                    assert code == EXIT_OK, launched.text()
                    label = f"crash point {point} not reached"
                    outcomes[label] += 1
                self.say(f"#{number:02d} {label}")
            state = check_consistent(exchange, view)
            if state.applied_not_archived:
                outcomes["left committed, not archived files"] += 1

        self.settle()
        runner.complete()
        leaked = check_final(exchange, view, tolerate_leaked_temps=KNOWN_TEMP_LEAK)
        kills = outcomes["killed"]
        self.say(
            f"{kills} kills ({timed} at timed instants, seed {self.seed};"
            f" {len(points)} crash points) in {time.monotonic() - began:.0f} s;"
            f" {len(exchange.files)} files, {sum(m.valid for m in exchange.files.values())}"
            " movements: final stock, archive, export and error files exact"
        )
        self.say(f"kills by phase: {dict(sorted(phases.items()))}")
        self.say(f"outcomes: {dict(outcomes)}")
        if leaked:
            self.say(f"KNOWN BUG (locations/local.py): temp files left by killed runs: {leaked}")
        assert timed == KILLS and kills >= KILLS
        # The wide windows are always hit by time; the narrow ones have crash points.
        by_time = {p for p in phases if not p.startswith("crash point")}
        assert {"start-up", "ledger transaction"} <= by_time, by_time
        covered = {p.rpartition("(")[2].rstrip(")") for p in phases}
        assert {"listing", "ledger transaction", "archiving", "export"} <= covered, covered
        missed = [p for p in ("catalogue", "listing", "parsing") if p not in by_time]
        if missed:
            self.say(f"note: no timed kill landed in {missed} this time")


@pytest.mark.timeout(900)  # ~2.5-4 min unloaded; other jobs on the machine stretch it
def test_kill_anywhere(request, make_store, cli_env, tmp_path, sqlite_url):
    """SQLite and PostgreSQL campaigns side by side (two cores, half the wall time)."""
    campaigns = [Campaign("sqlite", sqlite_url, make_store, cli_env, tmp_path / "sqlite")]
    try:
        postgres_url = request.getfixturevalue("postgres_url")
    except pytest.skip.Exception as skipped:  # only outside CI: the fixture fails there
        print(f"[postgresql] campaign skipped: {skipped}")
    else:
        campaigns.append(
            Campaign("postgresql", postgres_url, make_store, cli_env, tmp_path / "postgresql")
        )
    with ThreadPoolExecutor(len(campaigns)) as pool:
        futures = [pool.submit(c.run) for c in campaigns]
        for future in futures:
            future.result()


@pytest.mark.timeout(120)
@pytest.mark.xfail(
    KNOWN_TEMP_LEAK,
    strict=True,
    reason="stockbridge/locations/local.py: write_atomic's temp file of a killed writer"
    " ('.<name>.<pid>.tmp') is never removed",
)
def test_killed_publish_leaves_no_temp(make_store, cli_env, tmp_path, sqlite_url, view_of):
    """Killed after writing the export's temp file, before renaming it into place: once a
    later run completes, the export folder may not hold a temp file."""
    exchange = make_exchange(make_store, sqlite_url, seed=7, articles=50, lines=50)
    exchange.deliver(3)
    runner = Runner(exchange, cli_env, tmp_path / "runs")
    assert runner.start(crash="export-publish:1").wait() == -signal.SIGKILL
    assert temp_files(exchange.export)
    runner.complete()
    check_final(exchange, view_of(sqlite_url))
