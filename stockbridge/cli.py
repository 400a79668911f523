"""The ``stockbridge`` command: validate, run, serve, history, movements.

Exit codes: 0 done (a run with rejected lines is still done), 1 the run failed, 2 a store
file or the command line is wrong, 75 skipped because another run of the store is going on.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from stockbridge.runtime import configure_prefect

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 75


def main(argv: Sequence[str] | None = None) -> int:
    configure_prefect()
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    # argparse cannot take an optional positional after options (links almost CODE --vintage
    # 2019 ITEM): give a lone leftover word to a command that has an ITEM slot still empty.
    if len(extra) == 1 and not extra[0].startswith("-") and getattr(args, "item", 0) is None:
        args.item = extra[0]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from stockbridge.errors import StockbridgeError

    try:
        return args.handler(args)
    except StockbridgeError as exc:
        print(f"stockbridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stockbridge", description="Keep retail stock in step between tills and shops."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check store files; say exactly what is wrong")
    validate.add_argument("paths", nargs="+", help="store files or folders of them")
    validate.set_defaults(handler=cmd_validate)

    run = commands.add_parser("run", help="run one sync now (a Prefect flow run, no server needed)")
    run.add_argument("path", help="a store file, like configs/boutique-paris.yaml")
    run.set_defaults(handler=cmd_run)

    serve = commands.add_parser("serve", help="one scheduled deployment per store file; runs them")
    serve.add_argument("paths", nargs="+", help="store files or folders of them")
    serve.add_argument(
        "--no-catch-up", action="store_true", help="do not start one run for missed schedules"
    )
    serve.set_defaults(handler=cmd_serve)

    history = commands.add_parser("history", help="recent runs with their counts")
    history.add_argument("--store", help="only this store")
    history.add_argument("--limit", type=int, default=20)
    ledger_options(history)
    history.set_defaults(handler=cmd_history)

    movements = commands.add_parser(
        "movements", help="which file, line and run changed an article's stock"
    )
    movements.add_argument("--store", required=True)
    movements.add_argument("reference")
    movements.add_argument("--limit", type=int, default=50)
    ledger_options(movements)
    movements.set_defaults(handler=cmd_movements)

    stock = commands.add_parser("stock", help="a store's current stock, item by item")
    stock.add_argument("--store", required=True)
    stock.add_argument("--json", action="store_true", help="print JSON for scripts")
    ledger_options(stock)
    stock.set_defaults(handler=cmd_stock)

    adjust = commands.add_parser("adjust", help="an audited manual movement: +12 --reason delivery")
    adjust.add_argument("--store", required=True)
    adjust.add_argument("reference")
    adjust.add_argument("quantity", help="signed: +12, -3, 2.5")
    adjust.add_argument("--reason", required=True, help="delivery, count, breakage, ...")
    adjust.add_argument("--new", action="store_true", help="open a reference the store lacks")
    ledger_options(adjust)
    adjust.set_defaults(handler=cmd_adjust)

    service = commands.add_parser(
        "service", help="print a service definition that runs `stockbridge serve` at start-up"
    )
    service.add_argument("paths", nargs="+", help="store files or folders to serve")
    service.add_argument("--systemd", action="store_true", required=True, help="a systemd unit")
    service.add_argument("--user", help="the account the service runs as")
    service.set_defaults(handler=cmd_service)

    schema = commands.add_parser(
        "schema", help="the JSON Schema of store files (for editors: yaml-language-server)"
    )
    schema.set_defaults(handler=cmd_schema)

    from stockbridge.integrations import add_commands

    add_commands(commands)
    return parser


def ledger_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--ledger", help="ledger URL (default: the store file's, or the work one)")
    source.add_argument(
        "--config", help="read the ledger URL from this store file or folder (default: configs/)"
    )


def cmd_validate(args: argparse.Namespace) -> int:
    from stockbridge.config.loader import store_files, validate_files
    from stockbridge.errors import ConfigError

    try:
        files = store_files(args.paths)
    except ConfigError as exc:  # a path that does not exist: the command line is wrong
        print(f"stockbridge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not files:
        where = ", ".join(args.paths)
        print(f"stockbridge: no .yaml store files found in {where}", file=sys.stderr)
        return EXIT_USAGE
    stores, problems = validate_files(files)
    for problem in problems:
        print(problem, file=sys.stderr)
    for path, store in stores:
        print(f"ok  {path}: {store.store} ({store.integration})")
    if problems:
        print(f"{len(problems)} problem(s) in {len(files)} file(s)", file=sys.stderr)
        return EXIT_USAGE
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from stockbridge.config.loader import InvalidStoreFile, load_store

    path = Path(args.path)
    try:
        store = load_store(path)
    except InvalidStoreFile as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    summary = run_store(path, store.integration)
    print(summary.render())
    if summary.state == "skipped":
        return EXIT_BUSY
    return 0 if summary.state == "completed" else EXIT_FAILED


def run_store(path: Path, integration: str):
    """Run the store's flow in this process and return its :class:`RunSummary`."""
    from stockbridge.errors import StockbridgeError
    from stockbridge.integrations import get
    from stockbridge.logs import install_console_filter
    from stockbridge.summary import RunSummary

    flow = get(integration).load_flow()  # imports Prefect, which sets up its handlers
    install_console_filter()
    state = flow(config_path=str(path.absolute()), return_state=True)
    try:
        summary = state.result(raise_on_failure=False)
    except Exception:  # the flow failed before it had a summary
        summary = None
    if isinstance(summary, RunSummary):
        return summary
    raise StockbridgeError(state.message or "the run ended without a summary")


def cmd_serve(args: argparse.Namespace) -> int:
    from stockbridge.deployments import serve_stores

    return serve_stores(args.paths, catch_up=not args.no_catch_up)


def cmd_history(args: argparse.Namespace) -> int:
    ledger = open_ledger(args)
    rows = ledger.history(args.store, args.limit)
    if not rows:
        print("no runs recorded yet" + (f" for store {args.store}" if args.store else ""))
        return 0
    header = (
        f"{'started (UTC)':<19}  {'store':<20} {'state':<9} {'files':>5} {'dup':>4}"
        f" {'applied':>8} {'rejected':>8}  run"
    )
    print(header)
    for row in rows:
        print(
            f"{row['started_at']:%Y-%m-%d %H:%M:%S}  {row['store']:<20} {row['state']:<9}"
            f" {row['files_applied']:>5} {row['files_duplicate']:>4}"
            f" {row['lines_applied']:>8} {row['lines_rejected']:>8}  {row['run_id']}"
        )
        if row["state"] != "completed" and row["message"]:
            print(f"{'':21}{row['message']}")
    return 0


def cmd_movements(args: argparse.Namespace) -> int:
    from stockbridge.movements import format_quantities

    ledger = open_ledger(args)
    rows = ledger.movements_of(args.store, args.reference, args.limit)
    if not rows:
        print(f"no movements for {args.reference} in store {args.store}")
        return 0
    quantities = format_quantities([row["quantity"] for row in rows]).to_pylist()
    print(f"{'applied (UTC)':<19}  {'quantity':>9}  {'kind':<10} {'file':<32} {'line':>6}  run")
    for row, quantity in zip(rows, quantities, strict=True):
        print(
            f"{row['applied_at']:%Y-%m-%d %H:%M:%S}  {quantity:>9}  {row['kind']:<10}"
            f" {row['document']:<32} {row['line']:>6}  {row['run_id']}"
        )
        if row["source_reference"] or row["origin_document"]:
            origin = (
                f"; for {row['origin_document']} line {row['origin_line']}"
                if row["origin_document"]
                else ""
            )
            print(f"{'':21}till code {row['source_reference']}{origin}")
    return 0


def cmd_stock(args: argparse.Namespace) -> int:
    import json

    from sqlalchemy import and_, select

    from stockbridge.ledger.tables import items, stock
    from stockbridge.movements import format_quantities

    ledger = open_ledger(args)
    query = (
        select(
            stock.c.reference,
            (stock.c.on_hand - stock.c.reserved).label("quantity"),
            items.c.name,
            items.c.vintage,
        )
        .outerjoin(
            items, and_(items.c.store == stock.c.store, items.c.reference == stock.c.reference)
        )
        .where(stock.c.store == args.store)
        .order_by(stock.c.reference)
    )
    unstocked = (  # items created by an answer whose stock never moved yet
        select(items.c.reference, items.c.name, items.c.vintage)
        .outerjoin(
            stock, and_(stock.c.store == items.c.store, stock.c.reference == items.c.reference)
        )
        .where(items.c.store == args.store, stock.c.reference.is_(None))
    )
    with ledger.reading() as connection:
        rows = [(r.reference, r.quantity, r.name, r.vintage) for r in connection.execute(query)]
        rows += [(r.reference, 0, r.name, r.vintage) for r in connection.execute(unstocked)]
    rows.sort(key=lambda r: r[0])
    quantities = format_quantities([r[1] for r in rows]).to_pylist()
    listed = [
        {"item": ref, "name": name, "vintage": vintage, "quantity": quantity}
        for (ref, _, name, vintage), quantity in zip(rows, quantities, strict=True)
    ]
    if args.json:
        print(json.dumps(listed, ensure_ascii=False, indent=2))
        return 0
    if not listed:
        print(f"no stock recorded for store {args.store}")
        return 0
    for row in listed:
        name = f"{row['name'] or ''} {row['vintage'] or ''}".strip()
        print(f"{row['item']:<28} {row['quantity']:>10}  {name}")
    return 0


def cmd_adjust(args: argparse.Namespace) -> int:
    from stockbridge.adjust import run_command

    return run_command(args, open_ledger(args))


def cmd_service(args: argparse.Namespace) -> int:
    import os

    from stockbridge.service import systemd_unit

    workdir = os.getcwd()
    paths = [str(Path(p).absolute()) for p in args.paths]
    print(systemd_unit(paths, python=sys.executable, workdir=workdir, user=args.user), end="")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    import json

    from stockbridge.config.schema import store_file_schema

    print(json.dumps(store_file_schema(), indent=2, ensure_ascii=False))
    return 0


def store_timezone(args: argparse.Namespace) -> str:
    """The time zone of the store named by ``--store`` (UTC when no store file says)."""
    store = _store_file(args)
    return getattr(store, "timezone", "UTC") if store else "UTC"


def _store_file(args: argparse.Namespace):
    from stockbridge.config.loader import load_store, store_files

    source = Path(args.config) if getattr(args, "config", None) else Path("configs")
    if not source.exists():
        return None
    for path in store_files([source]):
        store = load_store(path)
        if getattr(args, "store", None) in (None, store.store):
            return store
    return None


def open_ledger(args: argparse.Namespace):
    from stockbridge.config.loader import load_store, store_files
    from stockbridge.ledger.ledger import Ledger
    from stockbridge.runtime import default_ledger_url

    url = args.ledger
    if url is None:
        source = Path(args.config) if args.config else Path("configs")
        if source.exists():
            for path in store_files([source]):
                store = load_store(path)
                if getattr(args, "store", None) in (None, store.store):
                    url = store.ledger
                    break
    return Ledger.open(url or default_ledger_url())


if __name__ == "__main__":
    sys.exit(main())
