"""Portability to the shop's Windows PC, checked on Linux as far as Linux allows.

* A real store runs end to end in a subprocess where the modules Windows lacks (``fcntl``,
  ``termios``, ``pwd``, ``grp``, ``resource``) cannot be imported, so nothing on a run's
  path may need them; the store lock then uses its non-``fcntl`` mechanism for real
  (``os.lockf``), and a killed holder leaves no stale lock.
* The Windows branch of the lock (``msvcrt.locking``) cannot run here: it is exercised with a
  stand-in ``msvcrt`` built on ``os.lockf``, which checks the branch's own code (seek, byte
  count, error mapping, unlock), not Windows.
* Windows paths in store files parse as local paths, never as URLs of scheme ``c``.
* No module of stockbridge, flows or tasks uses a POSIX-only call (static scan).
* The systemd unit for ``stockbridge serve``.
"""

from __future__ import annotations

import ast
import errno
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from stockbridge.config.loader import load_store
from stockbridge.config.locations import LocationConfig
from stockbridge.ledger import filelock
from stockbridge.ledger.filelock import FileLock, LockHeld
from stockbridge.locations import local, open_file
from stockbridge.locations.local import LocalLocation
from stockbridge.service import systemd_unit
from tests.interstock_store import SEED, Store

REPO = Path(__file__).resolve().parent.parent
EXIT_OK, EXIT_BUSY = 0, 75

WITHOUT_POSIX_MODULES = textwrap.dedent(
    """
    import sys
    for _name in ("fcntl", "termios", "pwd", "grp", "resource"):
        sys.modules[_name] = None  # as on Windows: any import of them raises ImportError
    """
)

FAKE_MSVCRT = textwrap.dedent(
    """
    import errno, os, sys, types
    msvcrt = types.ModuleType("msvcrt")
    msvcrt.LK_UNLCK, msvcrt.LK_LOCK, msvcrt.LK_NBLCK = 0, 1, 2

    def locking(fd, mode, nbytes):
        # Windows semantics on POSIX record locks: nbytes from the current position; a
        # region held by another process fails with EACCES.
        try:
            os.lockf(fd, os.F_ULOCK if mode == msvcrt.LK_UNLCK else os.F_TLOCK, nbytes)
        except BlockingIOError:
            raise PermissionError(errno.EACCES, "Permission denied") from None

    msvcrt.locking = locking
    sys.modules["msvcrt"] = msvcrt
    import stockbridge.ledger.filelock as filelock
    filelock.mechanism = lambda: "msvcrt"
    """
)


def python(prelude: str, code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", prelude + textwrap.dedent(code), *args]


@pytest.fixture
def child_env(prefect_harness: None) -> dict[str, str]:
    """The environment of a subprocess talking to the session's Prefect test server."""
    from prefect.settings import PREFECT_API_URL

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "STOCKBRIDGE_", "PYTEST"))
    }
    env.update(
        PYTHONPATH=str(REPO),
        PREFECT_API_URL=PREFECT_API_URL.value(),
        PREFECT_HOME=os.environ["PREFECT_HOME"],
        STOCKBRIDGE_HOME=os.environ["STOCKBRIDGE_HOME"],
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    return env


def start_holder(
    prelude: str, code: str, env: dict[str, str], *args: str
) -> tuple[subprocess.Popen, str]:
    """A process that takes a lock, prints ``held <mechanism>`` and waits to be killed;
    returns it and the mechanism it used."""
    process = subprocess.Popen(
        python(prelude, code, *args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    if not line.startswith("held "):
        process.kill()
        _, err = process.communicate(timeout=30)
        raise AssertionError(f"the lock holder did not start: {line!r} {err}")
    return process, line.split(maxsplit=1)[1].strip()


def kill(process: subprocess.Popen) -> None:
    """SIGKILL: no clean-up of any kind runs; only the kernel can release the lock."""
    process.kill()
    process.communicate(timeout=30)


# -- a real store, end to end, without fcntl -----------------------------------------------------


@pytest.mark.timeout(300)
def test_a_store_runs_end_to_end_without_fcntl_and_its_lock_excludes(
    make_store: Callable[..., Path], sqlite_url: str, child_env: dict[str, str]
) -> None:
    shop = Store(make_store(articles=SEED))
    shop.drop("web-orders-0001.txt", b"8880000000116\t-1\n8880000000123\t-2\n")
    run = python(
        WITHOUT_POSIX_MODULES,
        """
        from stockbridge.cli import main
        sys.exit(main(sys.argv[1:]))
        """,
        "run",
        str(shop.path),
    )

    done = subprocess.run(run, env=child_env, capture_output=True, text=True, timeout=180)
    assert done.returncode == EXIT_OK, done
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout.startswith(f"{shop.name}: 1 file(s) applied, 2 line(s) applied")
    assert shop.exported() == {**SEED, "8880000000116": "4", "8880000000123": "5"}
    assert shop.inbox_files() == []
    assert len(shop.archived()) == 1
    assert shop.stock()["8880000000116"] == (4000, 0)

    # The store's lock, taken by another fcntl-less process, makes the run skip...
    holder, mechanism = start_holder(
        WITHOUT_POSIX_MODULES,
        """
        import time
        from stockbridge.ledger import filelock
        from stockbridge.ledger.ledger import Ledger
        ledger = Ledger.open(sys.argv[1])
        with ledger.lock(sys.argv[2], "interstock"):
            print("held", filelock.mechanism(), flush=True)
            time.sleep(300)
        """,
        child_env,
        sqlite_url,
        shop.name,
    )
    assert mechanism == "lockf"  # not fcntl.flock
    try:
        shop.drop("web-orders-0002.txt", b"8880000000109\t-1\n")
        busy = subprocess.run(run, env=child_env, capture_output=True, text=True, timeout=180)
        assert busy.returncode == EXIT_BUSY, busy
        assert f"another run for store '{shop.name}' is in progress" in busy.stdout
        assert shop.inbox_files() == ["web-orders-0002.txt"]
    finally:
        kill(holder)
    # ... and killing the holder leaves no stale lock behind.
    again = subprocess.run(run, env=child_env, capture_output=True, text=True, timeout=180)
    assert again.returncode == EXIT_OK, again
    assert shop.exported()["8880000000109"] == "0"
    assert shop.inbox_files() == []


def test_without_fcntl_the_lock_is_a_posix_record_lock(tmp_path: Path) -> None:
    done = subprocess.run(
        python(
            WITHOUT_POSIX_MODULES,
            """
            from stockbridge.ledger import filelock, database
            try:
                import fcntl
            except ImportError:
                print("no fcntl", filelock.mechanism())
            """,
        ),
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split() == ["no", "fcntl", "lockf"], done


# -- the lock's mechanisms, each across processes ------------------------------------------------


HOLD_FILE_LOCK = """
import time
from stockbridge.ledger import filelock
lock = filelock.FileLock(sys.argv[1])
lock.acquire()
lock.release()  # and again: releasing really unlocks
lock.acquire()
print("held", filelock.mechanism(), flush=True)
time.sleep(300)
"""

PRELUDES = {
    "flock": "import sys\n",
    "lockf": WITHOUT_POSIX_MODULES,
    "msvcrt (simulated)": WITHOUT_POSIX_MODULES + FAKE_MSVCRT,
}


@pytest.mark.parametrize("name", list(PRELUDES))
def test_lock_excludes_other_processes_and_dies_with_its_holder(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.db.shop.lock"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder, mechanism = start_holder(PRELUDES[name], HOLD_FILE_LOCK, env, str(path))
    try:
        assert mechanism == name.split()[0]
        # This process checks with the same kernel lock the holder took (msvcrt's stand-in
        # takes POSIX record locks: lockf sees them).
        monkeypatch.setattr(filelock, "mechanism", lambda: "lockf" if "msvcrt" in name else name)
        with pytest.raises(LockHeld):
            FileLock(path).acquire()
    finally:
        kill(holder)
    with FileLock(path):
        pass


@pytest.mark.parametrize("mechanism", ["flock", "lockf"])
def test_lock_is_taken_once_per_process(
    mechanism: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POSIX record locks would let a second lock in the same process succeed; the registry
    refuses it like flock and msvcrt do."""
    monkeypatch.setattr(filelock, "mechanism", lambda: mechanism)
    path = tmp_path / "x.lock"
    with FileLock(path):
        with pytest.raises(LockHeld):
            FileLock(path).acquire()
        with pytest.raises(LockHeld):
            FileLock(tmp_path / "." / "x.lock").acquire()
    with FileLock(path):
        pass


def test_msvcrt_branch_maps_only_lock_violations_to_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    calls: list[tuple[int, int, int]] = []
    refusal: list[int] = [errno.EACCES]  # what the next LK_NBLCK fails with; empty: succeeds
    fake = types.SimpleNamespace(LK_UNLCK=0, LK_NBLCK=2)

    def locking(fd: int, mode: int, nbytes: int) -> None:
        calls.append((mode, os.lseek(fd, 0, os.SEEK_CUR), nbytes))
        if mode == fake.LK_NBLCK and refusal:
            raise OSError(refusal.pop(), "simulated")

    fake.locking = locking
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    monkeypatch.setattr(filelock, "mechanism", lambda: "msvcrt")
    path = tmp_path / "a.lock"
    with pytest.raises(LockHeld):
        FileLock(path).acquire()
    refusal.append(errno.EBADF)
    with pytest.raises(OSError) as caught:
        FileLock(path).acquire()
    assert not isinstance(caught.value, LockHeld)
    with FileLock(path) as lock:  # failed attempts left nothing registered or open
        os.write(lock._fd, b"moved the position")
    assert calls == [(fake.LK_NBLCK, 0, 1)] * 3 + [(fake.LK_UNLCK, 0, 1)]  # byte 0, always


# -- Windows paths in store files ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "tail"),
    [
        ("C:\\Users\\NAME\\Dropbox\\stock\\", "C:\\Users\\NAME\\Dropbox\\stock\\"),
        ("C:/Users/NAME/Dropbox/stock/", "C:/Users/NAME/Dropbox/stock"),
        ("c:\\stock", "c:\\stock"),
        ("C://Users/NAME/stock/", "C:/Users/NAME/stock"),
        ("D:", "D:"),
        ("\\\\server\\share\\stock\\", "\\\\server\\share\\stock\\"),
        ("file:///C:/Users/NAME/stock/", "C:/Users/NAME/stock"),
        ("file://C:/Users/NAME/stock/", "C:/Users/NAME/stock"),
    ],
)
def test_windows_paths_are_local_paths(url: str, tail: str) -> None:
    config = LocationConfig(url=url)
    assert config.scheme == "file"
    # On Linux the name does not exist and is relative to the current folder; on Windows
    # Path reads the same text as the drive path.
    assert str(config.local_path).endswith(tail)
    assert not config.display.lower().startswith(("c://", "d://", "file:"))


def test_windows_paths_in_a_store_file(tmp_path: Path) -> None:
    """Backslashes as a shop writes them: unquoted or single-quoted YAML keeps them as is."""
    path = tmp_path / "caisse.yaml"
    path.write_text(
        "store: boutique-lille\n"
        "integration: interstock\n"
        "schedule: {every: 60s}\n"
        "ledger: sqlite:///C:/stockbridge/work/ledger.db\n"
        "catalogue: C:\\Caisse\\Export\\articles.tsv\n"
        "import:\n"
        "  - C:\\Users\\NAME\\Dropbox\\stock\\import\\\n"
        "  - '\\\\server\\share\\stock\\outbox\\'\n"
        "export: C:/Users/NAME/Dropbox/stock/export/articles.txt\n"
        "errors: file:///C:/Users/NAME/Dropbox/stock/errors/\n"
        "archive: D:\\archive\\\n"
    )
    store = load_store(path)
    locations = [store.catalogue, *store.imports, store.export, store.errors, store.archive]
    assert [location.scheme for location in locations] == ["file"] * 6
    assert store.imports[1].url == "\\\\server\\share\\stock\\outbox\\"


@pytest.mark.parametrize(
    ("url", "folder"),
    [
        ("C://Users/NAME/Dropbox/stock/articles.txt", "C:/Users/NAME/Dropbox/stock"),
        ("file:///C:/Users/NAME/stock/articles.txt", "C:/Users/NAME/stock"),
    ],
)
def test_a_windows_file_location_opens_as_a_local_folder_and_name(url: str, folder: str) -> None:
    location, name = open_file(LocationConfig(url=url))
    assert isinstance(location, LocalLocation)
    assert name == "articles.txt"
    assert Path(location.root).as_posix().endswith(folder)


# -- local folders: what differs on Windows ------------------------------------------------------


def test_rename_waits_out_a_windows_sharing_violation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropbox or an antivirus holding the previous export open: the publish retries."""
    real_replace = os.replace
    refusals = iter([PermissionError(13, "in use"), PermissionError(13, "in use")])

    def replace(source: object, target: object) -> None:
        error = next(refusals, None)
        if error is not None:
            raise error
        real_replace(source, target)

    monkeypatch.setattr(local, "_WINDOWS", True)
    monkeypatch.setattr(local, "SHARING_RETRIES", (0.01,) * 6)
    monkeypatch.setattr(local.os, "replace", replace)
    location = LocalLocation.open(LocationConfig(url=str(tmp_path)))
    location.write_atomic("articles.txt", b"1\t2\n")
    assert (tmp_path / "articles.txt").read_bytes() == b"1\t2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["articles.txt"]


def test_on_posix_a_refused_rename_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def replace(source: object, target: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(local, "_WINDOWS", False)
    monkeypatch.setattr(local.os, "replace", replace)
    location = LocalLocation.open(LocationConfig(url=str(tmp_path)))
    started = time.monotonic()
    with pytest.raises(Exception, match="Permission denied"):
        location.write_atomic("articles.txt", b"x")
    assert time.monotonic() - started < 0.5
    assert list(tmp_path.iterdir()) == []


def test_folders_are_not_fsynced_on_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[object] = []
    monkeypatch.setattr(local, "_WINDOWS", True)
    monkeypatch.setattr(local.os, "open", lambda *a, **k: opened.append(a) or -1)
    local._fsync_dir(tmp_path)
    assert opened == []


# -- no POSIX-only calls anywhere a run or serve goes ---------------------------------------------

POSIX_ONLY_MODULES = {"fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "posix"}
POSIX_ONLY_CALLS = {
    ("os", name)
    for name in (
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "getpgrp",
        "setsid",
        "fork",
        "killpg",
        "chown",
        "lchown",
        "mkfifo",
        "sync",
        "lockf",
        "uname",
        "getloadavg",
    )
} | {("signal", name) for name in ("SIGKILL", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM", "alarm")}
ALLOWED = {"stockbridge/ledger/filelock.py"}  # picks fcntl, msvcrt or lockf at call time


def test_no_posix_only_calls_in_the_packages() -> None:
    found = []
    for package in ("stockbridge", "flows", "tasks"):
        for path in sorted((REPO / package).rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            if relative in ALLOWED:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = {node.module.split(".")[0]}
                else:
                    names = set()
                for name in names & POSIX_ONLY_MODULES:
                    found.append(f"{relative}:{node.lineno}: import {name}")
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and (node.value.id, node.attr) in POSIX_ONLY_CALLS
                ):
                    found.append(f"{relative}:{node.lineno}: {node.value.id}.{node.attr}")
    assert found == []


# -- the systemd unit ------------------------------------------------------------------------------


def test_systemd_unit_for_serve() -> None:
    unit = systemd_unit(
        ["configs/", "/srv/stock files/nord"],
        python="/srv/stockbridge/.venv/bin/python",
        workdir="/srv/stockbridge",
        user="shop",
    )
    lines = unit.splitlines()
    section = lines.index("[Service]")
    service = lines[section : lines.index("[Install]")]
    assert "User=shop" in service
    assert "WorkingDirectory=/srv/stockbridge" in service
    assert (
        "ExecStart=/srv/stockbridge/.venv/bin/python -m stockbridge.cli serve configs/"
        ' "/srv/stock files/nord"'
    ) in service
    assert "Restart=on-failure" in service
    assert "RestartPreventExitStatus=2" in service
    assert "# Environment=PREFECT_API_URL=http://127.0.0.1:4200/api" in service
    assert not any(line.startswith("Environment=PREFECT_API_URL") for line in lines)
    assert lines[-1] == "WantedBy=multi-user.target"
    assert "User=" not in systemd_unit(["configs/"], python="/usr/bin/python3", workdir="/srv")


def test_systemd_unit_escapes_what_systemd_would_expand() -> None:
    unit = systemd_unit(['/srv/100% "shop"/$HOME'], python="/usr/bin/python3", workdir="/srv/a%b")
    assert 'serve "/srv/100%% \\"shop\\"/$$HOME"' in unit
    assert "WorkingDirectory=/srv/a%%b" in unit


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"paths": []}, "at least one store file"),
        ({"python": "python3"}, "python must be an absolute path"),
        ({"workdir": "srv"}, "workdir must be an absolute path"),
        ({"user": "shop keeper"}, "is not a valid user name"),
        ({"paths": ["configs/\nExecStartPre=/bin/rm"]}, "line break"),
    ],
)
def test_systemd_unit_refuses_what_cannot_be_a_unit(kwargs: dict, message: str) -> None:
    arguments = {"paths": ["configs/"], "python": "/usr/bin/python3", "workdir": "/srv", **kwargs}
    paths = arguments.pop("paths")
    with pytest.raises(ValueError, match=message):
        systemd_unit(paths, **arguments)


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the unit's syntax is not checked here")
    unit = tmp_path / "stockbridge.service"
    unit.write_text(
        systemd_unit(["configs/", "/srv/my stores/"], python=sys.executable, workdir=str(REPO))
    )
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_yaml_double_quotes_would_eat_backslashes() -> None:
    """Why docs/windows.md says: no double quotes around Windows paths."""
    assert yaml.safe_load("p: 'C:\\new\\stock'")["p"] == "C:\\new\\stock"
    assert yaml.safe_load('p: "C:\\new"')["p"] == "C:\new"  # \n became a line break
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load('p: "C:\\Users\\NAME"')  # \U wants 8 hex digits
