"""Typed store files: one YAML file per store and integration.

Every model forbids unknown keys, so a typo is an error that names the key instead of a
setting silently ignored. The shared parts live here; each integration's own model lives in
its package (``stockbridge/integrations/NAME/config.py``) and is listed in the registry.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from stockbridge.config.locations import LocationConfig

Location = Annotated[LocationConfig, BeforeValidator(LocationConfig.coerce)]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


MAX_DURATION = timedelta(days=366)


def parse_duration(value: Any) -> timedelta:
    """``90``, ``"90s"``, ``"5m"``, ``"1h"``: a number alone means seconds (at most a year)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"'{value}' is not a duration; write it like 30s, 5m or 1h")
        number, unit = match.groups()
        seconds = float(number) * _UNITS[unit]
    if seconds != seconds or seconds < 0:
        raise ValueError(f"'{value}' is not a duration of 0 or more, like 30s or 5m")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"'{value}' is longer than a year; write it like 30s, 5m or 1h")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(Strict):
    """When a deployment runs: ``{every: 60s}`` or ``{cron: "*/5 * * * *", timezone: ...}``."""

    every: Duration | None = None
    cron: str | None = None
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every' (like 60s) or 'cron' (like */5 * * * *)")
        if self.every is not None and self.every < timedelta(seconds=1):
            raise ValueError("'every' must be at least 1s")
        if self.cron is not None and len(self.cron.split()) not in (5, 6):
            raise ValueError(f"cron '{self.cron}' needs 5 fields: minute hour day month weekday")
        if self.cron is not None and not _cron_is_valid(self.cron):
            raise ValueError(
                f"cron '{self.cron}' is not a schedule Prefect can run; check each field's"
                " range: minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6"
            )
        return self

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        return known_timezone(name)


def known_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone '{name}'; use a name like Europe/Paris") from None
    return name


def _cron_is_valid(cron: str) -> bool:
    """What the scheduler itself accepts (``serve`` would otherwise fail on this store)."""
    from prefect.client.schemas.schedules import CronSchedule  # imported only for cron stores

    try:
        CronSchedule(cron=cron)
    except ValidationError:
        return False
    return True


class Settling(Strict):
    """When a file in the import folder is complete enough to read.

    A file is taken once its size and modification time are unchanged across two listings
    ``recheck`` apart and it is at least ``min_age`` old, so an upload in progress is never
    read.
    """

    min_age: Duration = timedelta(seconds=5)
    recheck: Duration = timedelta(seconds=1)


class Batching(Strict):
    """How much goes into one ledger transaction.

    Small files are applied together, up to ``max_files`` or ``chunk_bytes`` per transaction;
    a larger file is streamed in ``chunk_bytes`` pieces but still commits once, whole.
    """

    max_files: int = Field(default=5000, ge=1, description="files per transaction")
    chunk_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="bytes parsed at once; larger files are streamed in pieces of this size",
    )


INPUT_FOLDER = "input folder"
INPUT_FILE = "input file"
OUTPUT_FOLDER = "output folder"
OUTPUT_FILE = "output file"
LOCATION_ROLES: dict[str, str] = {
    "import": INPUT_FOLDER,
    "catalogue": INPUT_FILE,
    "export": OUTPUT_FILE,
    "errors": OUTPUT_FOLDER,
    "archive": OUTPUT_FOLDER,
}
"""What each location key of a store file is for, so that the checks every store file gets
(``validate``: a local input that does not exist, a file path ending in ``/``, two stores
sharing a folder) know it for any integration. An integration with a location key of its
own adds it to its model's ``location_roles``."""

_DATABASE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
LEDGER_BACKENDS = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")


class StoreBase(Strict):
    location_roles: ClassVar[dict[str, str]] = LOCATION_ROLES

    store: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$", description="unique store id")
    description: str | None = None
    schedule: Schedule = Schedule(every=timedelta(seconds=60))
    ledger: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite in the work folder"
    )
    timezone: str = Field(
        default="UTC", description="the store's time zone: its local times and daily logs"
    )
    enabled: bool = True
    log_folder: Location | None = Field(
        default=None,
        description="folder (a path or location) for a log file per day: STORE_YYYY-MM-DD.log",
    )
    log_keep: int = Field(
        default=30, ge=1, description="days of log files kept in log_folder; older ones removed"
    )

    @field_validator("timezone")
    @classmethod
    def _known_store_timezone(cls, name: str) -> str:
        return known_timezone(name)

    @field_validator("ledger")
    @classmethod
    def _ledger_is_a_url(cls, url: str | None) -> str | None:
        """A path is not a database URL: said by ``validate``, not by the first run."""
        if url is None:
            return None
        url = url.strip()
        if not _DATABASE_URL.match(url):
            path = url.removeprefix("file:") or "ledger.db"
            raise ValueError(
                f"'{url}' is not a database URL; for a SQLite file write sqlite:///{path}"
                " (three slashes, then the path; an absolute path brings its own fourth:"
                " sqlite:////srv/ledger.db), or postgresql://user@host/db"
            )
        backend = url.split("://", 1)[0].split("+", 1)[0].lower()
        if backend not in LEDGER_BACKENDS:
            raise ValueError(
                f"'{backend}://' is not a ledger database stockbridge can use; use"
                " sqlite:///path/ledger.db, postgresql://user@host/db or mysql://user@host/db"
            )
        return url

    @field_validator("store", mode="before")
    @classmethod
    def _explain_store(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.match(r"^[a-z0-9][a-z0-9._-]{0,62}$", value):
            raise ValueError(
                f"'{value}' is not a valid store id: use lower-case letters, digits, '.', '-'"
                " or '_' (like boutique-paris)"
            )
        return value


class FileIntake(StoreBase):
    """The keys of every integration that takes files from folders (InterStock's movement
    files, a till's journals): where they arrive, where they go, when they count as written.
    The shared applier (``tasks.apply``) reads exactly these."""

    imports: Annotated[list[Location], BeforeValidator(_as_list)] = Field(
        alias="import", min_length=1, description="folders scanned for input files"
    )
    errors: Location = Field(description="folder for one error file per input with problems")
    archive: Location | None = Field(
        default=None, description="folder for applied files; default: archive/ in the import"
    )
    settle: Settling = Settling()
    batch: Batching = Batching()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
