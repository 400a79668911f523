"""Fixtures of the fault tests: the environment a ``stockbridge run`` subprocess gets."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.faults.harness import LedgerView, kill_leftovers


@pytest.fixture(scope="session")
def cli_env(prefect_harness) -> dict[str, str]:
    """The test session's environment, pointed at the session's Prefect test server (so a
    run does not start a temporary server of its own)."""
    import prefect.settings

    env = dict(os.environ)
    env["PREFECT_API_URL"] = prefect.settings.PREFECT_API_URL.value()
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("SB_TRACE", "SB_CRASH", "SB_PAUSE"):
        env.pop(name, None)
    return env


@pytest.fixture
def view_of() -> Iterator:
    views: list[LedgerView] = []

    def open_view(url: str) -> LedgerView:
        views.append(LedgerView(url))
        return views[-1]

    yield open_view
    for view in views:
        view.close()


@pytest.fixture(autouse=True)
def _no_run_left_behind() -> Iterator[None]:
    """A test that fails half-way must not leave a paused or running CLI process."""
    yield
    kill_leftovers()
