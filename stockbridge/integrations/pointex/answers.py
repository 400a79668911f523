"""The drinks to link, answered from the Prefect UI: a table, a form, the answers applied.

The ``links`` deployment of a cellar store shows the pending till codes as a table artifact,
then pauses with a form (Prefect's interactive input) holding one row per code, the proposed
answer and item pre-filled. Resuming applies each row as the CLI would (each answer its own
transaction); a run nobody answers fails after the store's ``links.timeout``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, create_model

from stockbridge.context import RunContext
from stockbridge.errors import StockbridgeError
from stockbridge.integrations.pointex.links import Cellar, Waiting
from stockbridge.movements import format_quantities

FormAnswer = Literal["yes", "almost", "no", "ignore", "later"]
POLL_SECONDS = 2
"""How often the paused run asks Prefect whether it was answered (Prefect's default is 10 s:
a 2 s timeout would fail 10 s late, and an answer would wait up to 10 s to apply)."""


def answer_in_ui(ctx: RunContext) -> None:
    from prefect.artifacts import create_table_artifact
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run
    from prefect.input import RunInput

    cellar = Cellar(ctx.ledger, ctx.store)
    waiting = cellar.suggest(cellar.waiting())
    ctx.summary.waiting_word = "drink(s) to link"
    key = f"{ctx.store}-links".replace("_", "-").replace(".", "-")
    if not waiting:
        ctx.summary.notes.append("no drinks to link")
        return
    create_table_artifact(key=f"{key}-pending", table=pending_rows(waiting))
    fields = form_fields([w.till_reference for w in waiting])
    form = create_model(  # type: ignore[call-overload]
        "DrinksToLink",
        __base__=RunInput,
        **{
            fields[w.till_reference]: (Row, Field(default=_proposed(w), title=_title(w)))
            for w in waiting
        },
    )
    timeout = int(ctx.config.links.timeout.total_seconds())
    try:
        answers = pause_flow_run(
            wait_for_input=form.with_initial_data(
                description=(
                    f"**{len(waiting)} drink(s) to link** in {ctx.store}. For each till code"
                    " pick yes (link to the item), almost (same wine, the vintage below), no"
                    " (create the item from name/vintage), ignore (not a drink) or later."
                )
            ),
            timeout=timeout,
            poll_interval=POLL_SECONDS,
        )
    except FlowPauseTimeout:
        raise StockbridgeError(
            f"nobody answered the form within {timeout} s; the {len(waiting)} drink(s) to link"
            " stay waiting (answer them with `stockbridge links` or start this run again)"
        ) from None
    done = []
    for entry in waiting:
        row: Row = getattr(answers, fields[entry.till_reference])
        try:
            result = apply_row(cellar, entry.till_reference, row)
        except StockbridgeError as exc:
            done.append(
                {"till code": entry.till_reference, "answer": row.answer, "result": str(exc)}
            )
            continue
        if result is not None:
            done.append(
                {
                    "till code": entry.till_reference,
                    "answer": row.answer,
                    "result": answered_text(result),
                }
            )
    ctx.summary.notes.extend(f"{d['till code']}: {d['answer']}: {d['result']}" for d in done)
    if done:
        create_table_artifact(key=f"{key}-answered", table=done)


class Row(BaseModel):
    answer: FormAnswer = "later"
    item: str | None = Field(default=None, description="the cellar item (yes, almost)")
    vintage: int | None = Field(default=None, description="the vintage (almost, no)")
    name: str | None = Field(default=None, description="the wine's name (no)")
    per: int = Field(default=1, ge=1, description="glasses per bottle (1: a bottle)")


def apply_row(cellar: Cellar, code: str, row: Row):
    if row.answer == "yes":
        return cellar.yes(code, row.item, row.per)
    if row.answer == "almost":
        if row.vintage is None:
            raise StockbridgeError("almost needs the vintage")
        return cellar.almost(code, row.vintage, row.item, row.per)
    if row.answer == "no":
        return cellar.no(code, row.name or "", row.vintage, None, row.per)
    if row.answer == "ignore":
        return cellar.ignore(code)
    return None


def pending_rows(waiting: list[Waiting]) -> list[dict[str, object]]:
    """Plain values only (Prefect's table artifacts refuse others), best columns first."""
    quantities = format_quantities([w.quantity for w in waiting]).to_pylist()
    rows = []
    for entry, quantity in zip(waiting, quantities, strict=True):
        best = entry.suggestions[0] if entry.suggestions else None
        rows.append(
            {
                "till code": entry.till_reference,
                "label": " / ".join(entry.labels),
                "waiting": quantity,
                "proposed": best.answer if best else "no",
                "item": best.item if best else "",
                "name": f"{best.name} {best.vintage or ''}".strip() if best else "",
                "score": best.score if best else 0,
            }
        )
    return rows


def _proposed(entry: Waiting) -> Row:
    best = entry.suggestions[0] if entry.suggestions else None
    if best is None or best.answer == "no":
        return Row(answer="later", name=entry.labels[0].title())
    if best.answer == "almost":
        from stockbridge.integrations.pointex.matching import parse_label

        return Row(answer="almost", item=best.item, vintage=parse_label(entry.labels[0]).vintage)
    return Row(answer=best.answer, item=best.item, vintage=best.vintage)


def answered_text(result) -> str:
    """What an answer did, in the words of its kind: an ignored code moved nothing."""
    if result.item is None:
        return f"not a drink: {result.lines} held line(s) set aside, no stock moved"
    return f"{result.item}: {result.lines} held line(s) applied"


def form_fields(codes: list[str]) -> dict[str, str]:
    """A form field name per till code: letters, digits and ``_`` only, and distinct even
    for codes that differ only in punctuation (``A-1`` and ``A.1``)."""
    fields: dict[str, str] = {}
    taken: set[str] = set()
    for code in codes:
        base = "code_" + "".join(c if c.isascii() and c.isalnum() else "_" for c in code)
        name, number = base, 2
        while name in taken:
            name, number = f"{base}_{number}", number + 1
        taken.add(name)
        fields[code] = name
    return fields


def _title(entry: Waiting) -> str:
    return f"{entry.till_reference}: {' / '.join(entry.labels[:2])}"
