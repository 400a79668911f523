"""The ``stockbridge`` command: validate, run, serve, history, movements, rejects.

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
    parser.add_argument(
        "--version", action="version", version=f"stockbridge {_version()}", help="say the version"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check store files; say exactly what is wrong")
    validate.add_argument("paths", nargs="+", help="store files or folders of them")
    validate.set_defaults(handler=cmd_validate)

    run = commands.add_parser("run", help="run one sync now (a Prefect flow run, no server needed)")
    run.add_argument(
        "paths",
        nargs="+",
        metavar="path",
        help="store files or folders of them (each store in turn), like configs/",
    )
    run.add_argument(
        "--only",
        help="one exchange of a store whose integration has them: push:ENTITY or pull:ENTITY"
        " (a chain store; a pull is then in full)",
    )
    run.set_defaults(handler=cmd_run)

    serve = commands.add_parser("serve", help="one scheduled deployment per store file; runs them")
    serve.add_argument("paths", nargs="+", help="store files or folders of them")
    serve.add_argument(
        "--no-catch-up", action="store_true", help="do not start one run for missed schedules"
    )
    serve.set_defaults(handler=cmd_serve)

    doctor = commands.add_parser(
        "doctor", help="check each store's locations, ledger and servers; say what to fix"
    )
    doctor.add_argument(
        "paths", nargs="*", default=["configs"], help="store files or folders (default: configs/)"
    )
    doctor.set_defaults(handler=cmd_doctor)

    report = commands.add_parser(
        "report", help="write one HTML page of a store's stock, lines and runs over time"
    )
    report.add_argument("--store", required=True, help="the store's id")
    report.add_argument(
        "--days", type=_positive, default=30, help="how many days back, ending today (30)"
    )
    report.add_argument(
        "--reference",
        action="append",
        default=[],
        help="an article to chart (repeat for more; default: the most moved ones)",
    )
    report.add_argument("--out", required=True, help="the HTML file to write, like report.html")
    ledger_options(report)
    report.set_defaults(handler=cmd_report)

    history = commands.add_parser(
        "history", help="recent runs with their counts, from every store file's ledger"
    )
    history.add_argument("--store", help="only this store")
    history.add_argument("--limit", type=int, default=20, help="runs shown (newest first)")
    ledger_options(history)
    history.set_defaults(handler=cmd_history)

    rejects = commands.add_parser(
        "rejects", help="lines that were not applied: document, line, raw text, reason, run"
    )
    rejects.add_argument("--store", required=True, help="the store's id")
    rejects.add_argument(
        "--since", help="only documents applied since: YYYY-MM-DD, an ISO time, or 7d, 12h"
    )
    rejects.add_argument("--limit", type=int, default=100, help="lines shown (newest first)")
    ledger_options(rejects)
    rejects.set_defaults(handler=cmd_rejects)

    movements = commands.add_parser(
        "movements", help="which file, line and run changed an article's stock"
    )
    movements.add_argument("--store", required=True, help="the store's id")
    movements.add_argument("reference", help="the article's reference (or cellar item)")
    movements.add_argument("--limit", type=int, default=50, help="movements shown (newest first)")
    ledger_options(movements)
    movements.set_defaults(handler=cmd_movements)

    stock = commands.add_parser("stock", help="a store's current stock, item by item")
    stock.add_argument("--store", required=True, help="the store's id")
    stock.add_argument("--json", action="store_true", help="print JSON for scripts")
    ledger_options(stock)
    stock.set_defaults(handler=cmd_stock)

    adjust = commands.add_parser("adjust", help="an audited manual movement: +12 --reason delivery")
    adjust.add_argument("--store", required=True, help="the store's id")
    adjust.add_argument("reference", help="the article's reference (or cellar item)")
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


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of days, like 30")
    return int(text)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stockbridge")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


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


SEVERITY = (0, EXIT_BUSY, EXIT_FAILED, EXIT_USAGE)
"""Exit codes from best to worst: a folder's run ends with the worst of its stores'."""


def cmd_run(args: argparse.Namespace) -> int:
    from stockbridge.config.loader import InvalidStoreFile, load_store, store_files
    from stockbridge.runtime import check_server

    # A folder is its store files; a file is loaded as given (a missing one says so).
    paths = [f for p in args.paths for f in (store_files([p]) if Path(p).is_dir() else [Path(p)])]
    if not paths:
        print(f"stockbridge: no .yaml store files in {', '.join(args.paths)}", file=sys.stderr)
        return EXIT_USAGE
    check_server()
    codes = []
    for path in paths:
        try:
            store = load_store(path)
        except InvalidStoreFile as exc:
            print(exc, file=sys.stderr)
            codes.append(EXIT_USAGE)
            continue
        if args.only and "only" not in _flow_parameters(store.integration):
            print(
                f"stockbridge: {path}: --only is for stores whose runs have exchanges (chain);"
                f" a {store.integration} run does everything it does at once",
                file=sys.stderr,
            )
            codes.append(EXIT_USAGE)
            continue
        summary = run_store(path, store.integration, only=args.only)
        print(summary.render())
        if summary.state == "skipped":
            codes.append(EXIT_BUSY)
        else:
            codes.append(0 if summary.state == "completed" else EXIT_FAILED)
    return max(codes, key=SEVERITY.index)


def _flow_parameters(integration: str) -> set[str]:
    import inspect

    from stockbridge.integrations import get

    flow = get(integration).load_flow()
    return set(inspect.signature(flow.fn).parameters)


def run_store(path: Path, integration: str, only: str | None = None):
    """Run the store's flow in this process and return its :class:`RunSummary`."""
    from stockbridge.errors import StockbridgeError
    from stockbridge.integrations import get
    from stockbridge.logs import install_console_filter
    from stockbridge.runtime import server_problem
    from stockbridge.summary import RunSummary

    flow = get(integration).load_flow()  # imports Prefect, which sets up its handlers
    install_console_filter()
    try:
        extra = {"only": only} if only else {}
        state = flow(config_path=str(path.absolute()), return_state=True, **extra)
    except Exception as exc:  # the run never started: no server to record it
        sentence = server_problem(exc)
        if sentence is None:
            raise
        raise StockbridgeError(sentence) from None
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


def cmd_doctor(args: argparse.Namespace) -> int:
    from stockbridge.config.loader import store_files, validate_files
    from stockbridge.doctor import store_checks
    from stockbridge.errors import ConfigError

    try:
        files = store_files(args.paths)
    except ConfigError as exc:
        print(f"stockbridge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stores, problems = validate_files(files, keep_local=True)
    for problem in problems:
        print(problem, file=sys.stderr)
    failed = 0
    for path, store in stores:
        print(f"{store.store} ({store.integration}): {path}")
        for check in store_checks(store, path):
            mark = "FAIL" if not check.ok else "warn" if check.warning else "ok"
            print(f"  {mark:<4}  {check.name}: {check.detail}")
            failed += not check.ok
    if failed:
        print(f"{failed} check(s) failed", file=sys.stderr)
        return EXIT_FAILED
    if problems or not stores:
        if not stores:
            print(f"stockbridge: no valid store file in {', '.join(args.paths)}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from stockbridge.report import write_report

    ledger = open_ledger(args)
    try:
        written = write_report(
            ledger,
            args.store,
            Path(args.out),
            days=args.days,
            references=args.reference,
            timezone=store_timezone(args),
        )
    finally:
        ledger.close()
    print(written)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from stockbridge.errors import LedgerError
    from stockbridge.ledger.ledger import Ledger

    sources, set_aside = ledger_sources(args)
    for line in set_aside:
        print(f"set aside: {line}", file=sys.stderr)
    rows: list[dict] = []
    read: list[str] = []
    failed = 0
    for url, stores in sources:
        try:
            ledger = Ledger.open_existing(url)
        except LedgerError as exc:
            print(f"stockbridge: {exc}", file=sys.stderr)
            failed += 1
            continue
        try:
            rows += ledger.history(args.store, args.limit)
            names = f" (store file(s) of {', '.join(stores)})" if stores else ""
            read.append(f"{ledger.display}{names}")
        finally:
            ledger.close()
    if not read:
        return EXIT_FAILED
    for shown in read:
        print(f"ledger read: {shown}")
    rows.sort(key=lambda row: row["started_at"], reverse=True)
    cut = len(rows) > args.limit
    rows = rows[: args.limit]
    if not rows:
        print("no runs recorded yet" + (f" for store {args.store}" if args.store else ""))
        return EXIT_FAILED if failed else 0
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
    if cut:
        print(f"(the newest {args.limit} runs; --limit N shows more)")
    return EXIT_FAILED if failed else 0


def cmd_movements(args: argparse.Namespace) -> int:
    from datetime import UTC
    from zoneinfo import ZoneInfo

    from stockbridge.ledger.tables import stock
    from stockbridge.movements import format_quantities
    from stockbridge.schema import MovementKind

    zone_name = store_timezone(args)
    zone = ZoneInfo(zone_name)
    ledger = open_ledger(args)
    try:
        rows = ledger.movements_of(args.store, args.reference, args.limit + 1)
        with ledger.reading() as connection:
            current = connection.execute(
                stock.select().where(
                    stock.c.store == args.store, stock.c.reference == args.reference
                )
            ).first()
    finally:
        ledger.close()
    if not rows:
        print(f"no movements for {args.reference} in store {args.store}")
        return 0
    cut = len(rows) > args.limit
    rows = rows[: args.limit]
    on_hand = current.on_hand if current is not None else 0
    reserved = current.reserved if current is not None else 0
    balances = []  # on hand after each movement, worked back from the current stock
    for row in rows:
        balances.append(on_hand)
        if not MovementKind(row["kind"]).changes_reserved:
            on_hand -= row["quantity"]
    quantities = format_quantities([row["quantity"] for row in rows]).to_pylist()
    after = format_quantities(balances).to_pylist()
    print(
        f"movements of {args.reference} in store {args.store}, newest first (the order they"
        f" were applied to the ledger); times in {zone_name}"
    )
    print(
        f"{'applied':<19}  {'quantity':>9} {'on hand':>9}  {'kind':<10} {'file':<32}"
        f" {'line':>6}  run"
    )
    for row, quantity, balance in zip(rows, quantities, after, strict=True):
        applied = row["applied_at"].replace(tzinfo=UTC).astimezone(zone)
        print(
            f"{applied:%Y-%m-%d %H:%M:%S}  {quantity:>9} {balance:>9}  {row['kind']:<10}"
            f" {row['document']:<32} {row['line']:>6}  {row['run_id']}"
        )
        if row["source_reference"] or row["origin_document"]:
            origin = (
                f"; for {row['origin_document']} line {row['origin_line']}"
                if row["origin_document"]
                else ""
            )
            print(f"{'':21}till code {row['source_reference']}{origin}")
    now_on_hand, now_reserved, available = format_quantities(
        [balances[0], reserved, balances[0] - reserved]
    ).to_pylist()
    print(f"current stock: {now_on_hand} on hand, {now_reserved} reserved, {available} available")
    if cut:
        print(
            f"(only the newest {args.limit} movements are shown; older ones exist:"
            " --limit N shows more)"
        )
    return 0


def cmd_rejects(args: argparse.Namespace) -> int:
    from datetime import UTC
    from zoneinfo import ZoneInfo

    from tasks.errorfiles import printable

    since = _since(args.since) if args.since else None
    zone_name = store_timezone(args)
    zone = ZoneInfo(zone_name)
    ledger = open_ledger(args)
    try:
        rows = ledger.rejects_since(args.store, since, args.limit + 1)
    finally:
        ledger.close()
    after = f" since {args.since}" if args.since else ""
    if not rows:
        print(f"no rejected lines in store {args.store}{after}")
        return 0
    cut = len(rows) > args.limit
    rows = rows[: args.limit]
    print(
        f"rejected lines of store {args.store}{after}, newest document first; times in {zone_name}"
    )
    print(f"{'applied':<19}  document, line: raw text / the reason (run)")
    for row in rows:
        applied = row["applied_at"].replace(tzinfo=UTC).astimezone(zone)
        print(
            f"{applied:%Y-%m-%d %H:%M:%S}  {row['document']}, line {row['line']}:"
            f" {printable(row['raw'])}"
        )
        print(f"{'':21}{row['reason']} (run {row['run_id']})")
    if cut:
        print(f"(only the newest {args.limit} lines are shown; --limit N shows more)")
    return 0


def _since(text: str):
    """``--since``: a day, a time (the store's... UTC when naive), or a span back from now."""
    from datetime import UTC, datetime

    from stockbridge.config.models import parse_duration
    from stockbridge.errors import ConfigError

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            return datetime.now(UTC).replace(tzinfo=None) - parse_duration(text)
        except ValueError:
            raise ConfigError(
                f"--since {text}: give a day (2026-11-27), a time (2026-11-27T08:00) or a"
                " span back from now (7d, 12h)"
            ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


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


def _store_files_read(args: argparse.Namespace) -> tuple[list, list[str]]:
    """The valid store files of ``--config`` (default ``configs/``) and, one line each, the
    files set aside because they are not valid. Reads only: nothing is created."""
    from stockbridge.config.loader import InvalidStoreFile, load_store, store_files

    source = Path(args.config) if getattr(args, "config", None) else Path("configs")
    if not source.exists():
        if getattr(args, "config", None):
            from stockbridge.errors import ConfigError

            raise ConfigError(f"--config {source}: no such file or folder")
        return [], []
    stores, set_aside = [], []
    for path in store_files([source]):
        try:
            stores.append((path, load_store(path)))
        except InvalidStoreFile as exc:
            first = exc.problems[0] if exc.problems else None
            more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
            set_aside.append(f"{first}{more}; stockbridge validate {path} says all")
    return stores, set_aside


def _store_file(args: argparse.Namespace):
    stores, _ = _store_files_read(args)
    for _path, store in stores:
        if getattr(args, "store", None) in (None, store.store):
            return store
    return None


def ledger_sources(args: argparse.Namespace) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """Every ledger the store files name (``--store``: that store's), each with the store
    files naming it, and the files set aside. ``--ledger`` is the one ledger given."""
    from stockbridge.runtime import default_ledger_url

    if args.ledger:
        return [(args.ledger, [])], []
    stores, set_aside = _store_files_read(args)
    by_url: dict[str, list[str]] = {}
    for path, store in stores:
        if getattr(args, "store", None) in (None, store.store):
            by_url.setdefault(store.ledger or default_ledger_url(), []).append(str(path))
    return list(by_url.items()) or [(default_ledger_url(), [])], set_aside


def open_ledger(args: argparse.Namespace):
    """The ledger of ``--store`` (from ``--ledger``, or its store file's), for reading: it
    must exist already; nothing is created or migrated."""
    from stockbridge.errors import LedgerError
    from stockbridge.ledger.ledger import Ledger
    from stockbridge.runtime import default_ledger_url

    url = args.ledger
    if url is None:
        store = _store_file(args)
        url = (store.ledger if store is not None else None) or default_ledger_url()
    try:
        return Ledger.open_existing(url)
    except LedgerError as exc:
        store_id = getattr(args, "store", None)
        if args.ledger is None and store_id and _store_file(args) is None:
            where = args.config or "configs/"
            raise LedgerError(
                f"no store file in {where} has store: {store_id}, and {exc}; give --config"
                " FOLDER or --ledger URL"
            ) from None
        raise


if __name__ == "__main__":
    sys.exit(main())
