"""``make demo``: run the sample store on a fresh copy of ``data_samples/``.

Every run starts from scratch: ``.work/demo/`` (ledger and exchange folders) is deleted and
the sample movement files are copied in again, so the demo can be repeated at will.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from stockbridge.runtime import configure_prefect

SAMPLE_STORE = Path("configs/boutique-paris.yaml")
SAMPLES = Path("data_samples/interstock/import")
DEMO = Path(".work/demo")


def main() -> int:
    configure_prefect()
    from stockbridge.cli import run_store
    from stockbridge.config.loader import load_store

    store = load_store(SAMPLE_STORE)
    shutil.rmtree(DEMO, ignore_errors=True)
    inbox = store.imports[0].local_path
    inbox.mkdir(parents=True)
    for sample in sorted(SAMPLES.iterdir()):
        shutil.copy2(sample, inbox / sample.name)

    print(f"stockbridge demo: store '{store.store}' on {len(list(inbox.iterdir()))} sample files")
    summary = run_store(SAMPLE_STORE, store.integration)
    print()
    print(summary.render())
    print()
    print(f"Export file:  {store.export.local_path}")
    print(f"Error files:  {store.errors.local_path}/")
    print(f"Ledger:       {store.ledger}")
    print("Try: .venv/bin/stockbridge history --store boutique-paris")
    print("     .venv/bin/stockbridge movements --store boutique-paris 8880000000130")
    return 0 if summary.state == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
