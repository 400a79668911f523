"""The start-up checks of the seed's utility, for ``stockbridge doctor`` and every run.

The till database reachable; the triggers of ``by: capture`` entities installed (without
them their changes are not recorded at all, so a run stops); HQ defined; HQ reachable; this
store known at HQ; local and HQ agree on which store is HQ (the HQ id in this store file
equals HQ's own).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from stockbridge.doctor import Check
from stockbridge.integrations.chain.capture import capture_checks
from stockbridge.integrations.chain.config import ChainConfig
from stockbridge.integrations.chain.database import ensure_hq_schema, open_engine
from stockbridge.ledger.database import describe


def checks(store: ChainConfig, path: Path | str) -> Iterator[Check]:
    till = open_engine(store.till, "till database")
    try:
        with till.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        yield Check("till database reachable", True, store.till.display)
        yield from capture_checks(store, str(path), till)
    except SQLAlchemyError as exc:
        yield Check(
            "till database reachable",
            False,
            f"cannot reach the till database {store.till.display}: {describe(exc)}; check"
            f" till: in {path}",
        )
    finally:
        till.dispose()
    if store.hq is None:
        yield Check("HQ defined", False, f"{path} has no hq: key; add HQ's database URL")
        return
    yield Check("HQ defined", True, store.hq.display)
    hq = open_engine(store.hq, "HQ database")
    try:
        try:
            tables = ensure_hq_schema(hq, store.load_profile())
        except Exception as exc:  # one sentence, whatever the driver raised
            yield Check(
                "HQ reachable",
                False,
                f"cannot reach HQ's database {store.hq.display}: {describe(exc)}; check the"
                " forwarded port, the user's grants and hq: in the store file",
            )
            return
        yield Check("HQ reachable", True, store.hq.display)
        stores = tables["sb_stores"]
        with hq.connect() as connection:
            roles = dict(connection.execute(sa.select(stores.c.store, stores.c.role)).all())
        if store.role == "hq":
            yield Check("store known at HQ", True, f"{len(roles)} store(s) registered")
        elif store.store in roles:
            yield Check("store known at HQ", True, f"'{store.store}' is registered")
        else:
            yield Check(
                "store known at HQ",
                False,
                f"HQ does not know store '{store.store}'; add it under stores: in HQ's store"
                " file and run HQ once",
            )
        heads = sorted(s for s, role in roles.items() if role == "hq")
        if store.role == "hq" and not heads:
            yield Check("HQ number agrees", True, f"'{store.store}' registers itself as HQ")
        elif heads == [store.hq_store]:
            yield Check("HQ number agrees", True, f"HQ is '{store.hq_store}' here and at HQ")
        else:
            shown = ", ".join(heads) or "none yet"
            yield Check(
                "HQ number agrees",
                False,
                f"this store file says HQ is '{store.hq_store}' but HQ's database says"
                f" {shown}; set hq_store: in {path} to HQ's store id",
            )
    except SQLAlchemyError as exc:
        yield Check("HQ reachable", False, f"HQ's database failed: {describe(exc)}")
    finally:
        hq.dispose()
