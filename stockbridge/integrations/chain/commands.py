"""``stockbridge jobs request|list``, ``stockbridge chain run|skip|capture``: the chain's
commands."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from stockbridge.errors import ConfigError

EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 1, 2, 75


def add_commands(subparsers) -> None:
    jobs = subparsers.add_parser("jobs", help="HQ's job requests to the chain's stores")
    actions = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    request = actions.add_parser("request", help="ask stores to pull or resend something")
    request.add_argument("--config", required=True, help="HQ's store file (role: hq)")
    request.add_argument("--stores", required=True, help="all, or store ids: lyon,paris")
    request.add_argument(
        "what",
        nargs="+",
        help="articles, keyboards, stores, products, technical_sheets, customers, printers, stock",
    )
    request.set_defaults(handler=cmd_request)
    listing = actions.add_parser("list", help="the jobs table: asked, done, result")
    listing.add_argument("--config", required=True, help="HQ's (or a store's) store file")
    listing.add_argument("--store", help="only this store's jobs")
    listing.add_argument("--limit", type=int, default=50, help="at most this many jobs (50)")
    listing.set_defaults(handler=cmd_list)

    chain = subparsers.add_parser("chain", help="a chain store's ad-hoc actions")
    chain_actions = chain.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = chain_actions.add_parser("run", help="run a store now, or only one exchange")
    run.add_argument("path", help="the store file")
    run.add_argument("--only", help="push:ENTITY or pull:ENTITY (a pull then in full)")
    run.set_defaults(handler=cmd_run)
    skip = chain_actions.add_parser("skip", help="skip a row HQ refuses, recorded in the ledger")
    skip.add_argument("path", help="the store file")
    skip.add_argument("entity", help="the stopped entity (tickets, ticket_lines, ...)")
    skip.add_argument("key", help="the refused row's key, as the run named it")
    skip.set_defaults(handler=cmd_skip)
    capture = chain_actions.add_parser(
        "capture", help="trigger-based change capture for till tables with no change column"
    )
    capture_actions = capture.add_subparsers(dest="capture_action", required=True, metavar="ACTION")
    for name, text in (
        ("install", "create the change table and the triggers (again: replaced, harmless)"),
        ("remove", "drop the triggers (the change table stays)"),
    ):
        action = capture_actions.add_parser(name, help=text)
        action.add_argument("--config", required=True, help="the store file")
        action.set_defaults(handler=cmd_capture)


def _load(path: str):
    from stockbridge.config.loader import load_store

    store = load_store(Path(path))
    if store.integration != "chain":
        raise ConfigError(f"{path} is not a chain store file (integration: {store.integration})")
    return store


def request(config, stores: list[str], what: list[str], by: str) -> list[int]:
    from stockbridge.integrations.chain.database import ensure_hq_schema, open_engine
    from stockbridge.integrations.chain.jobs import request_jobs

    if config.role != "hq":
        raise ConfigError("jobs are requested with HQ's store file (role: hq)")
    engine = open_engine(config.hq, "HQ database")
    try:
        profile = config.load_profile()
        tables = ensure_hq_schema(engine, profile)
        stores = [s.strip() for s in stores if s.strip()]
        what = [w.strip() for w in what if w.strip()]
        return request_jobs(engine, tables, profile, stores, what, by)
    finally:
        engine.dispose()


def cmd_request(args: argparse.Namespace) -> int:
    config = _load(args.config)
    ids = request(config, args.stores.split(","), args.what, by=getpass.getuser())
    print(
        f"{len(ids)} job(s) requested (ids {', '.join(map(str, ids))}); each store does its"
        " own at its next run"
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from stockbridge.integrations.chain.database import ensure_hq_schema, open_engine
    from stockbridge.integrations.chain.jobs import list_jobs

    config = _load(args.config)
    engine = open_engine(config.hq, "HQ database")
    try:
        tables = ensure_hq_schema(engine, config.load_profile())
        jobs = list_jobs(engine, tables, args.store, args.limit)
    finally:
        engine.dispose()
    if not jobs:
        print("no jobs requested yet")
        return 0
    print(f"{'id':>5}  {'store':<16} {'what':<16} {'asked (UTC)':<19}  {'state':<8} done / result")
    for job in jobs:
        done = f"{job.done_at:%Y-%m-%d %H:%M:%S} {job.result or ''}" if job.done_at else ""
        print(
            f"{job.id:>5}  {job.store:<16} {job.what:<16} {job.requested_at:%Y-%m-%d %H:%M:%S}"
            f"  {job.state:<8} {done}"
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from stockbridge.integrations import get
    from stockbridge.logs import install_console_filter
    from stockbridge.summary import RunSummary

    _load(args.path)
    flow = get("chain").load_flow()
    install_console_filter()
    state = flow(config_path=str(Path(args.path).absolute()), only=args.only, return_state=True)
    summary = state.result(raise_on_failure=False)
    if not isinstance(summary, RunSummary):
        print(f"stockbridge: {state.message}", file=sys.stderr)
        return EXIT_FAILED
    print(summary.render())
    if summary.state == "skipped":
        return EXIT_BUSY
    return 0 if summary.state == "completed" else EXIT_FAILED


def cmd_skip(args: argparse.Namespace) -> int:
    import json
    import uuid

    from stockbridge.integrations.chain.stock import INTEGRATION
    from stockbridge.integrations.chain.sync import SKIP_PREFIX
    from stockbridge.ledger.ledger import Ledger, utc_now
    from stockbridge.runtime import default_ledger_url

    config = _load(args.path)
    config.load_profile().entity(args.entity)
    ledger = Ledger.open(config.ledger or default_ledger_url())
    try:
        name = f"{SKIP_PREFIX}{args.entity}:{args.key}"
        note = json.dumps({"by": getpass.getuser(), "at": utc_now().isoformat()})
        message = f"{args.entity} row {args.key} skipped by hand: it will never reach HQ"
        with ledger.lock(config.store, INTEGRATION):
            ledger.set_cursor(config.store, INTEGRATION, name, note)
            run_id = f"skip-{uuid.uuid4().hex[:12]}"
            ledger.start_run(run_id, config.store, INTEGRATION)
            ledger.finish_run(run_id, "completed", {}, message)
    finally:
        ledger.close()
    print(f"{config.store}: {message}; the next run goes on past it")
    return 0


def cmd_capture(args: argparse.Namespace) -> int:
    """Install or remove the capture triggers of the entities this store pushes by capture."""
    from stockbridge.integrations.chain.capture import (
        AtHQ,
        captured,
        install,
        read_at_hq,
        remove,
    )
    from stockbridge.integrations.chain.database import ChainError, open_engine

    config = _load(args.config)
    entities = captured(config, config.load_profile())
    if not entities:
        print(f"{config.store}: no entity of profile '{config.profile}' is found by capture")
        return 0
    at_hq, lines = AtHQ(), []
    if args.capture_action == "install":
        try:
            at_hq = read_at_hq(config, entities)
        except ChainError as exc:  # the triggers matter more: install them, say what is left
            lines.append(
                f"HQ not read ({exc}): rows deleted while no trigger recorded them are not"
                " told to HQ, and a restarted change table is not moved above HQ's point;"
                " run this again when HQ is reachable"
            )
    engine = open_engine(config.till, "till database")
    try:
        if args.capture_action == "install":
            lines += [done.line() for done in install(engine, entities, at_hq)]
        else:
            lines = remove(engine, entities)
    finally:
        engine.dispose()
    for line in lines:
        print(f"{config.store}: {line}")
    return 0
