"""One run's open connections to a store's till and its HQ, and what it reports per entity."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, Table

from stockbridge.integrations.chain.config import ChainConfig
from stockbridge.integrations.chain.database import (
    ChainError,
    ensure_hq_schema,
    ensure_till_state,
    open_engine,
    till_tables,
)
from stockbridge.integrations.chain.profile import Entity, Profile


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class EntityReport:
    """What one run did with one entity: the per-entity line of the run's summary."""

    entity: str
    sent: int = 0
    received: int = 0
    unchanged: int = 0
    opted_out: int = 0
    refused: int = 0
    skipped: int = 0
    conflicts: int = 0
    waiting: int = 0
    given_up: list[int] = field(default_factory=list)
    stopped: str = ""

    def line(self) -> str:
        parts = []
        for word in ("sent", "received", "opted_out", "refused", "skipped", "conflicts"):
            value = getattr(self, word)
            if value:
                shown = {
                    "opted_out": "kept by opt-out",
                    "conflicts": "conflict(s), HQ's version kept",
                    "refused": "refused (another store's)",
                    "skipped": "skipped by `chain skip`",
                }.get(word, word)
                parts.append(f"{value} {shown}")
        if self.waiting:
            parts.append(f"{self.waiting} id(s) waited for (not committed yet, or rolled back)")
        if self.given_up:
            parts.append(
                f"{len(self.given_up)} id(s) below the gap window given up"
                f" ({', '.join(map(str, self.given_up[:5]))})"
            )
        if self.stopped:
            parts.append(f"STOPPED: {self.stopped}")
        return f"{self.entity}: " + (", ".join(parts) or "nothing new")


class Poison(ChainError):
    """HQ refused one row: that entity's stream stops for this store until it is fixed or
    skipped (``stockbridge chain skip``); other entities go on."""

    def __init__(self, config_path: str, store: str, entity: str, key: Any, values: dict, why: str):
        self.entity, self.key, self.values, self.why = entity, key, values, why
        super().__init__(
            f"store {store}: HQ refused {entity} row {key} ({why}); the {entity} stream is"
            f" stopped for this store: correct that row in the till, or skip it with"
            f" `stockbridge chain skip {config_path} {entity} {key}`"
        )


def plain(value: Any) -> Any:
    """A value as it compares and prints the same on every database."""
    if isinstance(value, Decimal):
        return value.normalize() if value == value.to_integral_value() else value
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=(value.microsecond // 1000) * 1000)
    if isinstance(value, bool):
        return int(value)
    return value


def raw_text(values: dict[str, Any]) -> str:
    return json.dumps({k: str(v) if v is not None else None for k, v in values.items()})


def key_text(entity: Entity, row: dict[str, Any]) -> str:
    return "/".join(str(row[k]) for k in entity.key)


@dataclass
class Chain:
    """The open side of one run: config, profile, both engines, their tables."""

    config: ChainConfig
    config_path: str
    profile: Profile
    till: Engine
    hq: Engine
    hq_tables: dict[str, Table]
    till_tables: dict[str, Table]
    reports: dict[str, EntityReport] = field(default_factory=dict)

    @classmethod
    def open(cls, config: ChainConfig, config_path: str) -> Chain:
        if config.hq is None:
            raise ChainError(
                f"{config_path}: no HQ defined; add hq: with the central database's URL"
                " (and password: ${HQ_PASSWORD})"
            )
        profile = config.load_profile()
        till = open_engine(config.till, "till database", pooled=True)
        hq = open_engine(config.hq, "HQ database", pooled=True)
        try:
            hq_tables = ensure_hq_schema(hq, profile)
            ensure_till_state(till, profile)
        except ChainError:
            till.dispose()
            hq.dispose()
            raise
        return cls(config, config_path, profile, till, hq, hq_tables, till_tables(profile)[1])

    def close(self) -> None:
        self.till.dispose()
        self.hq.dispose()

    def report(self, entity: str) -> EntityReport:
        return self.reports.setdefault(entity, EntityReport(entity))

    @property
    def store(self) -> str:
        return self.config.store

    def till_cursor(self, connection: sa.Connection, entity: str) -> int:
        table = self.till_tables["stockbridge_cursors"]
        value = connection.execute(
            sa.select(table.c.value).where(table.c.entity == entity)
        ).scalar()
        return int(value or 0)

    def set_till_cursor(self, connection: sa.Connection, entity: str, value: int) -> None:
        table = self.till_tables["stockbridge_cursors"]
        updated = connection.execute(
            table.update().where(table.c.entity == entity).values(value=value)
        )
        if updated.rowcount == 0:
            connection.execute(table.insert().values(entity=entity, value=value))
