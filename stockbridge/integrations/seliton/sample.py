"""A small Warehouse Pro database: the tables of :mod:`.warehouse` with a shop's rows.

Used by the demo (SQLite, from ``data_samples/seliton/goods.csv``), by the tests (MariaDB
and SQLite) and by the bench (50,000 goods). Not for a real Warehouse Pro database, which
has its own tables already.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, insert

from stockbridge.integrations.seliton.warehouse import (
    goods,
    goodsgroups,
    metadata,
    objects,
    partners,
    store,
    users,
)

GROUPS = [
    (1, "Напитки", "001"),
    (2, "Сок", "001001"),
    (3, "Натурален сок", "001001001"),
    (4, "Хляб", "002"),
]
OBJECTS = [(1, "1", "Магазин 1"), (2, "2", "Склад")]
USERS = [(1, "1", "Иван Петров"), (2, "2", "Мария Иванова")]


@dataclass(frozen=True)
class SampleGood:
    code: str
    barcode: str
    name: str
    price: float
    group: int
    quantity: float
    """On hand at object 1 (Магазин 1)."""


def read_goods(path: Path) -> list[SampleGood]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            SampleGood(
                row["code"],
                row["barcode"],
                row["name"],
                float(row["price"]),
                int(row["group"]),
                float(row["quantity"]),
            )
            for row in csv.DictReader(handle)
        ]


def build(engine: Engine, sample: Iterable[SampleGood]) -> None:
    """Create the tables and fill them: groups, two objects, two operators, goods, stock."""
    metadata.create_all(engine)
    sample = list(sample)
    with engine.begin() as connection:
        connection.execute(insert(goodsgroups), [dict(ID=i, Name=n, Code=c) for i, n, c in GROUPS])
        connection.execute(
            insert(objects),
            [dict(ID=i, Code=c, Name=n, PriceGroup=2, Deleted=0) for i, c, n in OBJECTS],
        )
        connection.execute(
            insert(users), [dict(ID=i, Code=c, Name=n, UserLevel=2, Deleted=0) for i, c, n in USERS]
        )
        connection.execute(insert(partners), [dict(ID=1, Code="1", Company="Анонимен партньор")])
        if sample:
            connection.execute(
                insert(goods),
                [
                    dict(
                        ID=number,
                        Code=g.code,
                        BarCode1=g.barcode,
                        Name=g.name,
                        Name2=g.name,
                        Measure1="бр.",
                        PriceIn=round(g.price * 0.7, 2),
                        PriceOut1=round(g.price * 0.9, 2),
                        PriceOut2=g.price,
                        TaxGroup=1,
                        GroupID=g.group,
                        Deleted=0,
                    )
                    for number, g in enumerate(sample, start=1)
                ],
            )
            connection.execute(
                insert(store),
                [
                    dict(
                        ObjectID=1, GoodID=number, Qtty=g.quantity, Price=g.price, Lot=" ", LotID=1
                    )
                    for number, g in enumerate(sample, start=1)
                ],
            )
