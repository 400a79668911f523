"""Shared fixtures: isolated work folders, the three ledger databases, store files, Prefect.

Database tests talk to the real servers of this machine (PostgreSQL on 5432 with trust auth,
MariaDB on 3306 as root without password). Each test session gets its own databases, dropped
at the end. Under CI (``CI=true``) an unreachable server fails the run; elsewhere those
tests are skipped with the reason.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="stockbridge-tests-"))
os.environ["STOCKBRIDGE_HOME"] = str(_SESSION_HOME)
os.environ["PREFECT_HOME"] = str(_SESSION_HOME / "prefect")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

POSTGRES_ADMIN = os.environ.get(
    "STOCKBRIDGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN = os.environ.get("STOCKBRIDGE_TEST_MARIADB", "mysql://root@127.0.0.1:3306/")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

__all__ = [
    "ledger_url",
    "make_store",
    "mariadb_url",
    "postgres_url",
    "prefect_harness",
    "sqlite_url",
]


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable ({exc.__class__.__name__}: {str(exc).splitlines()[0]})"
    if IN_CI:
        pytest.fail(f"{message}; database tests are mandatory in CI", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    import sqlalchemy as sa

    name = f"stockbridge_test_{uuid.uuid4().hex[:8]}"
    admin_url = POSTGRES_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
    except Exception as exc:
        _unavailable("PostgreSQL on 127.0.0.1:5432", exc)
    yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    import sqlalchemy as sa

    name = f"stockbridge_test_{uuid.uuid4().hex[:8]}"
    admin_url = MARIADB_ADMIN.replace("mysql://", "mysql+pymysql://", 1)
    try:
        admin = sa.create_engine(admin_url)
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    except Exception as exc:
        _unavailable("MariaDB on 127.0.0.1:3306", exc)
    yield admin_url.rstrip("/") + f"/{name}?charset=utf8mb4"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on each ledger database. Stores are unique per test, so tests sharing a
    session database never see each other's rows."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    fixture = {"postgresql": "postgres_url", "mariadb": "mariadb_url"}[request.param]
    return request.getfixturevalue(fixture)


@pytest.fixture
def make_store(tmp_path: Path, sqlite_url: str) -> Callable[..., Path]:
    """Write a store file for an InterStock exchange under ``tmp_path``; returns its path.

    Keyword arguments override or add YAML keys. The exchange folders are created and the
    catalogue holds ``articles`` (a dict reference -> quantity text).
    """

    def factory(
        articles: dict[str, str] | None = None, name: str | None = None, **overrides: Any
    ) -> Path:
        store = name or f"store-{uuid.uuid4().hex[:8]}"
        root = tmp_path / store
        (root / "import").mkdir(parents=True, exist_ok=True)
        catalogue = root / "articles.tsv"
        if articles is None:
            articles = {"8880000000109": "1", "8880000000116": "5", "8880000000123": "7"}
        catalogue.write_text("".join(f"{ref}\t{qty}\n" for ref, qty in articles.items()))
        document: dict[str, Any] = {
            "store": store,
            "integration": "interstock",
            "schedule": {"every": "60s"},
            "ledger": sqlite_url,
            "catalogue": str(catalogue),
            "import": str(root / "import"),
            "export": str(root / "export" / "articles.txt"),
            "errors": str(root / "errors"),
            "settle": {"min_age": "0s", "recheck": "0s"},
        }
        document.update(overrides)
        path = root / f"{store}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    return factory


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A real Prefect server for the session (about 10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
