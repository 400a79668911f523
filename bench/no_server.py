"""What a run without a Prefect server costs: ``python -m bench.no_server [--runs 3]``.

Times ``stockbridge run`` of one empty store three ways, in fresh processes as a user
types it: with no server (Prefect starts a temporary one per run), with a running
``prefect server start`` and ``PREFECT_API_URL`` set, and the plain reference of the same
interpreter importing Prefect and exiting. Prints each median and the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

BIN = Path(sys.executable).parent


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.no_server", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each kind (3)")
    parser.add_argument("--port", type=int, default=4391, help="port of the server started")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="stockbridge-no-server-"))
    (root / "import").mkdir()
    (root / "articles.tsv").write_text("8880000000109\t3\n")
    store = root / "bench.yaml"
    store.write_text(
        yaml.safe_dump(
            {
                "store": "bench-no-server",
                "integration": "interstock",
                "ledger": f"sqlite:///{root / 'ledger.db'}",
                "catalogue": str(root / "articles.tsv"),
                "import": str(root / "import"),
                "export": str(root / "export" / "articles.txt"),
                "errors": str(root / "errors"),
                "settle": {"min_age": "0s", "recheck": "0s"},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(STOCKBRIDGE_HOME=str(root / "home"), DO_NOT_TRACK="1")
    run = [str(BIN / "stockbridge"), "run", str(store)]
    reference = [sys.executable, "-c", "import prefect"]

    plain = [_timed(reference, env, root) for _ in range(args.runs)]
    alone = [_timed(run, env, root) for _ in range(args.runs)]
    (root / "home" / "prefect").mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(args.port)],
        env={**env, "PREFECT_HOME": str(root / "home" / "prefect")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{args.port}/api"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        served = [_timed(run, {**env, "PREFECT_API_URL": url}, root) for _ in range(args.runs)]
    finally:
        server.terminate()
        server.wait(30)
    a, b, p = (statistics.median(x) for x in (alone, served, plain))
    load = os.getloadavg()[0]
    print(f"stockbridge run of an empty store, median of {args.runs} (load {load:.1f}):")
    print(f"  without a server (temporary one): {a:6.2f} s  ({a / p:4.1f}x import prefect)")
    print(f"  with a running server:            {b:6.2f} s  ({b / p:4.1f}x import prefect)")
    print(f"  reference, import prefect:        {p:6.2f} s")
    print(f"  a run without a server costs {a - b:.1f} s more ({a / b:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
