"""A Seliton store under test: a Warehouse Pro database, the contract fake, a store file.

Shared by tests/seliton, the kill campaign and the conformance suite. Checks read Warehouse
Pro and the ledger with plain SQL, behind stockbridge's back.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.pool import NullPool

from stockbridge.integrations.seliton.contract_fake import SelitonFake
from stockbridge.integrations.seliton.sample import SampleGood, build, read_goods
from tests.fixtures import IN_CI, MARIADB_ADMIN

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = read_goods(ROOT / "data_samples" / "seliton" / "goods.csv")
SECRET_VARIABLE = "SB_TEST_SELITON_SECRET"
SECRET = "s3cr3t-Kl0ch-" + uuid.uuid4().hex[:12]
"""A secret no output may ever hold (unique per session, so a match is no coincidence)."""
USERNAME = "admin"
os.environ[SECRET_VARIABLE] = SECRET


def sqlite_warehouse(folder: Path, goods: list[SampleGood] | None = None) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / f'warehouse-{uuid.uuid4().hex[:6]}.db'}"
    engine = sa.create_engine(url, poolclass=NullPool)
    build(engine, SAMPLE if goods is None else goods)
    engine.dispose()
    return url


@contextmanager
def mariadb_warehouse(goods: list[SampleGood] | None = None) -> Iterator[str]:
    """A Warehouse Pro database of its own on the MariaDB server, dropped afterwards."""
    name = f"warehouse_{uuid.uuid4().hex[:8]}"
    admin_url = MARIADB_ADMIN.replace("mysql://", "mysql+pymysql://", 1)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    except Exception as exc:
        message = f"MariaDB is not reachable ({type(exc).__name__})"
        if IN_CI:
            pytest.fail(f"{message}; database tests are mandatory in CI", pytrace=False)
        pytest.skip(message)
    url = admin_url.rstrip("/") + f"/{name}?charset=utf8mb4"
    engine = sa.create_engine(url, poolclass=NullPool)
    build(engine, SAMPLE if goods is None else goods)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


@dataclass
class Shop:
    """A Seliton store under test."""

    config: Path
    store: str
    ledger_url: str
    warehouse_url: str
    fake: SelitonFake
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def document(self) -> dict[str, Any]:
        return yaml.safe_load(self.config.read_text())

    def rewrite(self, **changes: Any) -> None:
        document = self.document
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(document.get(key), dict):
                document[key].update(value)
            else:
                document[key] = value
        self.config.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


def write_store(
    folder: Path,
    ledger_url: str,
    warehouse_url: str,
    shop_url: str,
    ca_file: Path | None,
    **overrides: Any,
) -> tuple[Path, str]:
    store = f"magazin-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True, exist_ok=True)
    shop: dict[str, Any] = {
        "url": shop_url,
        "username": USERNAME,
        "secret": "${" + SECRET_VARIABLE + "}",
        "timeout": 5,
        "max_wait": 1,
    }
    if ca_file is not None:
        shop["ca_file"] = str(ca_file)
    document: dict[str, Any] = {
        "store": store,
        "integration": "seliton",
        "ledger": ledger_url,
        "warehouse": warehouse_url,
        "operator": "1",
        "object": "Магазин 1",
        "groups": ["Сок"],
        "export": {"goods": True, "quantities": True, "visible": False, "on_start": True},
        "import": {"orders": True, "goods": False, "on_start": True},
        "document_type": "order",
        "shop": shop,
        "fiscal_device": "DY447824",
        "schedule": {"every": "5m"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(document.get(key), dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    path = folder / f"{store}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path, store


def new_fake(tls_material) -> SelitonFake:
    fake = SelitonFake(USERNAME, SECRET, tls_material.cert_file, tls_material.key_file)
    fake.start()
    return fake


class Warehouse:
    """Warehouse Pro read with plain SQL."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(url, poolclass=NullPool)

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.text(sql), params))

    def orders(self) -> list[Any]:
        """Imported orders as Warehouse Pro has them: number, УНП, document, line count."""
        return self.rows(
            "SELECT k.OrderNumber AS order_id, k.UNP AS unp, k.Acct AS acct,"
            " (SELECT COUNT(*) FROM documents d WHERE d.Acct = k.Acct"
            "  AND d.OperType = k.OperType) AS heads,"
            " (SELECT COUNT(*) FROM operations o WHERE o.Acct = k.Acct"
            "  AND o.OperType = k.OperType) AS line_count"
            " FROM stockbridge_seliton k ORDER BY k.OrderNumber"
        )

    def documents_by_reason(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for row in self.rows("SELECT Reason FROM documents WHERE Reason LIKE 'Seliton %'"):
            found[row.Reason] = found.get(row.Reason, 0) + 1
        return found

    def text_values(self) -> list[str]:
        values = []
        inspector = sa.inspect(self.engine)
        for table in inspector.get_table_names():
            columns = [
                c["name"]
                for c in inspector.get_columns(table)
                if isinstance(c["type"], sa.String | sa.Text)
            ]
            if columns:
                for row in self.rows(f"SELECT {', '.join(columns)} FROM {table}"):
                    values.extend(str(v) for v in row if v is not None)
        return values


def ledger_rows(url: str, sql: str, **params: Any) -> list[Any]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(sql), params))
    finally:
        engine.dispose()
