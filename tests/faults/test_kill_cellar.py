"""Kill -9 at seeded instants over cellar journal runs and ``links`` answers, then finish.

One campaign per ledger database (SQLite, PostgreSQL, MariaDB). A calibration times one
full ``stockbridge run`` of the cellar and one ``stockbridge links`` answer on a fresh
store. Then, on another fresh store, each step starts either a run (new nightly journals
keep arriving in the drop folder) or an answer chosen from the ledger's current links
(``yes`` with or without the item, ``link`` a glass ``--per 6``, ``almost``, ``no``, or
``unlink``), in its own process group, and SIGKILLs the group at an instant drawn with a
fixed seed, stratified over the calibrated duration of that kind of process (until its last
ledger write, a run's history row or an answer's commit, plus 0.15 s): half over the whole
of it, half over its work past the start-up, where the windows are narrow. Instants past
the calibrated start-up are taken from each process's own end of start-up (its first
ledger write for a run, its first ledger statement for an answer). Crash points
(the tracer kills its own group just before a named side effect) cover windows too narrow
to hit by time: the second listing, just before a journal batch's commit, committed but not
archived, error files, marking archived, the stock file; inside an answer's transaction
(link row, held lines, movements) and just before its commit.

After *every* kill, once the killed process's database sessions are gone
(``check_cellar``): each journal is in the drop folder or the archive, never both, never
in the ledger twice; every drink line of a committed journal is held exactly once, held or
applied as its code's link now says; the movements of each line and each code net exactly
to the share of the code's lines (``per`` N: their total divided by N, to the thousandth,
half up); each item's stock is its catalogue opening plus those shares, computed here from
the journals written and the links the ledger holds; the killed answer is wholly there or
not at all, and no other code's link moved. At the end a run completes, every code still
unlinked is answered, a last run completes, and the end state is exact
(``check_cellar_final``).

``SB_CELLAR_KILLS`` sets the number of timed kills per database: 30 under CI, 8 elsewhere.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import pytest

from tests.faults.cellar_harness import (
    CODES,
    COMMAND_PHASES,
    RUN_PHASES,
    Cellar,
    CellarRunner,
    CellarState,
    CellarView,
    Command,
    answer_command,
    check_cellar,
    check_cellar_final,
    command_phase_at,
    make_cellar,
    run_phase_at,
    unlink_command,
)
from tests.faults.harness import EXIT_BUSY, EXIT_OK, phase_durations
from tests.fixtures import IN_CI

pytestmark = [pytest.mark.slow]

KILLS = int(os.environ.get("SB_CELLAR_KILLS") or (30 if IN_CI else 8))
"""Timed kills per database (crash points come on top)."""
MAX_EXTRA_STEPS = 12
"""Steps allowed beyond the kills: processes that ended before their instant."""
PENDING = 4
"""Journals waiting in the drop folder when a run starts (4 x 400 lines)."""
RUN_SHARE = 0.5
"""Of the timed kills, the share that kill a run (the rest kill an answer)."""
SEEDS = {"sqlite": 5_0032, "postgresql": 6_0032, "mariadb": 7_0032}
RUN_POINTS = [
    "list:2",
    "tx-commit:1",
    "archive:1",
    "errors-publish:1",
    "mark-archived:1",
    "export-publish:1",
]
COMMAND_POINTS = ["tx-link:1", "tx-held:1", "tx-movements:1", "tx-commit:1"]
if not IN_CI and KILLS < 30:  # the short campaign: fewer crash points
    RUN_POINTS = ["tx-commit:1", "archive:1", "export-publish:1"]
    COMMAND_POINTS = ["tx-held:1", "tx-commit:1"]
TAIL = 0.15
"""Seconds past a process's last ledger write (a run's history row, an answer's commit) that
instants are drawn in; what follows is the process closing down."""
ANCHORS = {"run": "run-start", "command": "ledger-open"}
"""The first effect past a process's start-up: a run's history row, an answer's first
ledger statement."""


class Campaign:
    def __init__(self, database: str, url: str, cli_env: dict[str, str], folder):
        self.database, self.url, self.cli_env, self.folder = database, url, cli_env, folder
        self.seed = SEEDS[database]
        self.rng = random.Random(self.seed)
        self.view = CellarView(url)
        self.answers = 0
        """Answers whose document is in the ledger (each answer is one document)."""

    def say(self, text: str) -> None:
        print(f"[cellar {self.database}] {text}", flush=True)

    def settle(self, timeout: float = 15) -> None:
        """Until no other session is on the ledger database: a killed client's session may
        still hold the store lock or be finishing a commit that was on its way."""
        if self.database == "sqlite":
            return
        database = self.url.rsplit("/", 1)[1].split("?")[0]
        if self.database == "postgresql":
            sql = (
                "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = :d"
                " AND pid <> pg_backend_pid()"
            )
        else:
            sql = (
                "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = :d"
                " AND ID <> CONNECTION_ID()"
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.view._rows(sql, d=database)[0].n:
            time.sleep(0.05)

    def check(self, cellar: Cellar) -> CellarState:
        self.settle()
        return check_cellar(cellar, self.view, (self.answers, self.answers))

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.view.close()

    # -- one answer ---------------------------------------------------------------------

    def choose(self, cellar: Cellar, state: CellarState) -> Command:
        """An answer that makes sense now: a code not linked gets its owner's answer, a
        linked one may be unlinked; the kind first (uniformly), then the code."""
        rng, links = self.rng, state.links
        kinds: dict[str, list[str]] = {}
        for till in CODES:
            if till.code not in links:
                kinds.setdefault(till.answer, []).append(till.code)
        if links:
            kinds["unlink"] = sorted(links)
        kind = rng.choice(sorted(kinds))
        code = rng.choice(kinds[kind])
        if kind == "unlink":
            return unlink_command(cellar, code)
        till = next(t for t in CODES if t.code == code)
        return answer_command(cellar, till, self.view.waiting(cellar.store)[code] > 0, rng)

    def answered(self, command: Command, before: CellarState, code: int | None) -> str:
        """Check the answer's all-or-nothing outcome (``code`` None: it was killed)."""
        links = self.view.links(self.store)
        items = self.view.items(self.store)
        now = links.get(command.code)
        for other in set(links) | set(before.links):
            if other != command.code:
                assert links.get(other) == before.links.get(other), f"{other} moved"
        done = command.done(now, items)
        if code is not None:
            assert done, f"{command.label} exited {code} but the ledger holds {now}"
        else:
            assert done or now == before.links.get(command.code), (
                f"{command.label} killed: half an answer in the ledger: {now}"
            )
        self.answers += done
        return "done" if done else "not done"

    # -- the campaign ---------------------------------------------------------------------

    def _run(self) -> None:
        began = time.monotonic()
        rng, view = self.rng, self.view

        # -- calibration: one run and one answer on a fresh store, timed and checked -------
        calibrated = make_cellar(self.folder / "calibration", self.url, self.seed)
        calibrated.deliver(PENDING)
        runner = CellarRunner(calibrated, self.cli_env, self.folder / "calibration-runs")
        launched = runner.start_run()
        assert launched.wait() == EXIT_OK, launched.text()
        ended = time.monotonic()
        events = launched.events()
        run_start_up = next(at for at, n in events if n == ANCHORS["run"]) - launched.started
        finished = next(at for at, n in events if n == "run-finish")
        run_duration = finished - launched.started + TAIL
        spent = phase_durations(events, launched.started, ended)
        self.store = calibrated.store
        state = check_cellar(calibrated, view, (0, 0))
        command = answer_command(calibrated, CODES[-3], True, random.Random(0))  # a glass
        launched = runner.start(command.args)
        assert launched.wait() == EXIT_OK, launched.text()
        command_ended = time.monotonic()
        events = launched.events()
        command_start_up = (
            next(at for at, n in events if n == ANCHORS["command"]) - launched.started
        )
        committed = next(at for at, n in events if n == "tx-commit")
        command_duration = committed - launched.started + TAIL
        assert self.answered(command, state, 0) == "done"
        check_cellar(calibrated, view, (1, 1))
        self.say(
            f"calibration: run {run_duration - TAIL:.2f} s to its last ledger write (start-up"
            f" {run_start_up:.2f} s, seconds per phase {spent}); links answer"
            f" {committed - launched.started:.2f} s to its commit, process"
            f" {command_ended - launched.started:.2f} s (start-up {command_start_up:.2f} s)"
        )

        # -- the schedule: which kind of process each timed kill hits, and the crash points
        kinds = ["run" if rng.random() < RUN_SHARE else "command" for _ in range(KILLS)]
        counts = Counter(kinds)

        def instants(kind: str, start_up: float, duration: float):
            """Stratified draws, half over the whole process, half over its work past the
            start-up (where the windows are narrow); another round if some ended first."""
            size = max(counts[kind], 1)
            whole, work = (size + 1) // 2, max(size // 2, 1)
            while True:
                draws = [(i + rng.random()) * duration / whole for i in range(whole)]
                draws += [
                    start_up + (i + rng.random()) * (duration - start_up) / work
                    for i in range(work)
                ]
                rng.shuffle(draws)
                yield from draws

        draws = {
            "run": instants("run", run_start_up, run_duration),
            "command": instants("command", command_start_up, command_duration),
        }
        start_up = {"run": run_start_up, "command": command_start_up}
        points = [("run", p) for p in RUN_POINTS] + [("command", p) for p in COMMAND_POINTS]
        rng.shuffle(points)
        slots = sorted(rng.sample(range(KILLS // 4, KILLS), min(len(points), KILLS * 3 // 4)))
        slots += [KILLS] * (len(points) - len(slots))
        crash_queue = list(zip(slots, points, strict=True))

        # -- the campaign, on another fresh store ------------------------------------------
        cellar = make_cellar(self.folder / "campaign", self.url, self.seed + 1)
        self.store = cellar.store
        self.answers = 0
        runner = CellarRunner(cellar, self.cli_env, self.folder / "campaign-runs")
        phases: Counter[str] = Counter()
        outcomes: Counter[str] = Counter()
        state = check_cellar(cellar, view, (0, 0))
        number = timed = 0
        limit = KILLS + len(points) + MAX_EXTRA_STEPS
        while (timed < KILLS or crash_queue) and number < limit:
            number += 1
            point = None
            if crash_queue and crash_queue[0][0] <= timed:
                kind, _ = crash_queue[0][1]
                if kind == "run" or state.catalogue_opened:
                    point = crash_queue.pop(0)[1]
            if point is not None:
                kind = point[0]
            elif timed >= KILLS:
                kind = "run"  # a crash point waits for the cellar to be opened
            else:
                kind = kinds[timed] if state.catalogue_opened else "run"
            if kind == "run":
                cellar.deliver(PENDING - len(cellar.pending()))
                args, command = ["run", str(cellar.config)], None
            else:
                if rng.random() < 0.5:
                    cellar.deliver(1)  # journals arrive while the owner answers
                command = self.choose(cellar, state)
                args = list(command.args)
            phase_at = run_phase_at if kind == "run" else command_phase_at
            what = "run" if command is None else command.label
            if point is not None:
                launched = runner.start(args, crash=point[1])
                code = launched.wait()
                events = launched.events()
                if code == -signal.SIGKILL:
                    # Named by the effects before the one it stopped short of.
                    label = f"crash point {point[1]} ({phase_at(events[:-2], float('inf'))})"
                    phases[f"{kind}: {label}"] += 1
                    outcomes["killed"] += 1
                    code = None
                else:
                    assert code in (EXIT_OK, EXIT_BUSY), launched.text()
                    label = f"crash point {point[1]} not reached"
                    outcomes[label] += 1
                detail = label
            else:
                instant = next(draws[kind])
                launched = runner.start(args)
                moment = launched.kill_at(instant, ANCHORS[kind], start_up[kind])
                if moment is None:
                    code = launched.process.returncode
                    if command is None:
                        assert code in (EXIT_OK, EXIT_BUSY), launched.text()
                    else:
                        assert code == EXIT_OK, launched.text()
                    detail = "ended before the kill" if code == EXIT_OK else "skipped (busy)"
                    outcomes[f"{kind} {detail}"] += 1
                else:
                    timed += 1
                    code = None
                    label = phase_at(launched.events(), moment)
                    phases[f"{kind}: {label}"] += 1
                    outcomes["killed"] += 1
                    detail = f"killed at {instant:5.2f} s in {label}"
            if command is not None:
                self.settle()
                detail += f", answer {self.answered(command, state, code)}"
                outcomes[f"{command.kind} {'killed' if code is None else 'completed'}"] += 1
            state = self.check(cellar)
            outcomes["left committed, not archived journals"] += bool(state.applied_not_archived)
            self.say(f"#{number:02d} {what}: {detail}")

        # -- the end: a run completes, everything is answered, a last run completes ---------
        self.settle()
        runner.complete(["run", str(cellar.config)])
        state = self.check(cellar)
        waiting = self.view.waiting(cellar.store)
        left = [
            answer_command(cellar, till, waiting[till.code] > 0, rng)
            for till in CODES
            if till.code not in state.links
        ]
        for start in range(0, len(left), 4):  # a few at once: they queue for the lock
            started = [(c, runner.start(c.args)) for c in left[start : start + 4]]
            for _, launched in started:
                assert launched.wait() == EXIT_OK, launched.text()
            links, items = self.view.links(cellar.store), self.view.items(cellar.store)
            for command, _ in started:
                assert command.done(links.get(command.code), items), command.label
            self.answers += len(started)
            state = self.check(cellar)
        runner.complete(["run", str(cellar.config)])
        state = check_cellar_final(cellar, view, (self.answers, self.answers))

        kills = outcomes["killed"]
        drinks = sum(len(j.drinks) for j in cellar.files.values())
        self.say(
            f"{kills} kills ({timed} at timed instants, seed {self.seed}; {len(points)} crash"
            f" points) in {time.monotonic() - began:.0f} s; {len(cellar.files)} journals,"
            f" {drinks} drink lines, {self.answers} answers: final stock, held lines,"
            " archive, error files and stock file exact"
        )
        order = RUN_PHASES + COMMAND_PHASES
        for kind in ("run", "command"):
            landed = {
                p.split(": ", 1)[1]: n for p, n in phases.items() if p.startswith(f"{kind}: ")
            }
            ranked = sorted(landed.items(), key=lambda kv: (_rank(kv[0], order), kv[0]))
            self.say(f"{kind} kills by phase: {dict(ranked)}")
        self.say(f"outcomes: {dict(outcomes)}")
        if not state.export_bytewise:
            self.say("note: the stock file does not list items in bytewise order here")
        assert timed == KILLS and kills >= KILLS, (timed, kills)
        landed = {p.split(": ", 1)[1].rpartition("(")[2].rstrip(")") for p in phases}
        assert "start-up" in landed and "answer transaction" in landed, landed
        if IN_CI:
            wanted = {"ledger transaction", "archiving", "export"}
            assert wanted <= landed, wanted - landed
            assert outcomes["left committed, not archived journals"], "never committed, unarchived"


def _rank(phase: str, order: tuple[str, ...]) -> int:
    base = phase.rpartition("(")[2].rstrip(")")
    return order.index(base) if base in order else len(order)


@pytest.fixture(scope="module")
def warm_prefect(cli_env, tmp_path_factory) -> None:
    """The first runs of a session pay the Prefect test server's cold start (several
    seconds); one run here keeps that out of the calibration."""
    folder = tmp_path_factory.mktemp("warm-cellar")
    cellar = make_cellar(folder, f"sqlite:///{folder / 'ledger.db'}", 1)
    cellar.deliver(1)
    CellarRunner(cellar, cli_env, folder / "runs").complete(["run", str(cellar.config)])


@pytest.mark.timeout(480)  # about 3 min a database unloaded; other jobs stretch it
@pytest.mark.parametrize(
    "database",
    [
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_kill_cellar_anywhere(request, database, cli_env, tmp_path, warm_prefect):
    fixture = {"sqlite": "sqlite_url", "postgresql": "postgres_url", "mariadb": "mariadb_url"}
    url = request.getfixturevalue(fixture[database])  # skips outside CI when unreachable
    Campaign(database, url, cli_env, tmp_path).run()
