"""Fixtures for every test: real servers (tests/servers.py), shared set-up (tests/fixtures.py).

tests.fixtures comes first: it isolates STOCKBRIDGE_HOME and PREFECT_HOME before Prefect loads.
"""

from tests.fixtures import *  # noqa: F403
from tests.servers import *  # noqa: F403
