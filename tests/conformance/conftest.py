"""The conformance suite's fixtures: one test per integration of the registry, a Prefect server.

``adapter`` is parametrised over :func:`stockbridge.integrations.integrations`, so a new
integration is tested as soon as it is registered, and fails until it has an adapter in
``tests/conformance/adapters.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from stockbridge.integrations import integrations
from tests.conformance.adapters import ADAPTERS, OWN_SUITES, Adapter, LedgerReader
from tests.faults.harness import kill_leftovers


@pytest.fixture(autouse=True)
def _prefect(prefect_harness) -> None:
    """Every run here is a real Prefect flow run on the session's test server."""


@pytest.fixture(params=sorted(integrations()))
def adapter(request: pytest.FixtureRequest) -> Adapter:
    name = request.param
    if name in OWN_SUITES:
        suite = Path(__file__).parent / f"{OWN_SUITES[name]}.py"
        if not suite.exists():
            pytest.fail(f"integration '{name}': its suite {suite} is missing", pytrace=False)
        pytest.skip(f"'{name}' takes no files: its own suite {suite.name} proves the same")
    if name not in ADAPTERS:
        pytest.fail(
            f"integration '{name}' has no conformance adapter: add one to"
            " tests/conformance/adapters.py",
            pytrace=False,
        )
    return ADAPTERS[name]


@pytest.fixture
def run():
    """A store file run to its end in the test process: its RunSummary."""
    from stockbridge.cli import run_store

    def run_once(config: Path):
        integration = yaml.safe_load(config.read_text())["integration"]
        return run_store(config, integration)

    return run_once


@pytest.fixture
def cli_env(prefect_harness) -> dict[str, str]:
    """The environment of a ``stockbridge run`` subprocess: the session's Prefect server."""
    import prefect.settings

    env = dict(os.environ)
    env["PREFECT_API_URL"] = prefect.settings.PREFECT_API_URL.value()
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("SB_TRACE", "SB_CRASH", "SB_PAUSE"):
        env.pop(name, None)
    return env


@pytest.fixture
def ledger(sqlite_url: str) -> Iterator[LedgerReader]:
    reader = LedgerReader(sqlite_url)
    yield reader
    reader.close()


@pytest.fixture(autouse=True)
def _no_run_left_behind() -> Iterator[None]:
    yield
    kill_leftovers()
