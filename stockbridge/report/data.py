"""The report's figures, from the ledger: a few grouped queries, days bucketed in Python in
the store's time zone (the ledger's times are naive UTC)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from stockbridge.ledger.tables import documents, movements, runs, stock
from stockbridge.schema import MovementKind

MOST_MOVED = 5
"""Articles charted when none is chosen: the ones with the most movements in the window."""


@dataclass
class ReportData:
    store: str
    timezone: str
    days: list[str]
    """Each day of the window, oldest first, ``YYYY-MM-DD`` in the store's time zone."""
    stock: dict[str, list[float]] = field(default_factory=dict)
    """Reference -> available quantity at the end of each day (units, not thousandths)."""
    lines_applied: list[int] = field(default_factory=list)
    lines_rejected: list[int] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    generated: str = ""


def gather(
    ledger,
    store: str,
    days: int = 30,
    references: list[str] | None = None,
    timezone: str = "UTC",
    now: datetime | None = None,
) -> ReportData:
    zone = ZoneInfo(timezone)
    now = now or datetime.now(UTC)
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    start_local = datetime.combine(first, datetime.min.time(), zone)
    since = start_local.astimezone(UTC).replace(tzinfo=None)
    day_list = [first + timedelta(days=n) for n in range(days)]
    index = {day: n for n, day in enumerate(day_list)}

    def day_of(moment: datetime) -> int | None:
        return index.get(moment.replace(tzinfo=UTC).astimezone(zone).date())

    data = ReportData(store, timezone, [f"{d:%Y-%m-%d}" for d in day_list])
    data.generated = f"{now.astimezone(zone):%Y-%m-%d %H:%M} ({timezone})"
    with ledger.reading() as connection:
        applied, rejected = Counter(), Counter()
        for row in connection.execute(
            select(
                documents.c.applied_at, documents.c.lines_applied, documents.c.lines_rejected
            ).where(documents.c.store == store, documents.c.applied_at >= since)
        ):
            n = day_of(row.applied_at)
            if n is not None:
                applied[n] += row.lines_applied
                rejected[n] += row.lines_rejected
        data.lines_applied = [applied[n] for n in range(days)]
        data.lines_rejected = [rejected[n] for n in range(days)]

        started, failed = Counter(), Counter()
        for row in connection.execute(
            select(runs.c.started_at, runs.c.state).where(
                runs.c.store == store, runs.c.started_at >= since
            )
        ):
            n = day_of(row.started_at)
            if n is not None:
                started[n] += 1
                failed[n] += row.state == "failed"
        data.runs = [started[n] for n in range(days)]
        data.failures = [failed[n] for n in range(days)]

        moved = (
            select(
                movements.c.reference,
                documents.c.applied_at,
                movements.c.kind,
                movements.c.quantity,
            )
            .join(documents, documents.c.id == movements.c.document_id)
            .where(movements.c.store == store, documents.c.applied_at >= since)
        )
        if references is None:
            top = (
                select(movements.c.reference, func.count().label("n"))
                .join(documents, documents.c.id == movements.c.document_id)
                .where(movements.c.store == store, documents.c.applied_at >= since)
                .group_by(movements.c.reference)
                .order_by(func.count().desc(), movements.c.reference)
                .limit(MOST_MOVED)
            )
            references = [row.reference for row in connection.execute(top)]
        if not references:
            return data
        current = {
            row.reference: row.available
            for row in connection.execute(
                select(
                    stock.c.reference, (stock.c.on_hand - stock.c.reserved).label("available")
                ).where(stock.c.store == store, stock.c.reference.in_(references))
            )
        }
        reserving = {k.value for k in MovementKind if k.changes_reserved}
        per_day: dict[str, Counter] = defaultdict(Counter)
        for row in connection.execute(moved.where(movements.c.reference.in_(references))):
            n = day_of(row.applied_at)
            if n is not None:
                effect = -row.quantity if row.kind in reserving else row.quantity
                per_day[row.reference][n] += effect
    for reference in references:
        balance = current.get(reference, 0) - sum(per_day[reference].values())
        series = []
        for n in range(days):
            balance += per_day[reference][n]
            series.append(balance / 1000)
        data.stock[reference] = series
    return data
