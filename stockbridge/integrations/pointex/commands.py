"""``stockbridge links …`` and ``stockbridge sales``: the cellar's own commands.

Every command finds the ledger as ``history`` does (``--config FILE`` or ``--ledger URL``,
else the store files in ``configs/``). Answers are applied at once, each in its own
transaction, and say what they did.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from stockbridge.movements import format_quantities


def add_commands(subparsers) -> None:
    from stockbridge.cli import ledger_options

    links = subparsers.add_parser(
        "links", help="the cellar's drinks to link: pending, yes, almost, no, ignore, unlink"
    )
    actions = links.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str, handler, code: bool = True) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text)
        parser.add_argument("--store", required=True, help="the cellar store's id")
        if code:
            parser.add_argument("till_reference", metavar="TILL_REF", help="the till's code")
        ledger_options(parser)
        parser.set_defaults(handler=handler)
        return parser

    pending = action("pending", "till codes waiting, with suggestions", cmd_pending, code=False)
    pending.add_argument("--json", action="store_true", help="print JSON for scripts")
    pending.add_argument("--limit", type=int, default=5, help="suggestions per code (5)")

    yes = action("yes", "link to the first suggestion (or ITEM)", cmd_yes)
    yes.add_argument("item", nargs="?", metavar="ITEM", help="the cellar item to link to")
    almost = action("almost", "same wine, another vintage (created if missing)", cmd_almost)
    almost.add_argument("--vintage", type=int, required=True, help="the vintage sold (YEAR)")
    almost.add_argument("item", nargs="?", metavar="ITEM", help="the wine's item (default: best)")
    no = action("no", "create the item by hand and link it", cmd_no)
    no.add_argument("--name", required=True, help="the wine's name")
    no.add_argument("--vintage", type=int, help="its vintage (YEAR)")
    no.add_argument("--volume", help="its volume in cl (75, 150, 37.5)")
    link = action("link", "link to any existing item", cmd_link)
    link.add_argument("item", metavar="ITEM", help="the cellar item to link to")
    for parser in (yes, almost, no, link):
        parser.add_argument(
            "--per", type=int, default=1, help="glasses per bottle: a glass of a bottle (1)"
        )
    action("ignore", "not a drink: never listed again", cmd_ignore)
    action("unlink", "take that code's sales back out of its item and hold them", cmd_unlink)
    show = action("show", "which till codes link to an item", cmd_show, code=False)
    show.add_argument("item", nargs="?", metavar="ITEM", help="only this item")

    sales = subparsers.add_parser("sales", help="the till's quantities and revenue of a cellar")
    sales.add_argument("--store", required=True, help="the cellar store's id")
    sales.add_argument(
        "--from", dest="start", type=date.fromisoformat, help="first day (YYYY-MM-DD)"
    )
    sales.add_argument("--to", dest="end", type=date.fromisoformat, help="last day (YYYY-MM-DD)")
    sales.add_argument(
        "--by", choices=("item", "reference", "day"), default="item", help="one line per (item)"
    )
    sales.add_argument("--json", action="store_true", help="print JSON for scripts")
    ledger_options(sales)
    sales.set_defaults(handler=cmd_sales)


def _cellar(args):
    from stockbridge.cli import open_ledger
    from stockbridge.integrations.pointex.links import Cellar

    return Cellar(open_ledger(args), args.store)


def cmd_pending(args) -> int:
    cellar = _cellar(args)
    waiting = cellar.suggest(cellar.waiting(), args.limit)
    quantities = format_quantities([w.quantity for w in waiting]).to_pylist()
    amounts = format_quantities([w.amount or 0 for w in waiting]).to_pylist()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "till_reference": w.till_reference,
                        "label": w.labels[0],
                        "labels": w.labels,
                        "waiting": quantity,
                        "revenue": amount if w.amount is not None else None,
                        "currency": w.currency,
                        "lines": w.lines,
                        "answer": w.suggestions[0].answer if w.suggestions else "no",
                        "suggestions": [
                            {
                                "item": s.item,
                                "name": s.name,
                                "vintage": s.vintage,
                                "score": s.score,
                                "answer": s.answer,
                            }
                            for s in w.suggestions
                        ],
                    }
                    for w, quantity, amount in zip(waiting, quantities, amounts, strict=True)
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    if not waiting:
        print(f"no drinks to link in store {args.store}")
        return 0
    print(f"{len(waiting)} drink(s) to link in store {args.store}:")
    for w, quantity, amount in zip(waiting, quantities, amounts, strict=True):
        revenue = f", {amount} {w.currency or ''}".rstrip() if w.amount is not None else ""
        print(f"\n{w.till_reference}  {' / '.join(w.labels)}  ({quantity} waiting{revenue})")
        if not w.suggestions:
            print("    no cellar item comes close: links no --name ... creates it")
        for number, s in enumerate(w.suggestions, 1):
            vintage = s.vintage or ""
            print(f"    {number}. {s.answer:<6} {s.score:5.1f}  {s.item:<24} {s.name} {vintage}")
    print(
        f"\nAnswer with: stockbridge links yes --store {args.store} TILL_REF [ITEM]"
        " | almost ... --vintage YEAR | no ... --name TEXT | ignore ..."
    )
    return 0


def _said(done, what: str) -> int:
    if done.message:
        print(done.message)
        return 0
    change = format_quantities([done.stock_change]).to_pylist()[0]
    created = " (created)" if done.created else ""
    print(
        f"{done.till_reference} {what} {done.item}{created}: {done.lines} held sale line(s)"
        f" applied, stock {change}"
    )
    return 0


def cmd_yes(args) -> int:
    return _said(_cellar(args).yes(args.till_reference, args.item, args.per), "linked to")


def cmd_almost(args) -> int:
    done = _cellar(args).almost(args.till_reference, args.vintage, args.item, args.per)
    return _said(done, "linked to")


def cmd_no(args) -> int:
    done = _cellar(args).no(args.till_reference, args.name, args.vintage, args.volume, args.per)
    return _said(done, "linked to")


def cmd_link(args) -> int:
    return _said(_cellar(args).link(args.till_reference, args.item, args.per), "linked to")


def cmd_ignore(args) -> int:
    done = _cellar(args).ignore(args.till_reference)
    print(done.message or f"{done.till_reference} ignored: {done.lines} line(s) set aside")
    return 0


def cmd_unlink(args) -> int:
    done = _cellar(args).unlink(args.till_reference)
    if done.message:
        print(done.message)
        return 0
    change = format_quantities([done.stock_change]).to_pylist()[0]
    print(
        f"{done.till_reference} unlinked from {done.item}: {done.lines} sale line(s) reversed"
        f" (stock {change}), held again"
    )
    return 0


def cmd_show(args) -> int:
    rows = _cellar(args).link_rows(args.item)
    if not rows:
        print(f"no till codes linked{' to ' + args.item if args.item else ''} in {args.store}")
        return 0
    for row in rows:
        per = f", {row['per']} per bottle" if row["per"] != 1 else ""
        target = row["reference"] or "(ignored: not a drink)"
        name = f" {row['name']} {row['vintage'] or ''}".rstrip() if row["name"] else ""
        print(f"{target}{name}: till code {row['source_reference']}{per} ({row['answer']})")
    return 0


def cmd_sales(args) -> int:
    from stockbridge.cli import open_ledger, store_timezone
    from stockbridge.ledger.tables import held_lines, items

    ledger = open_ledger(args)
    zone = ZoneInfo(store_timezone(args))
    query = select(
        held_lines.c.source_reference,
        held_lines.c.label,
        held_lines.c.reference,
        held_lines.c.occurred_at,
        held_lines.c.quantity,
        held_lines.c.amount,
        held_lines.c.currency,
    ).where(held_lines.c.store == args.store, held_lines.c.status.in_(("held", "applied")))
    if args.start:
        query = query.where(held_lines.c.occurred_at >= _utc(args.start, zone))
    if args.end:
        query = query.where(held_lines.c.occurred_at < _utc(args.end + timedelta(days=1), zone))
    with ledger.reading() as connection:
        rows = connection.execute(query).all()
        names = dict(
            connection.execute(
                select(items.c.reference, func.coalesce(items.c.name, "")).where(
                    items.c.store == args.store
                )
            ).all()
        )
    totals: dict[str, list] = {}
    for code, label, item, when, quantity, amount, currency in rows:
        if args.by == "item":
            key = item or f"(not linked) {code}"
        elif args.by == "reference":
            key = code
        else:
            key = when.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date().isoformat()
        entry = totals.setdefault(key, [0, 0, currency, label])
        entry[0] += quantity
        entry[1] += amount or 0
    keys = sorted(totals)
    quantities = format_quantities([totals[k][0] for k in keys]).to_pylist()
    revenue = format_quantities([totals[k][1] for k in keys]).to_pylist()
    listed = [
        {
            args.by: key,
            "name": names.get(key, totals[key][3]) if args.by != "day" else None,
            "quantity": quantity,
            "revenue": amount,
            "currency": totals[key][2],
        }
        for key, quantity, amount in zip(keys, quantities, revenue, strict=True)
    ]
    if args.json:
        print(json.dumps(listed, ensure_ascii=False, indent=2))
        return 0
    if not listed:
        print(f"no sales recorded for store {args.store} in that period")
        return 0
    print(f"{args.by:<28} {'quantity':>9} {'revenue':>10}  (the till's figures)")
    for row in listed:
        label = f"{row[args.by]} {row['name'] or ''}".strip()[:48]
        print(f"{label:<28} {row['quantity']:>9} {row['revenue']:>10} {row['currency'] or ''}")
    return 0


def _utc(day: date, zone: ZoneInfo) -> datetime:
    local = datetime(day.year, day.month, day.day, tzinfo=zone)
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
