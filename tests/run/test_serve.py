"""`stockbridge serve` starts with what is valid and stops cleanly (issue 12 §2).

A real ``prefect server start`` and real ``stockbridge serve`` processes: bad store files
are reported and the valid ones served; Ctrl-C (SIGINT) and a Prefect server that goes
away each end serve with one sentence instead of retries and tracebacks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

BIN = Path(sys.executable).parent
STOCKBRIDGE = str(BIN / "stockbridge")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "STOCKBRIDGE_", "PYTEST"))
    }
    env.update(
        PREFECT_HOME=str(home / "prefect"),
        STOCKBRIDGE_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_UI_ENABLED="false",
        **extra,
    )
    return env


class PrefectServer:
    def __init__(self, home: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        (home / "prefect").mkdir(parents=True)
        self.process = subprocess.Popen(
            [
                str(BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=_env(home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.5)
        self.stop()
        raise AssertionError("prefect server start did not answer in 120 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[PrefectServer]:
    server = PrefectServer(tmp_path / "server-home")
    yield server
    server.stop()


def _start_serve(server: PrefectServer, home: Path, *paths: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [STOCKBRIDGE, "serve", *map(str, paths)],
        env=_env(home, PREFECT_API_URL=server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_serving(serve: subprocess.Popen[str]) -> str:
    """Read serve's output up to its "serving" line (it says which stores)."""
    assert serve.stdout is not None
    for line in serve.stdout:
        if line.startswith("serving"):
            time.sleep(1.0)  # the runner starts its loop after the line
            return line
    raise AssertionError(f"serve ended before serving: {serve.wait()} {serve.stderr.read()}")


def test_serve_serves_the_valid_files_reports_the_bad_and_stops_on_ctrl_c_and_server_loss(
    prefect_server: PrefectServer, make_store, tmp_path: Path
):
    folder = tmp_path / "configs"
    folder.mkdir()
    good = make_store(name="shop-served", schedule={"every": "1h"})
    (folder / "good.yaml").write_text(good.read_text())
    (folder / "bad.yaml").write_text(
        good.read_text().replace("store: shop-served", "store: x\ncolour: red")
    )

    serve = _start_serve(prefect_server, tmp_path / "a", folder)
    assert _wait_serving(serve).strip() == "serving 1 store(s): shop-served"
    serve.send_signal(signal.SIGINT)
    _, err = serve.communicate(timeout=60)
    assert serve.returncode == 2, err  # as validate: a bad file was left out
    assert "bad.yaml: colour" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1] == (
        "stockbridge serve stopped; the stores are no longer served"
    )

    (folder / "bad.yaml").unlink()
    serve = _start_serve(prefect_server, tmp_path / "b", folder)
    _wait_serving(serve)
    prefect_server.stop()
    _, err = serve.communicate(timeout=60)
    assert serve.returncode == 1
    assert "Traceback" not in err and "ConnectError" not in err
    lines = [line for line in err.strip().splitlines() if line]
    assert lines == [
        f"stockbridge serve stopped: the Prefect server at {prefect_server.url} does not"
        " answer: start it with `make server` (or `prefect server start`), or unset"
        " PREFECT_API_URL to run with a temporary one"
    ]
