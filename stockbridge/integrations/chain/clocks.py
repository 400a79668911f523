"""The clocks a run reads for rows found by a modification time, and how far back to re-read.

A till stamps the rows it edits with its own clock. Three clocks are read together at the
start of a run's read and kept with the ack at HQ (same HQ transaction as the rows):

- the **till's**: the clock the till stamps its rows with, read in the till database by the
  store file's ``till_clock`` query. By default the database's own clock (``NOW(6)`` on
  MariaDB/MySQL, ``LOCALTIMESTAMP`` on PostgreSQL, ``CURRENT_TIMESTAMP`` in UTC on SQLite,
  which is the clock of the machine holding the file: the till PC). That is what a till
  writing ``NOW()`` or ``ON UPDATE CURRENT_TIMESTAMP`` stamps, and for a till database on
  the till PC also the PC's clock; a till stamping with another clock (local time in an
  SQLite file: ``SELECT datetime('now', 'localtime')``) says so in ``till_clock``.
- **HQ's** (its database's UTC clock) and **this host's**: real time. Two, because
  stockbridge usually runs on the till PC itself, whose clock is the one that moves;
  elapsed real time is the larger of their two elapsed times, so either clock jumping back
  is covered by the other (a jump forward only widens the re-read, which is harmless).

The rule (:func:`set_back`): between two runs the till's clock should advance by the elapsed
real time; whatever it advanced less is how far it was set back, and the re-read starts that
much earlier. Without earlier readings (an ack written before clocks were kept) a till clock
reading earlier than the mark is taken as set back since the ack's last update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from stockbridge.integrations.chain.database import ChainError, unreachable

TILL_CLOCK = {
    "mysql": "SELECT NOW(6)",
    "mariadb": "SELECT NOW(6)",
    "postgresql": "SELECT LOCALTIMESTAMP",
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
}
"""The till's clock when the store file gives no ``till_clock``: the database's own."""

HQ_CLOCK = {
    "mysql": "SELECT UTC_TIMESTAMP(6)",
    "mariadb": "SELECT UTC_TIMESTAMP(6)",
    "postgresql": "SELECT now() AT TIME ZONE 'UTC'",
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
}


@dataclass(frozen=True)
class Clocks:
    """The till's clock and two real-time clocks (HQ's, this host's), read together."""

    till: datetime
    hq: datetime
    host: datetime


def as_datetime(value: Any) -> datetime:
    """A clock reading as a naive datetime (SQLite returns text, PostgreSQL may add a zone)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    if not isinstance(value, datetime):
        raise ValueError(f"{value!r} is not a time")
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def read_till_clock(engine: Engine, query: str | None) -> datetime:
    sql = query or TILL_CLOCK[engine.dialect.name]
    try:
        with engine.connect() as connection:
            value = connection.exec_driver_sql(sql).scalar()
    except SQLAlchemyError as exc:
        if query:
            raise ChainError(f"till_clock '{query}' failed in the till database: {exc}") from exc
        raise unreachable(engine, exc) from exc
    try:
        return as_datetime(value)
    except ValueError as exc:
        raise ChainError(f"till_clock '{sql}' did not return a time: {exc}") from None


def read_hq_clock(connection: sa.Connection) -> datetime:
    return as_datetime(connection.exec_driver_sql(HQ_CLOCK[connection.dialect.name]).scalar())


def set_back(
    before: Clocks | None,
    now: Clocks,
    mark: datetime | None,
    last_update: datetime | None,
    host_now: datetime,
) -> timedelta:
    """How far the till's clock went back since the run that wrote ``before``: the re-read
    window of rows found by modification time starts that much earlier than ``lookback``
    before the mark. Never negative (a clock going forward needs no wider window)."""
    zero = timedelta()
    if before is not None:
        real = max(now.hq - before.hq, now.host - before.host, zero)
        return max(zero, real - (now.till - before.till))
    if mark is not None and now.till < mark:
        elapsed = max(zero, host_now - last_update) if last_update is not None else zero
        return mark - now.till + elapsed
    return zero
