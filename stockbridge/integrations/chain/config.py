"""The chain's store file: a store's till database, HQ's database, the profile of what is
synced, what the store receives. HQ has a store file too (``role: hq``): its own till
database is where articles and keyboards are edited, and it lists the chain's stores."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from stockbridge.config.locations import expand_path
from stockbridge.config.models import Schedule, StoreBase, Strict
from stockbridge.errors import ConfigError
from stockbridge.integrations.chain.profile import Profile, load_profile, profile_path

SCHEMES = ("sqlite", "mysql", "mariadb", "postgresql")


class Database(Strict):
    """A database: a SQLAlchemy URL, or a mapping with the URL and its credentials.

    In YAML either ``mysql://till@10.0.0.5:2618/clyo`` or ``{url: ..., username: ...,
    password: ${HQ_PASSWORD}, ca_file: hq-ca.pem}``. A password inside the URL is refused, so
    :attr:`display` can be shown anywhere.
    """

    url: str = Field(description="SQLAlchemy URL: sqlite:///file, mysql://host:port/db, ...")
    username: str | None = Field(default=None, description="user name (instead of in the URL)")
    password: SecretStr | None = Field(default=None, description="as ${ENV}, never in the URL")
    ca_file: str | None = Field(default=None, description="CA bundle: connect with TLS, verified")
    verify: bool = Field(default=True, description="verify the server's TLS certificate")
    timeout: float = Field(default=15.0, gt=0, description="seconds to connect before failing")

    @classmethod
    def coerce(cls, value: object) -> object:
        return {"url": value} if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            parsed = make_url(value.strip())
        except ArgumentError:
            raise ValueError(
                f"'{value}' is not a database URL; write it like sqlite:///till.db,"
                " mysql://user@host:2618/db or postgresql://user@host/db"
            ) from None
        if parsed.get_backend_name() not in SCHEMES:
            raise ValueError(f"database '{parsed.drivername}' is not one of {', '.join(SCHEMES)}")
        if parsed.password:
            raise ValueError(
                "has a password inside the URL; move it to the 'password' key as"
                " password: ${ENV_VAR} so it never shows in logs"
            )
        return value.strip()

    @field_validator("ca_file")
    @classmethod
    def _ca_exists(cls, value: str | None) -> str | None:
        if value is not None and not expand_path(value).is_file():
            raise ValueError(f"no such file: {expand_path(value)}")
        return value

    @model_validator(mode="after")
    def _credentials_fit(self) -> Database:
        if self.backend == "sqlite" and (self.password or self.username or self.ca_file):
            raise ValueError(
                "an SQLite database is a file: it takes no username, password or ca_file"
            )
        return self

    @property
    def backend(self) -> str:
        name = make_url(self.url).get_backend_name()
        return "mysql" if name == "mariadb" else name

    @property
    def display(self) -> str:
        """Where it is, without user or password: for messages, logs and the ledger."""
        parsed = make_url(self.url)
        if parsed.get_backend_name() == "sqlite":
            return f"sqlite:///{parsed.database}"
        host = parsed.host or "localhost"
        port = f":{parsed.port}" if parsed.port else ""
        return f"{parsed.get_backend_name()}://{host}{port}/{parsed.database or ''}"

    def sqlalchemy_url(self) -> URL:
        parsed = make_url(self.url)
        backend = parsed.get_backend_name()
        if backend == "postgresql" and "+" not in parsed.drivername:
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif backend in ("mysql", "mariadb") and "+" not in parsed.drivername:
            parsed = parsed.set(drivername=f"{backend}+pymysql")
        if self.username is not None:
            parsed = parsed.set(username=self.username)
        if self.password is not None:
            parsed = parsed.set(password=self.password.get_secret_value())
        return parsed

    def connect_args(self) -> dict[str, Any]:
        backend = self.backend
        if backend == "sqlite":
            return {"timeout": self.timeout}
        args: dict[str, Any] = {"connect_timeout": max(1, int(self.timeout))}
        if self.ca_file is None:
            return args
        ca = str(expand_path(self.ca_file))
        if backend == "postgresql":
            args.update(sslmode="verify-full" if self.verify else "require", sslrootcert=ca)
        else:
            args["ssl"] = {"ca": ca, "check_hostname": self.verify}
            if not self.verify:
                args["ssl"]["verify_mode"] = 0  # ssl.CERT_NONE, asked for in the store file
        return args


DatabaseField = Annotated[Database, BeforeValidator(Database.coerce)]


class Receive(Strict):
    """What a store takes from HQ for rows it already has (new rows always get HQ's)."""

    prices: bool = Field(default=True, description="false: existing articles keep their prices")
    printers: bool = Field(
        default=True, description="false: existing articles and printers keep their printers"
    )


class ChainConfig(StoreBase):
    integration: Literal["chain"] = Field(description="chain: a store of a chain, or its HQ")
    role: Literal["store", "hq"] = Field(
        default="store", description="store (the default) or hq: the head office itself"
    )
    till: DatabaseField = Field(description="this store's till database")
    hq: DatabaseField | None = Field(
        default=None, description="the head office's central database (required to sync)"
    )
    hq_store: str = Field(
        default="hq", description="the HQ's store id: local and HQ must agree on it"
    )
    till_store: str | None = Field(
        default=None,
        description="this store's id as the till writes it in its rows (default: store)",
    )
    profile: str = Field(
        default="reference-till", description="a shipped profile's name or a profile YAML file"
    )
    receive: Receive = Receive()
    stores: list[str] = Field(
        default_factory=list, description="hq only: the chain's stores, registered at HQ"
    )
    batch_rows: int = Field(
        default=5000, ge=1, le=100_000, description="rows per HQ or till transaction"
    )
    gap_window: int = Field(
        default=100_000,
        ge=1,
        description="ids below the highest sent within which a missing id is waited for",
    )
    till_clock: str | None = Field(
        default=None,
        description="an SQL query run in the till database returning the clock the till stamps"
        " its rows with (default: the database's own, see TILL_CLOCK); rows found by a"
        " modification time are re-read further back when that clock was set back",
    )
    schedule: Schedule = Schedule(every=timedelta(seconds=30))

    @field_validator("profile")
    @classmethod
    def _profile_loads(cls, value: str) -> str:
        path = profile_path(value)
        if not path.exists():
            raise ValueError(
                f"no profile '{value}': give reference-till or the path of a profile YAML file"
            )
        try:
            load_profile(path.absolute())
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _roles(self) -> ChainConfig:
        if self.role == "store" and self.stores:
            raise ValueError("'stores' belongs in HQ's store file (role: hq) only")
        if self.role == "hq" and self.store != self.hq_store:
            raise ValueError(
                f"HQ's store id is '{self.store}' but hq_store says '{self.hq_store}';"
                " make them equal"
            )
        return self

    def load_profile(self) -> Profile:
        return load_profile(profile_path(self.profile).absolute())

    @property
    def till_store_id(self) -> str:
        return self.till_store or self.store


def profile_file(config: ChainConfig) -> Path:
    return profile_path(config.profile).absolute()
