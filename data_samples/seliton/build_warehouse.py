"""Build the sample Warehouse Pro database (SQLite) from goods.csv: `build_warehouse.py OUT.db`."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import create_engine

from stockbridge.integrations.seliton.sample import build, read_goods

HERE = Path(__file__).parent


def main(target: str) -> None:
    path = Path(target)
    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    build(engine, read_goods(HERE / "goods.csv"))
    engine.dispose()
    print(f"Warehouse Pro sample written to {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".work/demo/warehouse.db")
