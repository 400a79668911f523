"""The owner's answers, applied in the ledger: link, create an item, ignore, unlink.

Each answer is one transaction under the cellar's lock (the one its runs take), recorded as
a document of its own (``links: …`` with who answered, and when): the link row, any item it
creates, the movements of the held sales it applies and the stock they move commit together
or not at all, so an answer killed at any instant is either wholly there or not at all, and
repeating it finds the link made. Unlinking writes reversal movements (the sales stay in the
audit trail beside them) and holds the code's lines again.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
import time
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, and_, func, select, update

from stockbridge.errors import StockbridgeError, StoreBusyError
from stockbridge.integrations.pointex.mapping import Link, apply_linked
from stockbridge.ledger.ledger import Batch, Ledger, NewDocument, utc_now
from stockbridge.ledger.tables import held_lines, items, links, movements, stock
from stockbridge.movements import Document, decimal_to_quantities, movement_table
from stockbridge.schema import MovementKind

INTEGRATION = "pointex"
SOURCE = "pointex:links"
LOCK_WAIT = 30.0
"""Seconds an answer waits for a journal run of the same cellar to finish."""


class LinkError(StockbridgeError):
    """An answer that cannot be applied as given; the message says what to do."""


@dataclass
class Waiting:
    till_reference: str
    labels: list[str]
    quantity: int
    amount: int | None
    lines: int
    currency: str | None = None
    suggestions: list = field(default_factory=list)


@dataclass(frozen=True)
class Answered:
    """What an answer did: the item linked, the held lines it applied (or reversed)."""

    till_reference: str
    item: str | None
    lines: int
    stock_change: int
    created: bool = False
    message: str = ""


class Cellar:
    """One cellar store's links, items and held lines in the ledger."""

    def __init__(self, ledger: Ledger, store: str):
        self.ledger = ledger
        self.store = store

    # -- reading ----------------------------------------------------------------------

    def links(self) -> dict[str, Link]:
        with self.ledger.reading() as connection:
            rows = connection.execute(
                select(links.c.source_reference, links.c.reference, links.c.per).where(
                    links.c.store == self.store
                )
            ).all()
        return {code: Link(item, per) for code, item, per in rows}

    def link_rows(self, item: str | None = None) -> list[dict]:
        query = (
            select(links, items.c.name, items.c.vintage)
            .outerjoin(
                items, and_(items.c.store == links.c.store, items.c.reference == links.c.reference)
            )
            .where(links.c.store == self.store)
            .order_by(links.c.reference, links.c.source_reference)
        )
        if item is not None:
            query = query.where(links.c.reference == item)
        with self.ledger.reading() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def items(self) -> pd.DataFrame:
        """Every item with its stock: the catalogue's and those created by answers."""
        query = (
            select(
                items.c.reference.label("item"),
                items.c.name,
                items.c.vintage,
                items.c.volume,
                items.c.attributes,
                items.c.origin,
                func.coalesce(stock.c.on_hand - stock.c.reserved, 0).label("quantity"),
            )
            .outerjoin(
                stock, and_(stock.c.store == items.c.store, stock.c.reference == items.c.reference)
            )
            .where(items.c.store == self.store)
            .order_by(items.c.reference)
        )
        with self.ledger.reading() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        frame = pd.DataFrame(
            rows, columns=["item", "name", "vintage", "volume", "attributes", "origin", "quantity"]
        )
        extra = [json.loads(a) if isinstance(a, str) and a else {} for a in frame["attributes"]]
        for key in sorted({k for e in extra for k in e}):
            frame[key] = [e.get(key) for e in extra]
        frame["vintage"] = frame["vintage"].astype("Int64")
        frame["volume"] = pd.to_numeric(frame["volume"], errors="coerce")
        return frame.drop(columns=["attributes"])

    def waiting(self) -> list[Waiting]:
        """Every code with held lines, most waiting first."""
        query = (
            select(
                held_lines.c.source_reference,
                held_lines.c.label,
                func.sum(held_lines.c.quantity).label("quantity"),
                func.sum(held_lines.c.amount).label("amount"),
                func.count().label("lines"),
                func.max(held_lines.c.currency).label("currency"),
            )
            .where(held_lines.c.store == self.store, held_lines.c.status == "held")
            .group_by(held_lines.c.source_reference, held_lines.c.label)
        )
        by_code: dict[str, Waiting] = {}
        with self.ledger.reading() as connection:
            for code, label, quantity, amount, count, currency in connection.execute(query):
                found = by_code.setdefault(code, Waiting(code, [], 0, None, 0, currency))
                found.labels.append(label or "")
                found.quantity += int(quantity or 0)
                if amount is not None:
                    found.amount = (found.amount or 0) + int(amount)
                found.lines += int(count)
        return sorted(by_code.values(), key=lambda w: (-w.lines, w.till_reference))

    def suggest(self, waiting: list[Waiting], limit: int = 5) -> list[Waiting]:
        from stockbridge.integrations.pointex.matching import CellarIndex

        cellar = self.items()
        if not waiting or cellar.empty:
            return waiting
        index = CellarIndex(cellar)
        for entry, found in zip(
            waiting, index.suggest_many([w.labels[0] for w in waiting], limit), strict=True
        ):
            entry.suggestions = found
        return waiting

    # -- answers ----------------------------------------------------------------------

    def link(self, code: str, item: str, per: int = 1, answer: str = "link") -> Answered:
        with self._answer(f"link {code} -> {item}", answer) as (batch, connection):
            self._require_item(connection, item)
            return self._link(batch, connection, code, item, per, answer)

    def yes(self, code: str, item: str | None = None, per: int = 1) -> Answered:
        if item is None:
            item = self._first_suggestion(code).item
        return self.link(code, item, per, "yes")

    def almost(self, code: str, vintage: int, item: str | None = None, per: int = 1) -> Answered:
        base = item or self._first_suggestion(code).item
        with self._answer(f"link {code} -> {base} in {vintage}", "almost") as (batch, connection):
            row = self._require_item(connection, base)
            same = connection.execute(
                select(items.c.reference, items.c.name, items.c.volume, items.c.attributes)
                .where(items.c.store == self.store, items.c.vintage == vintage)
                .order_by(items.c.reference)
            ).all()
            # The same wine is the same name, producer... (every text column) and volume: the
            # magnum of that vintage, or another producer's wine of that name, is another item.
            target = next(
                (
                    ref
                    for ref, name, volume, attributes in same
                    if _same_wine(name, row["name"])
                    and _same_volume(volume, row["volume"])
                    and _same_attributes(attributes, row["attributes"])
                ),
                None,
            )
            created = target is None
            if created:
                target = self._new_item_id(connection, _vintage_id(base, row["vintage"], vintage))
                self._insert_item(
                    connection,
                    target,
                    row["name"],
                    vintage,
                    row["volume"],
                    row["attributes"],
                    "almost",
                )
            done = self._link(batch, connection, code, target, per, "almost")
            return Answered(done.till_reference, target, done.lines, done.stock_change, created)

    def no(
        self,
        code: str,
        name: str,
        vintage: int | None = None,
        volume: str | None = None,
        per: int = 1,
    ) -> Answered:
        if not name.strip():
            raise LinkError("give the wine's name with --name, e.g. --name 'Château X'")
        with self._answer(f"new item for {code}: {name}", "no") as (batch, connection):
            wanted = "manual-" + _slug(name) + (f"-{vintage}" if vintage else "")
            target = self._new_item_id(connection, wanted)
            self._insert_item(connection, target, name.strip(), vintage, volume, None, "no")
            done = self._link(batch, connection, code, target, per, "no")
            return Answered(done.till_reference, target, done.lines, done.stock_change, True)

    def ignore(self, code: str) -> Answered:
        with self._answer(f"ignore {code}", "ignore") as (batch, connection):
            existing = self._existing(connection, code)
            if existing is not None:
                if existing["status"] == "ignored":
                    return Answered(code, None, 0, 0, message=f"{code} is already ignored")
                raise LinkError(
                    f"{code} is linked to {existing['reference']}; unlink it first"
                    f" (stockbridge links unlink --store {self.store} {code})"
                )
            connection.execute(
                links.insert().values(
                    store=self.store,
                    source_reference=code,
                    status="ignored",
                    reference=None,
                    per=1,
                    units_applied=0,
                    answer="ignore",
                    document_id=batch.document_id(batch_id_of_batch(batch)),
                    linked_at=utc_now(),
                )
            )
            lines = connection.execute(
                update(held_lines).where(*self._held(code, "held")).values(status="ignored")
            ).rowcount
            return Answered(code, None, lines, 0)

    def unlink(self, code: str) -> Answered:
        with self._answer(f"unlink {code}", "unlink") as (batch, connection):
            existing = self._existing(connection, code)
            if existing is None:
                raise LinkError(f"{code} is not linked in store {self.store}; nothing to undo")
            connection.execute(
                links.delete().where(links.c.store == self.store, links.c.source_reference == code)
            )
            if existing["status"] == "ignored":
                lines = connection.execute(
                    update(held_lines).where(*self._held(code, "ignored")).values(status="held")
                ).rowcount
                return Answered(code, None, lines, 0, message=f"{code} is no longer ignored")
            item = existing["reference"]
            reversed_ = self._reverse(batch, connection, code, item)
            connection.execute(
                update(held_lines)
                .where(*self._held(code, "applied"))
                .values(status="held", reference=None)
            )
            return Answered(code, item, reversed_[0], reversed_[1])

    # -- the transaction ------------------------------------------------------------------

    @contextmanager
    def _answer(self, what: str, answer: str) -> Iterator[tuple[Batch, Connection]]:
        command = f"links-{uuid.uuid4()}"
        with self._locked(), self.ledger.batch(self.store, INTEGRATION, command) as batch:
            batch_id = hashlib.sha256(f"{command}\0{what}".encode()).hexdigest()[:32]
            who = _who()
            batch.add_documents(
                [
                    NewDocument(
                        batch_id,
                        SOURCE,
                        f"links: {what}"[:255],
                        hashlib.sha256(what.encode()).hexdigest(),
                        status="archived",
                        note=f"answer '{answer}' by {who}",
                        occurred_at=utc_now().replace(tzinfo=UTC),
                    )
                ]
            )
            batch.answer_batch_id = batch_id  # type: ignore[attr-defined]
            yield batch, batch.connection

    @contextmanager
    def _locked(self) -> Iterator[None]:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                with self.ledger.lock(self.store, INTEGRATION):
                    yield
                return
            except StoreBusyError:
                if time.monotonic() > deadline:
                    raise LinkError(
                        f"a run of store {self.store} has been going for over {LOCK_WAIT:.0f} s;"
                        " answer again when it has finished"
                    ) from None
                time.sleep(0.5)

    def _link(
        self, batch: Batch, connection: Connection, code: str, item: str, per: int, answer: str
    ) -> Answered:
        if per < 1:
            raise LinkError("--per must be 1 or more (glasses a bottle)")
        existing = self._existing(connection, code)
        if existing is not None:
            if existing["status"] == "linked" and existing["reference"] == item:
                return Answered(code, item, 0, 0, message=f"{code} is already linked to {item}")
            what = (
                "ignored"
                if existing["status"] == "ignored"
                else f"linked to {existing['reference']}"
            )
            raise LinkError(
                f"{code} is {what}; unlink it first"
                f" (stockbridge links unlink --store {self.store} {code})"
            )
        link_document = batch.document_id(batch_id_of_batch(batch))
        connection.execute(
            links.insert().values(
                store=self.store,
                source_reference=code,
                status="linked",
                reference=item,
                per=per,
                units_applied=0,
                answer=answer,
                document_id=link_document,
                linked_at=utc_now(),
            )
        )
        held = connection.execute(
            select(
                held_lines.c.document_id,
                held_lines.c.line,
                held_lines.c.quantity,
                held_lines.c.occurred_at,
                held_lines.c.amount,
                held_lines.c.currency,
                held_lines.c.document_number,
            )
            .where(*self._held(code, "held"))
            .order_by(held_lines.c.document_id, held_lines.c.line)
        ).all()
        if not held:
            return Answered(code, item, 0, 0)
        frame = pd.DataFrame(
            held,
            columns=[
                "origin_document_id",
                "origin_line",
                "quantity",
                "occurred_at",
                "amount",
                "currency",
                "ticket",
            ],
        )
        frame["till_reference"] = code
        frame["item"] = item
        frame["per"] = per
        frame["line"] = range(1, len(frame) + 1)
        frame["document_index"] = 0
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"]).dt.tz_localize("UTC")
        currency = next((c for c in frame["currency"] if c), None)
        table = apply_linked(
            connection,
            self.store,
            frame,
            [Document(batch_id_of_batch(batch), SOURCE, "links")],
            batch.run_id,
            currency,
            origin=frame,
        )
        batch.add_movements(table)
        connection.execute(
            update(held_lines)
            .where(*self._held(code, "held"))
            .values(status="applied", reference=item)
        )
        change = int(decimal_to_quantities(table.column("quantity")).sum())
        return Answered(code, item, len(frame), change)

    def _reverse(
        self, batch: Batch, connection: Connection, code: str, item: str
    ) -> tuple[int, int]:
        """Reversal movements: per source line, minus what its movements add up to now."""
        line_document = func.coalesce(movements.c.origin_document_id, movements.c.document_id)
        line_number = func.coalesce(movements.c.origin_line, movements.c.line)
        rows = connection.execute(
            select(
                line_document.label("origin_document_id"),
                line_number.label("origin_line"),
                func.sum(movements.c.quantity).label("quantity"),
            )
            .where(
                movements.c.store == self.store,
                movements.c.reference == item,
                movements.c.source_reference == code,
            )
            .group_by(line_document, line_number)
            .order_by(line_document, line_number)
        ).all()
        rows = [row for row in rows if row.quantity]
        if not rows:
            return 0, 0
        size = len(rows)
        quantities = [-int(row.quantity) for row in rows]
        table = movement_table(
            store=self.store,
            run_id=batch.run_id,
            references=pa.array([item] * size, pa.string()),
            quantities=np.array(quantities, dtype=np.int64),
            kinds=pa.array([MovementKind.ADJUSTMENT.value] * size),
            lines=np.arange(1, size + 1, dtype=np.int64),
            documents=[Document(batch_id_of_batch(batch), SOURCE, "links")],
            document_index=np.zeros(size, dtype=np.int64),
            source_references=pa.array([code] * size, pa.string()),
        )
        table = table.append_column(
            "origin_document_id", pa.array([r.origin_document_id for r in rows], pa.int64())
        ).append_column("origin_line", pa.array([r.origin_line for r in rows], pa.int64()))
        batch.add_movements(table)
        return size, sum(quantities)

    def _held(self, code: str, status: str):
        return (
            held_lines.c.store == self.store,
            held_lines.c.source_reference == code,
            held_lines.c.status == status,
        )

    def _existing(self, connection: Connection, code: str) -> dict | None:
        row = connection.execute(
            select(links).where(links.c.store == self.store, links.c.source_reference == code)
        ).first()
        return dict(row._mapping) if row else None

    def _require_item(self, connection: Connection, item: str) -> dict:
        row = connection.execute(
            select(items).where(items.c.store == self.store, items.c.reference == item)
        ).first()
        if row is None:
            raise LinkError(
                f"no item '{item}' in the cellar of store {self.store}; see"
                f" `stockbridge stock --store {self.store}` for the items"
            )
        return dict(row._mapping)

    def _first_suggestion(self, code: str):
        waiting = [w for w in self.waiting() if w.till_reference == code]
        if not waiting:
            known = self._known_code(code)
            raise LinkError(
                f"{code} has no sales waiting in store {self.store}"
                + ("; it is already answered (see `stockbridge links show`)" if known else "")
                + "; name the item to link it anyway: links link --store ID CODE ITEM"
            )
        found = self.suggest(waiting, 1)[0].suggestions
        if not found:
            raise LinkError(
                f"no cellar item comes close to {code} ({waiting[0].labels[0]}); name the item"
                " (links yes ... ITEM) or create it (links no ... --name TEXT)"
            )
        return found[0]

    def _known_code(self, code: str) -> bool:
        with self.ledger.reading() as connection:
            return self._existing(connection, code) is not None

    def _new_item_id(self, connection: Connection, wanted: str) -> str:
        wanted = wanted[:60]
        taken = {
            ref
            for (ref,) in connection.execute(
                select(items.c.reference).where(
                    items.c.store == self.store, items.c.reference.like(f"{wanted}%")
                )
            )
        }
        candidate, number = wanted, 2
        while candidate in taken:
            candidate, number = f"{wanted}-{number}", number + 1
        return candidate

    def _insert_item(
        self,
        connection: Connection,
        reference: str,
        name: str,
        vintage: int | None,
        volume: str | None,
        attributes: str | None,
        origin: str,
    ) -> None:
        connection.execute(
            items.insert().values(
                store=self.store,
                reference=reference,
                name=name,
                vintage=vintage,
                volume=None if volume is None else str(volume),
                attributes=attributes,
                origin=origin,
                updated_at=utc_now(),
            )
        )


def batch_id_of_batch(batch: Batch) -> str:
    return batch.answer_batch_id  # type: ignore[attr-defined]


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name (a service account without one)
        return "unknown user"


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def _same_wine(a: str, b: str) -> bool:
    return re.sub(r"\W+", " ", _plain(a)).strip() == re.sub(r"\W+", " ", _plain(b)).strip()


def _same_volume(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def _same_attributes(a: str | None, b: str | None) -> bool:
    """Whether two items' other text columns (producer, appellation...) say the same."""

    def words(text: str | None) -> dict[str, str]:
        values = json.loads(text) if text else {}
        return {key: re.sub(r"\W+", " ", _plain(str(v))).strip() for key, v in values.items()}

    return words(a) == words(b)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", _plain(text)).strip("-")[:40] or "item"


def _vintage_id(base: str, old: int | None, new: int) -> str:
    """The id of another vintage of ``base``: its year replaced where the id spells it
    (``TALB-2018`` -> ``TALB-2017``, ``TALB18`` -> ``TALB17``), else the year appended."""
    if old is not None:
        for spelled, wanted in ((f"{old}", f"{new}"), (f"{old % 100:02d}", f"{new % 100:02d}")):
            found = list(re.finditer(rf"(?<!\d){spelled}(?!\d)", base))
            if found:
                start, end = found[-1].span()
                return base[:start] + wanted + base[end:]
    return f"{base}-{new}"
