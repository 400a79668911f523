"""Profiles: what a chain keeps in step, declared as data instead of one till's table list.

A profile lists entities; each names its till table, its key, how its changes are found
(``id``: an increasing integer id, append-only rows; ``modified``: a modification time or
counter plus the key, with a trailing re-read window; ``version``: a per-row version counter
compared with what was last exchanged, for rows both sides edit; ``capture``: triggers in the
till record each changed key in ``stockbridge_changes``, for tables with no usable change
column, see ``capture.py``), its direction (``up``
store -> HQ, ``down`` HQ -> store, ``both``), its deletions (a flag column) and the columns
a store may keep as its own (``store_owned``, by the ``receive:`` switch that governs them).
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stockbridge.config.models import Duration
from stockbridge.errors import ConfigError

PROFILES = Path(__file__).parent / "profiles"
_NAME = r"^[a-z][a-z0-9_]{0,47}$"
_TYPE = re.compile(r"^(integer|decimal|timestamp|boolean|text\((\d{1,5})\))$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Change(_Strict):
    by: Literal["id", "modified", "version", "capture"] = Field(
        description="id: increasing integer id (append-only); modified: a modification time or"
        " counter plus the key; version: a per-row version counter (rows both sides edit);"
        " capture: triggers record each changed key (`stockbridge chain capture install`)"
    )
    column: str | None = Field(
        default=None, description="the id, modification or version column (default: the key)"
    )
    lookback: Duration = Field(
        default=timedelta(minutes=10),
        description="modified: how far behind the last time seen each run reads again, so a"
        " row committed late with an older time is not lost",
    )


class Parent(_Strict):
    entity: str = Field(description="the entity whose row must be at HQ first (a ticket)")
    column: str = Field(description="the column of this entity holding the parent's key")


class Deleted(_Strict):
    flag: str = Field(description="boolean column set when the row is deleted")


class StockMapping(_Strict):
    article: str = Field(description="column holding the article code")
    quantity: str = Field(description="column holding the quantity")
    kind: Literal["sale", "adjustment", "receipt", "transfer_out"] = Field(
        description="the canonical movement kind"
    )
    sign: Literal[-1, 1] = Field(description="-1 when a positive quantity leaves the stock")
    to_store: str | None = Field(
        default=None,
        description="transfer_out: the receiving store's column (parent.COLUMN: the parent's)",
    )


class Entity(_Strict):
    name: str = Field(pattern=_NAME, description="entity name, used in commands and reports")
    table: str | None = Field(default=None, description="till table (default: the name)")
    direction: Literal["up", "down", "both"] = Field(description="up, down or both")
    key: list[str] = Field(min_length=1, description="columns that identify a row in a store")
    change: Change = Field(description="how new and changed rows are found")
    columns: dict[str, str] = Field(
        description="every synced column and its type: integer, decimal, timestamp, boolean,"
        " text(N)"
    )
    parent: Parent | None = Field(default=None, description="a row never reaches HQ before it")
    deleted: Deleted | None = Field(default=None, description="how a deletion is marked")
    store_owned: dict[Literal["prices", "printers"], list[str]] = Field(
        default_factory=dict,
        description="columns an existing row keeps when `receive.<switch>` is false",
    )
    stock: StockMapping | None = Field(
        default=None, description="how rows move stock in the chain's ledger"
    )

    @property
    def till_table(self) -> str:
        return self.table or self.name

    @property
    def change_column(self) -> str:
        return self.change.column or self.key[0]

    @model_validator(mode="after")
    def _consistent(self) -> Entity:
        for name, kind in self.columns.items():
            if not re.match(_NAME, name):
                raise ValueError(f"column '{name}' is not a plain lower-case column name")
            if not _TYPE.match(kind):
                raise ValueError(
                    f"column '{name}': type '{kind}' is not one of integer, decimal,"
                    " timestamp, boolean, text(N)"
                )
        named = [*self.key, self.change_column]
        named += [c for group in self.store_owned.values() for c in group]
        if self.deleted:
            named.append(self.deleted.flag)
        if self.parent:
            named.append(self.parent.column)
        if self.stock:
            named += [self.stock.article, self.stock.quantity]
        missing = [c for c in named if c not in self.columns]
        if missing:
            raise ValueError(f"names column(s) {', '.join(missing)} not listed in 'columns'")
        if self.change.by in ("id", "modified") and len(self.key) != 1:
            raise ValueError(f"change by '{self.change.by}' needs a key of one column")
        if self.change.by == "id" and self.columns[self.change_column] != "integer":
            raise ValueError("change by 'id' needs an integer id column")
        if self.change.by == "version" and self.direction != "both":
            raise ValueError("change by 'version' is for entities synced both ways")
        if self.change.by == "capture":
            self._capturable()
        if self.stock and self.change.by != "id":
            raise ValueError("only append-only entities (change by id) move stock")
        return self

    def _capturable(self) -> None:
        """Capture records the key as JSON (integers and text read back the same on every
        database); the key alone finds the row, so a change column would mean nothing; shared
        rows need the version counter's conflict rule; stores delete pulled rows by a flag."""
        where = f"entity '{self.name}': change by 'capture'"
        if self.change.column is not None:
            raise ValueError(f"{where} takes no column (the triggers record the key); remove it")
        odd = [k for k in self.key if not self.columns[k].startswith(("integer", "text"))]
        if odd:
            raise ValueError(f"{where} needs integer or text(N) key columns; {odd[0]} is not")
        if self.direction == "both":
            raise ValueError(f"{where} is for up or down entities; both ways needs 'version'")
        if self.direction == "down" and len(self.key) != 1:
            raise ValueError(f"{where} on a down entity needs a key of one column (the pull's)")
        if self.direction == "down" and self.deleted is None:
            raise ValueError(
                f"{where} on a down entity needs deleted: {{flag: COLUMN}}, the flag that"
                " tells the stores a row was deleted"
            )

    def text_length(self, column: str) -> int | None:
        match = _TYPE.match(self.columns[column])
        return int(match.group(2)) if match and match.group(2) else None


class Profile(_Strict):
    name: str = Field(description="the profile's name")
    store_column: str | None = Field(
        default=None, description="column of up rows naming their store; another store's refused"
    )
    entities: list[Entity] = Field(min_length=1, description="what is synced, parents first")

    @model_validator(mode="after")
    def _parents_first(self) -> Profile:
        seen: set[str] = set()
        for entity in self.entities:
            if entity.name in seen:
                raise ValueError(f"entity '{entity.name}' is listed twice")
            if entity.parent and entity.parent.entity not in seen:
                raise ValueError(
                    f"entity '{entity.name}': its parent '{entity.parent.entity}' must be"
                    " listed before it"
                )
            seen.add(entity.name)
        return self

    def entity(self, name: str) -> Entity:
        for entity in self.entities:
            if entity.name == name:
                return entity
        known = ", ".join(e.name for e in self.entities)
        raise ConfigError(f"profile '{self.name}' has no entity '{name}'; it has: {known}")


def profile_path(name_or_path: str, relative_to: Path | None = None) -> Path:
    """A shipped profile by name (``reference-till``) or a YAML file by path."""
    shipped = PROFILES / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    path = Path(name_or_path).expanduser()
    if not path.is_absolute() and relative_to is not None and not path.exists():
        path = relative_to / path
    return path


@cache
def load_profile(path: Path) -> Profile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"profile {path} cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {path} is not valid YAML ({exc})") from None
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"profile {path}: {where}: {first['msg'].removeprefix('Value error, ')}"
        ) from None
