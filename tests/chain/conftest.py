"""The chain's tests run real flows on the session's Prefect test server."""

import pytest

from tests.chain.chain_store import databases  # noqa: F401


@pytest.fixture(autouse=True)
def _prefect(prefect_harness) -> None:
    """Every run here is a real Prefect flow run."""
