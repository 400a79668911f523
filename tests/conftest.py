"""Fixtures for every test: real servers (tests/servers.py) and shared set-up (tests/fixtures.py)."""

from tests.fixtures import *  # noqa: F403  (first: it isolates STOCKBRIDGE_HOME and PREFECT_HOME)
from tests.servers import *  # noqa: F403
