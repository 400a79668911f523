"""A till writing what a till writes, for the demo, the tests and the benchmarks.

It writes into a till database laid out as the profile says (``create_till_schema``):
tickets with their lines in one transaction, stock movements, transfers to another store,
customer edits (raising the row's version, as a till does), and, for HQ's till, articles.
Every row it writes is also returned, so a test knows exactly what the till holds.

Its clock (``clock_offset``) is the till PC's: the rows it stamps carry it, and it is also
kept in the till database (``simulator_clock``) so that a store file's ``till_clock:
Till.clock_query(...)`` reads the same clock, as a real till's database clock would be.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import Engine

from stockbridge.integrations.chain.database import create_till_schema
from stockbridge.integrations.chain.profile import Profile
from stockbridge.integrations.chain.session import utc_now

ARTICLES = [f"A{n:05d}" for n in range(1, 41)]

CLOCK = sa.Table(
    "simulator_clock", sa.MetaData(), sa.Column("offset_seconds", sa.Float(), nullable=False)
)
"""The simulated till PC's clock: how far it is from UTC (one row)."""
CLOCK_QUERY = {
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now', offset_seconds || ' seconds')"
    " FROM simulator_clock",
    "mysql": "SELECT TIMESTAMPADD(MICROSECOND, CAST(offset_seconds * 1000000 AS SIGNED),"
    " UTC_TIMESTAMP(6)) FROM simulator_clock",
    "postgresql": "SELECT (now() AT TIME ZONE 'UTC') + offset_seconds * INTERVAL '1 second'"
    " FROM simulator_clock",
}


@dataclass
class Till:
    engine: Engine
    profile: Profile
    store: str
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    clock_offset: timedelta = timedelta()
    """A till whose clock is off (two hours fast): its times are written so."""

    def __post_init__(self) -> None:
        self.tables = create_till_schema(self.engine, self.profile)
        CLOCK.create(self.engine, checkfirst=True)
        self._write_clock()

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if name == "clock_offset" and "tables" in self.__dict__:
            self._write_clock()  # the clock moved: the till database's clock moves with it

    def _write_clock(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(CLOCK.delete())
            connection.execute(
                CLOCK.insert().values(offset_seconds=self.clock_offset.total_seconds())
            )

    @staticmethod
    def clock_query(dialect: str) -> str:
        """The store file's ``till_clock`` for a simulated till on ``dialect``: UTC, as the
        simulator stamps its rows, plus the till's ``clock_offset``."""
        return CLOCK_QUERY["mysql" if dialect == "mariadb" else dialect]

    def now(self) -> datetime:
        return utc_now() + self.clock_offset

    def sale(self, lines: int = 3) -> tuple[int, list[tuple[str, Decimal]]]:
        """One ticket and its lines, committed together; returns the ticket id and lines."""
        tickets, ticket_lines = self.tables["tickets"], self.tables["ticket_lines"]
        sold = [(self.rng.choice(ARTICLES), Decimal(self.rng.randint(1, 3))) for _ in range(lines)]
        with self.engine.begin() as connection:
            ticket = connection.execute(
                tickets.insert().values(
                    store=self.store,
                    number=f"T{self.rng.randrange(10**6):06d}",
                    opened_at=self.now(),
                    total=Decimal("9.90") * len(sold),
                )
            ).inserted_primary_key[0]
            connection.execute(
                ticket_lines.insert(),
                [
                    {
                        "store": self.store,
                        "ticket_id": ticket,
                        "article": article,
                        "label": f"article {article}",
                        "quantity": quantity,
                        "amount": Decimal("9.90") * quantity,
                    }
                    for article, quantity in sold
                ],
            )
        return int(ticket), sold

    def sales_backlog(self, tickets: int, lines: int) -> None:
        """Many tickets at once (a store offline for days), in large transactions."""
        table_t, table_l = self.tables["tickets"], self.tables["ticket_lines"]
        with self.engine.begin() as connection:
            start = connection.execute(sa.select(sa.func.max(table_t.c.id))).scalar() or 0
            connection.execute(
                table_t.insert(),
                [
                    {
                        "id": start + t + 1,
                        "store": self.store,
                        "number": f"B{t}",
                        "opened_at": self.now(),
                        "total": Decimal(1),
                    }
                    for t in range(tickets)
                ],
            )
            first = connection.execute(sa.select(sa.func.max(table_l.c.id))).scalar() or 0
            rows = []
            for t in range(tickets):
                for n in range(lines):
                    rows.append(
                        {
                            "id": first + len(rows) + 1,
                            "store": self.store,
                            "ticket_id": start + t + 1,
                            "article": ARTICLES[(t + n) % len(ARTICLES)],
                            "label": "backlog",
                            "quantity": Decimal(1),
                            "amount": Decimal("1.5"),
                        }
                    )
            connection.execute(table_l.insert(), rows)

    def transfer(self, to_store: str, article: str, quantity: int) -> int:
        notes, lines = self.tables["transfer_notes"], self.tables["transfer_lines"]
        with self.engine.begin() as connection:
            note = connection.execute(
                notes.insert().values(store=self.store, to_store=to_store, at=self.now())
            ).inserted_primary_key[0]
            connection.execute(
                lines.insert().values(
                    store=self.store, note_id=note, article=article, quantity=Decimal(quantity)
                )
            )
        return int(note)

    def edit_customer(self, code: str, **values) -> None:
        """A till edit: the row's version goes up by one (new customers start at 1)."""
        table = self.tables["customers"]
        with self.engine.begin() as connection:
            current = connection.execute(
                sa.select(table.c.version).where(table.c.code == code)
            ).scalar()
            if current is None:
                base = {"name": code, "email": None, "phone": None, "deleted": False}
                connection.execute(table.insert().values(code=code, version=1, **(base | values)))
            else:
                connection.execute(
                    table.update().where(table.c.code == code).values(version=current + 1, **values)
                )

    def set_article(self, code: str, **values) -> None:
        """HQ's till: an article created or changed (its modification time moves)."""
        table = self.tables["articles"]
        values = {"updated_at": self.now(), **values}
        with self.engine.begin() as connection:
            found = connection.execute(sa.select(table.c.code).where(table.c.code == code)).scalar()
            if found is None:
                base = {
                    "label": code,
                    "family": "misc",
                    "price": Decimal("1.00"),
                    "vat": Decimal("20"),
                    "printer": "P1",
                    "deleted": False,
                }
                connection.execute(table.insert().values(code=code, **(base | values)))
            else:
                connection.execute(table.update().where(table.c.code == code).values(**values))

    def rows(self, entity: str) -> list[dict]:
        table = self.tables[entity]
        with self.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(sa.select(table))]
