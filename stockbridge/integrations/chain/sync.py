"""One run of a chain store: checks, HQ's jobs, push, pull, stock, the per-entity report.

A poison row stops only its entity: the others go on, and the run then fails with the
sentence naming that row (its history entry keeps it).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from stockbridge.context import RunContext
from stockbridge.errors import ConfigError, StockbridgeError
from stockbridge.integrations.chain.checks import checks
from stockbridge.integrations.chain.database import ChainError
from stockbridge.integrations.chain.jobs import RESEND_STOCK, finish_job, waiting_jobs
from stockbridge.integrations.chain.profile import Entity
from stockbridge.integrations.chain.pull import pull_entity, reset_pull
from stockbridge.integrations.chain.push import push_entity
from stockbridge.integrations.chain.session import Chain, Poison, key_text, raw_text, utc_now
from stockbridge.integrations.chain.stock import INTEGRATION, apply_stock
from stockbridge.ledger.ledger import NewDocument
from stockbridge.ledger.tables import cursors
from stockbridge.runtime import bulk_rows

SKIP_PREFIX = "skip:"


def parse_only(only: str | None, chain: Chain) -> tuple[str, str] | None:
    if not only:
        return None
    action, _, name = only.partition(":")
    if action not in ("push", "pull") or not name:
        raise ConfigError(f"--only '{only}' is not ACTION:ENTITY, like push:customers")
    entity = chain.profile.entity(name)
    allowed = _pushed(chain) if action == "push" else _pulled(chain)
    if entity not in allowed:
        raise ConfigError(f"a {chain.config.role} does not {action} {name}")
    return action, name


def _pushed(chain: Chain) -> list[Entity]:
    if chain.config.role == "hq":
        return list(chain.profile.entities)
    return [e for e in chain.profile.entities if e.direction in ("up", "both")]


def _pulled(chain: Chain) -> list[Entity]:
    if chain.config.role == "hq":
        return [e for e in chain.profile.entities if e.direction == "both"]
    return [e for e in chain.profile.entities if e.direction in ("down", "both")]


def register_chain(chain: Chain) -> None:
    """HQ's run records the chain's stores and itself as HQ."""
    stores = chain.hq_tables["sb_stores"]
    wanted = {s: "store" for s in chain.config.stores} | {chain.store: "hq"}
    with chain.hq.begin() as connection:
        known = dict(connection.execute(sa.select(stores.c.store, stores.c.role)).all())
        for store, role in wanted.items():
            if store not in known:
                connection.execute(
                    stores.insert().values(store=store, role=role, registered_at=utc_now())
                )
            elif known[store] != role:
                connection.execute(stores.update().where(stores.c.store == store).values(role=role))


def sync(ctx: RunContext, config_path: str, only: str | None = None) -> None:
    start_checks_at(ctx, config_path)
    chain = Chain.open(ctx.config, config_path)
    try:
        if chain.config.role == "hq":
            register_chain(chain)
        target = parse_only(only, chain)
        stopped: list[Poison] = []
        jobs = [] if target else waiting_jobs(chain.hq, chain.hq_tables, chain.store)
        resend = False
        for job in jobs:
            if job.what == RESEND_STOCK:
                resend = True
            else:
                reset_pull(chain, chain.profile.entity(job.what))
        if resend:
            _reset_stock_levels(chain)
        with bulk_rows():
            moved, phases = _exchange(ctx, chain, target, stopped)
        for job in jobs:
            report = chain.reports.get(job.what if job.what != RESEND_STOCK else "stock_levels")
            finish_job(chain.hq, chain.hq_tables, job, report.line() if report else "done")
        summary = ctx.summary
        reports = list(chain.reports.values())
        summary.headline_text = (
            f"{sum(r.sent for r in reports)} row(s) sent to HQ,"
            f" {sum(r.received for r in reports)} received,"
            f" {sum(r.skipped for r in reports)} kept by opt-outs,"
            f" {sum(r.conflicts for r in reports)} conflict(s) resolved"
        )
        lines = [r.line() for r in reports]
        summary.notes.extend(line for line in lines if not line.endswith(": nothing new"))
        if not summary.notes:
            summary.notes.append("nothing new either way")
        if moved:
            summary.notes.append(f"{moved} stock movement(s) applied to the chain's ledger")
        if any(r.sent or r.received for r in reports) or moved:
            summary.notes.append(
                "time spent: push {:.2f} s, pull {:.2f} s, ledger stock {:.2f} s".format(*phases)
            )
        if jobs:
            summary.notes.append(
                f"{len(jobs)} job(s) from HQ done: " + ", ".join(j.what for j in jobs)
            )
        if stopped:
            more = (
                f" ({len(stopped) - 1} more stopped entity(ies) in the notes)"
                if len(stopped) > 1
                else ""
            )
            raise ChainError(str(stopped[0]) + more)
    finally:
        chain.close()


def _exchange(
    ctx: RunContext, chain: Chain, target: tuple[str, str] | None, stopped: list[Poison]
) -> tuple[int, tuple[float, float, float]]:
    """Push, pull, then the ledger's stock; returns the movements applied and each phase's
    seconds (the run's notes say where its time went)."""
    skips = skipped_rows(ctx)
    refused = _refusal_recorder(ctx, chain)
    started = time.perf_counter()
    for entity in _pushed(chain):
        if target and target != ("push", entity.name):
            continue
        try:
            push_entity(chain, entity, refused, skips)
        except Poison as poison:
            stopped.append(poison)
            _record_poison(ctx, chain, poison)
    pushed_at = time.perf_counter()
    for entity in _pulled(chain):
        if target and target != ("pull", entity.name):
            continue
        if target:
            reset_pull(chain, entity)
        pull_entity(chain, entity)
    pulled_at = time.perf_counter()
    moved = 0
    for entity in chain.profile.entities:
        if entity.stock is not None and entity in _pushed(chain):
            moved += apply_stock(chain, ctx.ledger, ctx.run_id, entity)
    return moved, (pushed_at - started, pulled_at - pushed_at, time.perf_counter() - pulled_at)


def start_checks_at(ctx: RunContext, config_path: str) -> None:
    for check in checks(ctx.config, config_path):
        if not check.ok:
            raise ChainError(f"{check.name}: {check.detail}")


def _reset_stock_levels(chain: Chain) -> None:
    acks = chain.hq_tables["sb_acks"]
    with chain.hq.begin() as connection:
        connection.execute(
            acks.update()
            .where(acks.c.store == chain.store, acks.c.entity == "stock_levels")
            .values(mark=None)
        )
        table = chain.hq_tables.get("stock_levels")
        if table is not None:
            connection.execute(table.delete().where(table.c.sb_store == chain.store))


def skipped_rows(ctx: RunContext) -> dict[str, set[str]]:
    """Rows skipped with ``stockbridge chain skip``, by entity (cursors ``skip:ENTITY:KEY``)."""
    found: dict[str, set[str]] = {}
    with ctx.ledger.reading() as connection:
        names = connection.execute(
            sa.select(cursors.c.name).where(
                cursors.c.store == ctx.store,
                cursors.c.integration == INTEGRATION,
                cursors.c.name.startswith(SKIP_PREFIX),
            )
        ).scalars()
        for name in names:
            entity, _, key = name.removeprefix(SKIP_PREFIX).partition(":")
            found.setdefault(entity, set()).add(key)
    return found


def _reject_document(ctx: RunContext, entity: str, key: str, raw: str, reason: str) -> None:
    """One ledger document per refused row, named by entity and key, with its reject."""
    batch_id = hashlib.sha256(
        f"chain\0{ctx.store}\0{entity}\0{key}\0{reason}".encode()
    ).hexdigest()[:32]
    if ctx.ledger.known_documents(ctx.store, [batch_id]):
        return
    line = int(key) if key.isdigit() and len(key) < 18 else 0
    with ctx.ledger.batch(ctx.store, INTEGRATION, ctx.run_id) as batch:
        batch.add_documents(
            [
                NewDocument(
                    batch_id, f"chain:{ctx.store}", f"{entity} {key}", batch_id, status="rejected"
                )
            ]
        )
        batch.add_rejects(
            pa.array([batch_id]),
            pa.array([line], pa.int64()),
            pa.array([raw[:500]]),
            pa.array([f"{entity} {key}: {reason}"]),
        )


def _refusal_recorder(ctx: RunContext, chain: Chain):
    def record(entity: Entity, rows: list[tuple[dict[str, Any], str]]) -> None:
        for row, reason in rows:
            values = {c: row[c] for c in entity.columns}
            _reject_document(ctx, entity.name, key_text(entity, row), raw_text(values), reason)

    return record


def _record_poison(ctx: RunContext, chain: Chain, poison: Poison) -> None:
    with contextlib.suppress(StockbridgeError):
        _reject_document(ctx, poison.entity, str(poison.key), raw_text(poison.values), poison.why)
