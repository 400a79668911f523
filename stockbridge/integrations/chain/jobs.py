"""HQ's job requests: "store X, pull the articles again", "resend your stock".

A job is a row of ``stockbridge_jobs`` at HQ: the store, what, when asked, by whom, its state
(``waiting``, ``done``), when it was done and its result. The store's next run does its
waiting jobs before anything else; a job is marked done only after its work committed, so a
run killed half way does it again (each job is a full re-pull or resend, harmless twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from stockbridge.errors import ConfigError
from stockbridge.integrations.chain.database import unreachable
from stockbridge.integrations.chain.profile import Profile
from stockbridge.integrations.chain.session import utc_now

RESEND_STOCK = "stock"
"""The one job that resends (the store's stock levels); every other names an entity to pull."""


def job_choices(profile: Profile) -> list[str]:
    pulled = [e.name for e in profile.entities if e.direction in ("down", "both")]
    return [*pulled, RESEND_STOCK]


@dataclass(frozen=True)
class Job:
    id: int
    store: str
    what: str
    requested_at: datetime
    state: str
    done_at: datetime | None
    result: str | None


def request_jobs(
    engine: Engine, tables: dict, profile: Profile, stores: list[str], what: list[str], by: str
) -> list[int]:
    known = job_choices(profile)
    unknown = [w for w in what if w not in known]
    if unknown:
        raise ConfigError(
            f"cannot ask stores for {', '.join(unknown)}; ask for any of: {', '.join(known)}"
        )
    registered = set(chain_stores(engine, tables))
    targets = sorted(registered) if stores == ["all"] else stores
    strangers = [s for s in targets if s not in registered]
    if strangers:
        raise ConfigError(
            f"store(s) {', '.join(strangers)} are not known at HQ; list them under stores: in"
            " HQ's store file and run HQ once"
        )
    now = utc_now()
    rows = [
        {"store": s, "what": w, "requested_at": now, "requested_by": by, "state": "waiting"}
        for s in targets
        for w in what
    ]
    try:
        with engine.begin() as connection:
            ids = []
            for row in rows:
                ids.append(
                    connection.execute(
                        tables["sb_jobs"].insert().values(**row)
                    ).inserted_primary_key[0]
                )
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc
    return ids


def chain_stores(engine: Engine, tables: dict) -> list[str]:
    stores = tables["sb_stores"]
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    sa.select(stores.c.store)
                    .where(stores.c.role == "store")
                    .order_by(stores.c.store)
                ).scalars()
            )
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc


def list_jobs(engine: Engine, tables: dict, store: str | None = None, limit: int = 50) -> list[Job]:
    jobs = tables["sb_jobs"]
    query = (
        sa.select(
            jobs.c.id,
            jobs.c.store,
            jobs.c.what,
            jobs.c.requested_at,
            jobs.c.state,
            jobs.c.done_at,
            jobs.c.result,
        )
        .order_by(jobs.c.id.desc())
        .limit(limit)
    )
    if store:
        query = query.where(jobs.c.store == store)
    try:
        with engine.connect() as connection:
            return [Job(*row) for row in connection.execute(query)]
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc


def waiting_jobs(engine: Engine, tables: dict, store: str) -> list[Job]:
    jobs = tables["sb_jobs"]
    query = (
        sa.select(
            jobs.c.id,
            jobs.c.store,
            jobs.c.what,
            jobs.c.requested_at,
            jobs.c.state,
            jobs.c.done_at,
            jobs.c.result,
        )
        .where(jobs.c.store == store, jobs.c.state == "waiting")
        .order_by(jobs.c.id)
    )
    try:
        with engine.connect() as connection:
            return [Job(*row) for row in connection.execute(query)]
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc


def finish_job(engine: Engine, tables: dict, job: Job, result: str) -> None:
    jobs = tables["sb_jobs"]
    try:
        with engine.begin() as connection:
            connection.execute(
                jobs.update()
                .where(jobs.c.id == job.id)
                .values(state="done", done_at=utc_now(), result=result[:2000])
            )
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from exc
