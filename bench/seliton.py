"""The Seliton benchmark cases, each beside a plain reference timed in the same process.

* ``seliton-orders-10k``: 10,000 shop orders (1-3 lines each) imported into a Warehouse Pro
  database (SQLite), each with its УНП written back (``updateorder``), against the contract
  fake over HTTPS. Ours: ``orders.import_orders`` (batches of orders per transaction, the
  ledger's exactly-once states, the reservations). Reference: the plain way, one
  ``getorders`` then per order one ``updateorder`` request and one autocommitted statement
  per row (keys row, document, each line).
* ``seliton-export-50k``: the first export of 50,000 goods of the chosen group. Ours:
  ``export.export_goods`` (a digest per good in the ledger, ``postxmlfeed`` batches of 500).
  Reference: one ``postxmlfeed`` request per good and one autocommitted digest statement per
  good. Then a second export after 30 goods changed: what a routine run sends.

The references run on a part of the data (``REFERENCE_SHARE``) and are scaled up linearly.
Run by ``python -m bench`` in a worker of its own (``python -m bench.seliton --plan ...``):
no Prefect here.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench.cases import Case
from bench.memory import PeakMemory
from bench.worker import code_revision, cpu_seconds, machine_load

SEED = 20_261_202
REFERENCE_SHARE = {"orders": 0.2, "export": 0.1}


def prepare(case: Case, folder: Path, ledger: str, reference: bool) -> tuple[dict, dict]:
    plan = {"folder": str(folder), "reference": reference, "orders": case.files}
    return plan, {"goods": case.articles, "orders": case.files}


def _goods(count: int, group: int = 2):
    from stockbridge.integrations.seliton.sample import SampleGood

    rng = random.Random(SEED)
    return [
        SampleGood(
            f"G{n:06d}",
            f"380{n:010d}",
            f"Стока {n}",
            round(rng.uniform(1, 50), 2),
            group,
            float(rng.randint(0, 100)),
        )
        for n in range(1, count + 1)
    ]


def _world(folder: Path, name: str, goods: int, orders: int, tls) -> dict[str, Any]:
    """A Warehouse Pro database, a ledger, the fake shop with ``orders``, a config."""
    from sqlalchemy import create_engine

    from stockbridge.integrations.seliton.config import SelitonConfig
    from stockbridge.integrations.seliton.contract_fake import SelitonFake
    from stockbridge.integrations.seliton.sample import build

    home = folder / name
    home.mkdir(parents=True, exist_ok=True)
    warehouse_url = f"sqlite:///{home / 'warehouse.db'}"
    engine = create_engine(warehouse_url)
    build(engine, _goods(goods))
    engine.dispose()
    fake = SelitonFake("admin", "bench-secret", tls.cert_file, tls.key_file)
    rng = random.Random(SEED + 1)
    for order_id in range(1, orders + 1):
        fake.add_order(
            order_id,
            [
                (f"G{rng.randint(1, goods):06d}", str(rng.randint(1, 3)), "1.00")
                for _ in range(rng.randint(1, 3))
            ],
        )
    url = fake.start()
    config = SelitonConfig.model_validate(
        {
            "store": f"bench-{name}",
            "integration": "seliton",
            "ledger": f"sqlite:///{home / 'ledger.db'}",
            "warehouse": warehouse_url,
            "operator": "1",
            "object": "Магазин 1",
            "groups": ["Сок"],
            "export": {"goods": True, "quantities": True, "batch": 500},
            "shop": {
                "url": url,
                "username": "admin",
                "secret": "bench-secret",
                "ca_file": str(tls.ca_file),
            },
            "fiscal_device": "DY447824",
        }
    )
    return {"fake": fake, "config": config, "warehouse_url": warehouse_url, "home": home}


def _ours(world: dict[str, Any], what: str) -> dict[str, Any]:
    from stockbridge.integrations.seliton.client import ShopClient
    from stockbridge.integrations.seliton.export import export_goods
    from stockbridge.integrations.seliton.orders import import_orders
    from stockbridge.integrations.seliton.wpdb import (
        connected,
        ensure_own_table,
        open_warehouse,
        resolve,
    )
    from stockbridge.ledger.ledger import Ledger

    config = world["config"]
    ledger = Ledger.open(config.ledger)
    warehouse = open_warehouse(config)
    ensure_own_table(warehouse)
    with connected(warehouse) as connection:
        setup = resolve(connection, config)
    shop = ShopClient(config.shop)
    result: dict[str, Any] = {}
    try:
        load_before = machine_load()
        with PeakMemory() as memory:
            cpu_start, start = cpu_seconds(), time.perf_counter()
            if what == "orders":
                report = import_orders(ledger, warehouse, shop, config, setup, "bench")
                result["count"] = len(report.imported)
            else:
                report = export_goods(ledger, warehouse, shop, config, setup)
                result["count"] = len(report.sent)
            seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
        result.update(
            marginal_seconds=seconds,
            marginal_cpu_seconds=cpu,
            requests=shop.requests,
            load_before=load_before,
            load_after=machine_load(),
            memory=memory.to_json(),
        )
        if what == "export":  # a routine run: 30 goods changed in Warehouse Pro
            engine = warehouse
            from sqlalchemy import text

            with engine.begin() as connection:
                connection.execute(
                    text("UPDATE goods SET PriceOut2 = PriceOut2 + 1 WHERE ID <= 30")
                )
            before = shop.requests
            start = time.perf_counter()
            again = export_goods(ledger, warehouse, shop, config, setup)
            result["second"] = {
                "seconds": time.perf_counter() - start,
                "sent": len(again.sent),
                "requests": shop.requests - before,
            }
    finally:
        shop.close()
        warehouse.dispose()
        ledger.close()
    return result


def _reference(world: dict[str, Any], what: str, share: float) -> dict[str, Any]:
    """The plain way: one request and one autocommitted statement per row."""
    import httpx

    from stockbridge.integrations.seliton import wire
    from stockbridge.integrations.seliton.client import tls_context

    config = world["config"]
    endpoint = config.shop.url + wire.API_PATH
    base = wire.form("", config.shop.username, config.shop.secret.get_secret_value())
    database = sqlite3.connect(
        world["warehouse_url"].removeprefix("sqlite:///"), isolation_level=None
    )
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("PRAGMA synchronous=FULL")
    database.execute("CREATE TABLE IF NOT EXISTS digests (code TEXT PRIMARY KEY, digest TEXT)")
    client = httpx.Client(verify=tls_context(config.shop))
    count = 0
    try:
        cpu_start, start = cpu_seconds(), time.perf_counter()
        if what == "orders":
            answer = client.post(
                endpoint, data={**base, "action": "getorders", "from_id": "0", "limit": "100000"}
            )
            orders = wire.orders(wire.answer(answer.content).root)
            orders = orders[: int(len(orders) * share)]
            for order in orders:
                acct = order.id
                unp = f"DY447824-0001-{order.id:07d}"
                database.execute(
                    "INSERT INTO stockbridge_seliton VALUES (?, ?, 19, ?, datetime('now'))",
                    (order.id, unp, acct),
                )
                database.execute(
                    "INSERT INTO documents (Acct, OperType, ExternalInvoiceNumber, Reason)"
                    " VALUES (?, 19, ?, ?)",
                    (acct, unp, f"Seliton {order.id}"),
                )
                for line in order.lines:
                    good = database.execute(
                        "SELECT ID FROM goods WHERE Code = ?", (line.code,)
                    ).fetchone()
                    database.execute(
                        "INSERT INTO operations (OperType, Acct, GoodID, ObjectID, Qtty, Note)"
                        " VALUES (19, ?, ?, 1, ?, ?)",
                        (acct, good[0], float(line.quantity), unp),
                    )
                client.post(
                    endpoint,
                    data={**base, "action": "updateorder", "id": str(order.id), "unp": unp},
                )
                count += 1
        else:
            rows = database.execute(
                "SELECT g.Code, g.BarCode1, g.Name, g.PriceOut2, s.Qtty FROM goods g"
                " LEFT JOIN store s ON s.GoodID = g.ID AND s.ObjectID = 1 WHERE g.GroupID = 2"
            ).fetchall()
            rows = rows[: int(len(rows) * share)]
            for code, barcode, name, price, quantity in rows:
                product = wire.Product(
                    code,
                    barcode,
                    name,
                    wire.Decimal(str(price)),
                    "Сок",
                    wire.Decimal(str(quantity or 0)),
                    False,
                )
                client.post(
                    endpoint,
                    data={
                        **base,
                        "action": "postxmlfeed",
                        "xml": wire.feed("bench", [product]).decode(),
                    },
                )
                database.execute(
                    "INSERT OR REPLACE INTO digests VALUES (?, ?)", (code, str(hash(product)))
                )
                count += 1
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    finally:
        client.close()
        database.close()
    return {
        "estimate_seconds": seconds / share,
        "estimate_cpu_seconds": cpu / share,
        "measured_seconds": seconds,
        "rows": count,
        "share": share,
    }


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    from tests.servers import make_tls_material

    folder = Path(case["folder"])
    tls = make_tls_material(folder / "tls")
    what = "orders" if case["orders"] else "export"
    goods = case["articles"]
    world = _world(folder, "ours", goods, case["orders"], tls)
    try:
        result = _ours(world, what)
    finally:
        world["fake"].stop()
    _say(
        f"ours: {result['count']} {what} in {result['marginal_seconds']:.2f} s"
        f" ({result['requests']} requests)"
    )
    if "second" in result:
        second = result["second"]
        _say(
            f"ours, next run after 30 changes: {second['sent']} goods sent in"
            f" {second['requests']} request(s), {second['seconds']:.2f} s"
        )
    if case.get("reference"):
        world = _world(folder, "reference", goods, case["orders"], tls)
        try:
            result["reference"] = _reference(world, what, REFERENCE_SHARE[what])
        finally:
            world["fake"].stop()
        reference = result["reference"]
        _say(
            f"reference: {reference['rows']} {what} in {reference['measured_seconds']:.2f} s,"
            f" scaled to {reference['estimate_seconds']:.2f} s;"
            f" ratio {result['marginal_seconds'] / reference['estimate_seconds']:.2f}x"
        )
    return result


def _say(message: str) -> None:
    print(f"    {message}", flush=True)


def check(case: Case, plan: dict, expected: dict, result: dict) -> list[str]:
    want = expected["orders"] or expected["goods"]
    if result.get("count") != want:
        return [f"{result.get('count')} done of {want}"]
    if "second" in result and result["second"]["sent"] != 30:
        return [f"the second export sent {result['second']['sent']} goods, not the 30 changed"]
    return []


def describe(entry: dict) -> list[str]:
    raw = entry.get("raw") or {}
    lines = []
    if raw.get("requests") is not None:
        lines.append(f"ours: {raw['requests']} request(s) to the shop")
    if raw.get("second"):
        second = raw["second"]
        lines.append(
            f"next export after 30 goods changed: {second['sent']} sent in"
            f" {second['requests']} request(s), {second['seconds']:.2f} s"
        )
    reference = raw.get("reference")
    if reference:
        lines.append(
            f"reference = one request and one autocommitted statement per row, run on"
            f" {reference['share']:.0%} ({reference['rows']} rows) and scaled up"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seliton")
    parser.add_argument("--plan", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--profile", default=None, help="(not used by this case)")
    args = parser.parse_args(argv)
    plan = json.loads(Path(args.plan).read_text())
    start = time.perf_counter()
    import stockbridge.integrations.seliton.orders  # noqa: F401

    results: dict[str, Any] = {
        "import_seconds": time.perf_counter() - start,
        "code": code_revision(),
        "cases": {},
    }
    for case in plan["cases"]:
        print(f"  {case['name']}: {case['title']}", flush=True)
        try:
            results["cases"][case["name"]] = run_case(case)
            results["cases"][case["name"]]["code"] = results["code"]
        except Exception:
            text = traceback.format_exc()
            print(text, file=sys.stderr, flush=True)
            print(f"    FAILED: {text.strip().splitlines()[-1]}", flush=True)
            results["cases"][case["name"]] = {"error": text}
        Path(args.out).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
