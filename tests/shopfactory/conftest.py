"""Fixtures of the ShopFactory tests: real Prefect runs, the HTTPS test server, the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.shopfactory.servers import https_server  # noqa: F401 (a fixture)
from tests.shopfactory.shop import Ledger


@pytest.fixture(autouse=True)
def _prefect(prefect_harness) -> None:
    """Every run here is a real Prefect flow run on the session's test server."""


@pytest.fixture
def run():
    from stockbridge.cli import run_store

    def run_once(config: Path):
        return run_store(config, "shopfactory")

    return run_once


@pytest.fixture
def ledger_of() -> Iterator:
    opened: list[Ledger] = []

    def open_ledger(url: str) -> Ledger:
        opened.append(Ledger(url))
        return opened[-1]

    yield open_ledger
    for ledger in opened:
        ledger.close()
