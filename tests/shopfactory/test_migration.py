"""Migration 0008 (ShopFactory's levels and publications), both ways on the three databases."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import command

from stockbridge.ledger.database import create_ledger_engine, migrate
from stockbridge.ledger.tables import shopfactory_levels, shopfactory_publications
from tests.test_migrations import _alembic, empty_ledger_url  # noqa: F401 (a fixture)

WHEN = datetime(2026, 12, 1, 9, 30)
TABLES = {"shopfactory_levels", "shopfactory_publications"}


def test_0008_up_down_up_keeps_skus_exact(empty_ledger_url):  # noqa: F811 (the fixture)
    engine = create_ledger_engine(empty_ledger_url)
    try:
        migrate(engine)
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
        skus = ["P1_red_17", "p1_red_17", "P1_RED_17 ", "É-1", "é-1"]  # distinct keys everywhere
        with engine.begin() as connection:
            connection.execute(
                shopfactory_levels.insert(),
                [
                    {"store": "web", "reference": s, "seen": i, "updated_at": WHEN}
                    for i, s in enumerate(skus)
                ],
            )
            connection.execute(
                shopfactory_publications.insert().values(
                    store="web",
                    generation=1,
                    digest="d" * 64,
                    observed_digest="o" * 64,
                    state="published",
                    location="/srv/shop/levels.txt",
                    skus=5,
                    run_id="run",
                    prepared_at=WHEN,
                )
            )
            stored = connection.execute(
                sa.select(shopfactory_levels.c.reference, shopfactory_levels.c.seen)
            ).all()
        assert {r: s for r, s in stored} == {s: i for i, s in enumerate(skus)}

        _alembic(engine, command.downgrade, "0005")
        assert not TABLES & set(sa.inspect(engine).get_table_names())
        _alembic(engine, command.upgrade, "head")
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as connection:
            assert (
                connection.execute(
                    sa.select(sa.func.count()).select_from(shopfactory_levels)
                ).scalar()
                == 0
            )
    finally:
        engine.dispose()
