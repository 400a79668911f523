"""A ShopFactory store under test: its store file, the shop's live file, what was published.

The "shop" is the online file itself: a web sale is the test lowering a SKU's level in it
(as the shop does when it sells), a change on the shop's side is the test raising one.
Expectations are computed here with Python ints in thousandths, never with stockbridge's
reader or ledger code.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.pool import NullPool

OPENING = {"P1_red_17": 4_000, "P1_red_18": 6_000, "P1_blue_17": 2_000, "MUG-01": 12_000}


def level_text(milli: int) -> str:
    value = Decimal(milli) / 1000
    text = format(value.normalize(), "f")
    return text


def shop_text(levels: dict[str, int], header: bool = True) -> bytes:
    rows = ["SKU\tQuantity"] if header else []
    rows += [f"{sku}\t{level_text(level)}" for sku, level in levels.items()]
    return ("\n".join(rows) + "\n").encode()


def parse_shop(data: bytes) -> dict[str, int]:
    """The levels of a stock file, read independently of stockbridge."""
    found = {}
    for line in data.decode("utf-8-sig").splitlines():
        if not line.strip() or line.startswith("SKU\t"):
            continue
        sku, quantity = line.split("\t")
        found[sku] = int(Decimal(quantity) * 1000)
    return found


@dataclass
class Shop:
    config: Path
    store: str
    ledger_url: str
    online: Path | None
    """The shop's live file when it is local (None when it lives on a server)."""
    inbox: Path
    errors: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def write(self, levels: dict[str, int]) -> None:
        assert self.online is not None
        self.online.parent.mkdir(parents=True, exist_ok=True)
        temp = self.online.with_name(".shop-writing")
        temp.write_bytes(shop_text(levels))
        temp.replace(self.online)  # the shop replaces its file whole, as a web server would

    def levels(self) -> dict[str, int]:
        assert self.online is not None
        return parse_shop(self.online.read_bytes())

    def sell(self, sku: str, milli: int) -> None:
        levels = self.levels()
        levels[sku] -= milli
        self.write(levels)

    def deliver(self, name: str, lines: dict[str, int]) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        text = "".join(
            f"{ref}\t{'+' if q > 0 else ''}{level_text(q)}\n" for ref, q in lines.items()
        )
        (self.inbox / name).write_text(text)


def make_shop(root: Path, ledger_url: str, **overrides: Any) -> Shop:
    store = f"shop-{uuid.uuid4().hex[:8]}"
    folder = root / store
    online = folder / "shop" / "levels.txt"
    document: dict[str, Any] = {
        "store": store,
        "integration": "shopfactory",
        "schedule": {"every": "5m"},
        "ledger": ledger_url,
        "online": str(online),
        "import": str(folder / "deliveries"),
        "errors": str(folder / "errors"),
        "settle": {"min_age": "0s", "recheck": "0s"},
    }
    document.update(overrides)
    path = folder / f"{store}.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "deliveries").mkdir(exist_ok=True)  # an import folder that is missing is an error
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    local = online if document["online"] == str(online) else None
    return Shop(path, store, ledger_url, local, folder / "deliveries", folder / "errors")


class Ledger:
    """The ledger read with plain SQL."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(url, poolclass=NullPool)

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.text(sql), params))

    def available(self, store: str) -> dict[str, int]:
        rows = self.rows(
            "SELECT reference, on_hand - reserved AS q FROM stock WHERE store = :s", s=store
        )
        return {r.reference: int(r.q) for r in rows}

    def movements(self, store: str, kind: str | None = None) -> list[tuple[str, int, str]]:
        rows = self.rows(
            "SELECT reference, quantity, kind FROM movements WHERE store = :s"
            " ORDER BY document_id, line",
            s=store,
        )
        return [(r.reference, int(r.quantity), r.kind) for r in rows if kind in (None, r.kind)]

    def published(self, store: str) -> list[Any]:
        return self.rows(
            "SELECT generation, state, digest FROM shopfactory_publications WHERE store = :s"
            " ORDER BY generation",
            s=store,
        )

    def dump(self) -> dict[str, list[tuple]]:
        tables = [t for t in sa.inspect(self.engine).get_table_names() if t not in ("runs",)]
        return {
            t: sorted(tuple(map(repr, r)) for r in self.rows(f"SELECT * FROM {t}")) for t in tables
        }
