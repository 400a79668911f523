"""A chain under test: HQ's central database, HQ's own till, stores' tills, their store files.

Everything is real: the databases are the machine's SQLite files, PostgreSQL and MariaDB
(one fresh database per till or HQ), the runs are the ``chain`` flow's. The checks read the
databases with plain SQL behind stockbridge's back.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.pool import NullPool

from stockbridge.integrations.chain.config import Database
from stockbridge.integrations.chain.database import open_engine
from stockbridge.integrations.chain.profile import load_profile, profile_path
from stockbridge.integrations.chain.simulator import Till
from tests.fixtures import IN_CI, MARIADB_ADMIN, POSTGRES_ADMIN

PROFILE = load_profile(profile_path("reference-till").absolute())


class Databases:
    """Fresh databases on demand (``sqlite``, ``mariadb``, ``postgresql``), dropped after."""

    def __init__(self, root: Path):
        self.root = root
        self.made: list[tuple[str, str]] = []

    def new(self, kind: str, name: str) -> str:
        unique = f"sbchain_{name}_{uuid.uuid4().hex[:6]}"
        if kind == "sqlite":
            return f"sqlite:///{self.root / (unique + '.db')}"
        admin = self._admin(kind)
        try:
            with admin.connect() as connection:
                extra = " CHARACTER SET utf8mb4" if kind == "mariadb" else ""
                connection.exec_driver_sql(f"CREATE DATABASE {unique}{extra}")
                if kind == "mariadb":
                    connection.commit()
        except sa.exc.OperationalError as exc:
            message = f"{kind} is not reachable ({str(exc).splitlines()[0]})"
            if IN_CI:
                pytest.fail(f"{message}; database tests are mandatory in CI", pytrace=False)
            pytest.skip(message)
        finally:
            admin.dispose()
        self.made.append((kind, unique))
        if kind == "mariadb":
            return MARIADB_ADMIN.rstrip("/") + f"/{unique}?charset=utf8mb4"
        return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{unique}"

    @staticmethod
    def _admin(kind: str) -> sa.Engine:
        if kind == "mariadb":
            return sa.create_engine(MARIADB_ADMIN.replace("mysql://", "mysql+pymysql://", 1))
        url = POSTGRES_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1)
        return sa.create_engine(url, isolation_level="AUTOCOMMIT")

    def drop_all(self) -> None:
        for kind, name in self.made:
            admin = self._admin(kind)
            try:
                with admin.connect() as connection:
                    force = " WITH (FORCE)" if kind == "postgresql" else ""
                    connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
                    if kind == "mariadb":
                        connection.commit()
            finally:
                admin.dispose()


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[Databases]:
    made = Databases(tmp_path)
    yield made
    made.drop_all()


@dataclass
class Chain:
    root: Path
    hq_url: str
    ledger_url: str
    configs: dict[str, Path]
    tills: dict[str, Till]
    till_urls: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def hq(self) -> sa.Engine:
        return sa.create_engine(Database(url=self.hq_url).sqlalchemy_url(), poolclass=NullPool)

    def hq_rows(self, table: str, where: str = "", **params) -> list[dict]:
        engine = self.hq()
        try:
            with engine.connect() as connection:
                sql = f"SELECT * FROM {table}" + (f" WHERE {where}" if where else "")
                return [dict(r._mapping) for r in connection.execute(sa.text(sql), params)]
        finally:
            engine.dispose()

    def ledger(self) -> sa.Engine:
        return sa.create_engine(Database(url=self.ledger_url).sqlalchemy_url(), poolclass=NullPool)

    def stock(self, store: str) -> dict[str, int]:
        engine = self.ledger()
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    sa.text("SELECT reference, on_hand FROM stock WHERE store = :s"), {"s": store}
                )
                return {r.reference: int(r.on_hand) for r in rows if int(r.on_hand) != 0}
        finally:
            engine.dispose()

    def rewrite(self, store: str, **changes: Any) -> None:
        path = self.configs[store]
        document = yaml.safe_load(path.read_text())
        document.update(changes)
        path.write_text(yaml.safe_dump(document, sort_keys=False))


def make_chain(
    root: Path,
    databases: Databases,
    hq_kind: str = "sqlite",
    till_kind: str = "sqlite",
    stores: tuple[str, ...] = ("lyon", "paris"),
    ledger_url: str | None = None,
    **overrides: Any,
) -> Chain:
    hq_url = databases.new(hq_kind, "hq")
    ledger_url = ledger_url or f"sqlite:///{root / 'ledger.db'}"
    configs, tills, urls = {}, {}, {}
    for store in ("hq", *stores):
        url = databases.new(till_kind if store != "hq" else "sqlite", f"till_{store}")
        urls[store] = url
        engine = open_engine(Database(url=url), "till")
        tills[store] = Till(engine, PROFILE, store)
        document: dict[str, Any] = {
            "store": store,
            "integration": "chain",
            "till": url,
            "hq": hq_url,
            "ledger": ledger_url,
            "schedule": {"every": "30s"},
            # the till's clock is the simulated till PC's (its clock_offset), as stamped
            "till_clock": Till.clock_query(Database(url=url).backend),
        }
        if store == "hq":
            document.update(role="hq", stores=list(stores))
        document.update(overrides.get(store, {}))
        path = root / f"chain-{store}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        configs[store] = path
    return Chain(root, hq_url, ledger_url, configs, tills, urls)


def run(config: Path, only: str | None = None):
    """A store file run to its end in the test process: its RunSummary."""
    from flows.chain import chain

    state = chain(config_path=str(config), only=only, return_state=True)
    return state.result(raise_on_failure=False)


def env_without_secrets() -> dict[str, str]:
    return dict(os.environ)
