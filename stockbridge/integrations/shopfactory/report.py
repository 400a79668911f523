"""What a ShopFactory run says it did, in the shared run summary's own fields and notes."""

from __future__ import annotations

from stockbridge.integrations.shopfactory.levels import Observed
from stockbridge.integrations.shopfactory.steps import Published
from stockbridge.movements import format_quantities
from stockbridge.summary import RunSummary

SHOWN = 10
"""SKUs named in one note; the rest are counted."""


def listed(levels: dict[str, int], signed: bool = False) -> str:
    names = list(levels)[:SHOWN]
    texts = format_quantities([levels[n] for n in names]).to_pylist()
    if signed:
        texts = [t if t.startswith("-") else f"+{t}" for t in texts]
    shown = ", ".join(f"{name} ({text})" for name, text in zip(names, texts, strict=True))
    more = f" and {len(levels) - SHOWN} more" if len(levels) > SHOWN else ""
    return shown + more


def report(
    summary: RunSummary,
    synchronised: Observed,
    again: Observed,
    published: Published,
    adjustments: int,
) -> None:
    notes = summary.notes
    for observed in (synchronised, again):
        if observed.resolved == "landed":
            notes.append("the stock file an interrupted run published had reached the shop")
        elif observed.resolved == "not landed":
            notes.append("the stock file an interrupted run prepared had not reached the shop")
        if not observed.certain:
            notes.append(
                "warning: the shop's file could not tell whether the interrupted publish"
                " landed (every SKU it changed sold since); assumed it had not"
            )
    if synchronised.first_run:
        notes.append(
            f"first run: no levels published before, so the shop's {len(synchronised.opened)}"
            " SKU(s) were taken as they are (opening stock); later runs count web sales from"
            " what is published now"
        )
    sales = {**synchronised.sales}
    for sku, quantity in again.sales.items():
        sales[sku] = sales.get(sku, 0) + quantity
    units = format_quantities([-sum(sales.values())]).to_pylist()[0]
    notes.append(f"web sales recorded: {units} unit(s) over {len(sales)} SKU(s)")
    if sales:
        notes.append(f"  sold online: {listed(sales)}")
    if again.sales:
        notes.append(
            f"  of which {len(again.sales)} SKU(s) sold while this run worked (read again just"
            f" before publishing): {listed(again.sales)}"
        )
    raised = {**synchronised.adjustments, **again.adjustments}
    if raised:
        notes.append(
            f"raised on the shop's side, recorded as adjustments: {listed(raised, signed=True)}"
        )
    unknown = {} if synchronised.first_run else {**synchronised.opened}
    unknown.update(again.opened)
    if unknown:
        notes.append(
            f"{len(unknown)} SKU(s) the ledger did not know, taken at the shop's level:"
            f" {listed(unknown)}"
        )
    taken = synchronised.taken + again.taken
    if taken:
        notes.append(f"{taken} SKU(s) the ledger knew, seen in the shop for the first time")
    missing = sorted(set(synchronised.missing) | set(again.missing))
    if missing:
        more = f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else ""
        notes.append(
            f"{len(missing)} SKU(s) seen before are no longer in the shop's file (not"
            f" published): {', '.join(missing[:SHOWN])}{more}"
        )
    edits = summary.lines_applied
    notes.append(
        f"edits applied: {edits} line(s) from {summary.count('applied')} movement file(s),"
        f" {adjustments} adjustment(s) by `stockbridge adjust` since the last publish"
    )
    summary.negative = published.negative
    summary.export_word = "SKU(s)"
    if published.written:
        summary.export_path, summary.export_rows = published.path, published.skus
    else:
        notes.append(
            f"the shop already shows these levels for its {published.skus} SKU(s): nothing"
            " to publish"
        )
