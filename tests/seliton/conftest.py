"""Fixtures of the Seliton tests: the contract fake over HTTPS with the test CA, a Warehouse
Pro database on MariaDB (and SQLite), a store file tying them to a ledger."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.seliton.store import Shop, mariadb_warehouse, new_fake, sqlite_warehouse, write_store


@pytest.fixture
def fake(tls_material) -> Iterator:
    shop = new_fake(tls_material)
    yield shop
    shop.stop()


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_warehouse(tmp_path / "warehouse")
        return
    with mariadb_warehouse() as url:
        yield url


@pytest.fixture
def sqlite_warehouse_url(tmp_path: Path) -> str:
    """For behaviour that does not depend on the database (the shop's faults, visibility)."""
    return sqlite_warehouse(tmp_path / "warehouse")


@pytest.fixture
def mariadb_warehouse_url() -> Iterator[str]:
    with mariadb_warehouse() as url:
        yield url


@pytest.fixture
def make_shop(tmp_path: Path, sqlite_url: str, fake, tls_material) -> Callable[..., Shop]:
    def factory(warehouse_url: str, ledger_url: str | None = None, **overrides) -> Shop:
        ledger = ledger_url or sqlite_url
        path, store = write_store(
            tmp_path / "stores", ledger, warehouse_url, fake.url, tls_material.ca_file, **overrides
        )
        return Shop(path, store, ledger, warehouse_url, fake)

    return factory


@pytest.fixture
def run(prefect_harness):
    """A store file run to its end in this process: its RunSummary."""
    from stockbridge.cli import run_store

    return lambda shop: run_store(shop.config, "seliton")
