"""``make demo``: run every sample store on a fresh copy of ``data_samples/``.

Every run starts from scratch: ``.work/demo/`` (ledger and exchange folders) is deleted and
the sample files are copied in again, so the demo can be repeated at will.

The demo runs its own store files, ``data_samples/configs/``, copied to
``.work/demo/configs/``: never ``configs/``, which the README invites users to edit (an
``ftp://`` import there must not send the demo to a server, or make it copy its samples into
a local folder named ``ftp:``). The files of ``configs/`` start as the same samples.

* InterStock (``configs/boutique-paris.yaml``): the web shop's movement files, applied.
* The cellar (``configs/cave-lyon.yaml``): Friday night's journal, two answers a sommelier
  would give (a bottle: yes; a glass: six to the bottle), then Saturday night's journal,
  whose sales of those codes now apply at once; the rest wait as drinks to link.
* ShopFactory (``shopfactory-demo.yaml``): the shop's live stock file taken as it
  is, then web sales in the shop and a delivery: synchronise, edit, publish.
* The chain (``chain-*.yaml``): HQ and two stores on SQLite files; HQ's articles go
  down, the tills' sales and a transfer go up, HQ's view of sales and stock is printed.
* Seliton (``magazin-1.yaml``): a sample Warehouse Pro database (SQLite) and the
  contract fake of the shop over HTTPS: goods of the group Сок exported, three web orders
  imported, each with its УНП (one waits: it names a good Warehouse Pro does not have).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from stockbridge.runtime import configure_prefect

SAMPLE_STORES = Path("data_samples/configs")
INTERSTOCK_STORE = "boutique-paris.yaml"
INTERSTOCK_SAMPLES = Path("data_samples/interstock/import")
CELLAR_STORE = "cave-lyon.yaml"
CELLAR_NIGHTS = sorted(Path("data_samples/pointex/sales").glob("journal-*.csv"))
CELLAR_ANSWERS = (("000101", "V001", 1), ("000501", "V019", 6))
"""Friday's answers: Château Margaux 2015 by the bottle; the Guigal by the glass."""
SHOP_STORE = "shopfactory-demo.yaml"
SHOP_SAMPLES = Path("data_samples/shopfactory")
DEMO = Path(".work/demo")
DEMO_STORES = DEMO / "configs"
CLI = ".venv/bin/stockbridge"


def main() -> int:
    configure_prefect()
    shutil.rmtree(DEMO, ignore_errors=True)
    ok = interstock() & cellar() & shopfactory() & chain() & seliton()
    return 0 if ok else 1


def sample_store(name: str) -> Path:
    """The demo's own copy of sample store file ``name``, in ``.work/demo/configs/``.

    From ``data_samples/configs/``; a sample that is only in ``configs/`` (an integration
    that has not moved its sample yet) is copied from there, and the demo says so.
    """
    source = SAMPLE_STORES / name
    if not source.exists():
        source = Path("configs") / name
        print(f"stockbridge demo: {name} is not in {SAMPLE_STORES}/; using {source}")
    target = DEMO_STORES / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def interstock() -> bool:
    from stockbridge.cli import run_store
    from stockbridge.config.loader import load_store

    path = sample_store(INTERSTOCK_STORE)
    store = load_store(path)
    inbox = store.imports[0].local_path
    inbox.mkdir(parents=True, exist_ok=True)
    for sample in sorted(INTERSTOCK_SAMPLES.iterdir()):
        shutil.copy2(sample, inbox / sample.name)

    print(f"stockbridge demo: store '{store.store}' on {len(list(inbox.iterdir()))} sample files")
    summary = run_store(path, store.integration)
    print()
    print(summary.render())
    print()
    print(f"Export file:  {store.export.local_path}")
    print(f"Error files:  {store.errors.local_path}/")
    print(f"Ledger:       {store.ledger}")
    print(f"Try: {CLI} history --config {DEMO_STORES}")
    print(f"     {CLI} movements --config {DEMO_STORES} --store {store.store} 8880000000130")
    print(f"     {CLI} rejects --config {DEMO_STORES} --store {store.store}")
    return summary.state == "completed"


def cellar() -> bool:
    from stockbridge.cli import run_store
    from stockbridge.config.loader import load_store
    from stockbridge.integrations.pointex.links import Cellar
    from stockbridge.ledger.ledger import Ledger

    path = sample_store(CELLAR_STORE)
    store = load_store(path)
    drop = store.imports[0].local_path
    drop.mkdir(parents=True, exist_ok=True)
    print()
    print(f"stockbridge demo: cellar '{store.store}', {len(CELLAR_NIGHTS)} nights of journals")
    ok = True
    for night, journal in enumerate(CELLAR_NIGHTS):
        shutil.copy2(journal, drop / journal.name)
        summary = run_store(path, store.integration)
        ok &= summary.state == "completed"
        print()
        print(summary.render())
        if night == 0:
            ledger = Ledger.open(store.ledger)
            try:
                answers = Cellar(ledger, store.store)
                print()
                for code, item, per in CELLAR_ANSWERS:
                    done = answers.link(code, item, per, "yes")
                    glass = f" --per {per}" if per != 1 else ""
                    print(
                        f"answered: links yes --store {store.store} {code} {item}{glass}"
                        f" ({done.lines} held line(s) applied)"
                    )
            finally:
                ledger.close()
    print()
    print(f"Cellar stock file: {store.export.local_path}")
    where = f"--config {DEMO_STORES} --store {store.store}"
    print(f"Next: {CLI} links pending {where}")
    print(f"      {CLI} links yes {where} 000104")
    print(f"      {CLI} stock {where}")
    print(f"      {CLI} sales {where} --by day")
    return ok


def shopfactory() -> bool:
    from stockbridge.cli import run_store
    from stockbridge.config.loader import load_store

    path = sample_store(SHOP_STORE)
    store = load_store(path)
    online = store.online.local_path
    deliveries = store.imports[0].local_path
    online.parent.mkdir(parents=True, exist_ok=True)
    deliveries.mkdir(parents=True, exist_ok=True)
    shutil.copy2(SHOP_SAMPLES / "online-stock.txt", online)
    print()
    print(f"stockbridge demo: ShopFactory shop '{store.store}', live levels in {online}")
    first = run_store(path, store.integration)
    print()
    print(first.render())

    print()
    print("Meanwhile the shop sold online and the owner added a product; a delivery arrived:")
    shutil.copy2(SHOP_SAMPLES / "online-after-sales.txt", online)
    for delivery in sorted((SHOP_SAMPLES / "import").iterdir()):
        shutil.copy2(delivery, deliveries / delivery.name)
    print("  1. synchronise: read the shop's live levels; what sold online is recorded once")
    print(f"  2. edit:        apply {deliveries}/ (and any `stockbridge adjust`)")
    print("  3. publish:     read the shop again, then publish only the stock file")
    second = run_store(path, store.integration)
    print()
    print(second.render())
    print()
    print(f"Stock file now: {online}")
    where = f"--config {DEMO_STORES} --store {store.store}"
    print(f"Next: {CLI} movements {where} P1_red_17")
    print(f"      {CLI} adjust {where} MUG-01 +12 --reason delivery")
    return first.state == "completed" and second.state == "completed"


CHAIN_STORES = {"hq": "chain-hq.yaml", "lyon": "chain-lyon.yaml", "paris": "chain-paris.yaml"}


def chain() -> bool:
    """A chain of two stores and HQ on SQLite files: HQ's articles go down, the simulator
    sells at both tills and sends a transfer, the stores push; HQ's view is printed."""
    from decimal import Decimal

    import sqlalchemy as sa

    from stockbridge.cli import run_store
    from stockbridge.config.loader import load_store
    from stockbridge.integrations.chain.database import open_engine
    from stockbridge.integrations.chain.simulator import ARTICLES, Till

    paths = {name: sample_store(file) for name, file in CHAIN_STORES.items()}
    stores = {name: load_store(path) for name, path in paths.items()}
    Path(".work/demo/chain").mkdir(parents=True, exist_ok=True)
    tills = {
        name: Till(open_engine(store.till, "till"), store.load_profile(), name)
        for name, store in stores.items()
    }
    for number, code in enumerate(ARTICLES[:12]):
        tills["hq"].set_article(code, label=f"Article {code}", price=Decimal(2 + number))
    for _ in range(5):
        tills["lyon"].sale(3)
        tills["paris"].sale(2)
    tills["lyon"].transfer("paris", ARTICLES[0], 4)
    tills["lyon"].edit_customer("C0001", name="Alice Martin", email="alice@example.com")
    print()
    print("stockbridge demo: chain of two stores (lyon, paris) and HQ, on SQLite files")
    ok = True
    for name in ("hq", "lyon", "paris", "lyon"):
        summary = run_store(paths[name], "chain")
        ok &= summary.state == "completed"
        print()
        print(summary.render())
    central = open_engine(stores["hq"].hq, "HQ database")
    ledger = sa.create_engine(stores["hq"].ledger)
    with central.connect() as connection, ledger.connect() as books:
        print()
        print("HQ's view:")
        for store, lines, quantity in connection.execute(
            sa.text(
                "SELECT sb_store, COUNT(*), SUM(quantity) FROM chain_ticket_lines GROUP BY sb_store"
            )
        ):
            stock = books.execute(
                sa.text("SELECT COUNT(*), SUM(on_hand) FROM stock WHERE store = :s"), {"s": store}
            ).one()
            print(
                f"  {store:<6} {lines} sale line(s), {quantity:g} unit(s) sold;"
                f" stock moved on {stock[0]} article(s), net {stock[1] / 1000:g}"
            )
        jobs = connection.execute(sa.text("SELECT COUNT(*) FROM stockbridge_jobs")).scalar()
        print(f"  jobs: {jobs} requested")
    central.dispose()
    ledger.dispose()
    for till in tills.values():
        till.engine.dispose()
    print(f"Try: {CLI} jobs request --config {paths['hq']} --stores all articles")
    print(f"     {CLI} jobs list --config {paths['hq']}")
    print(f"     {CLI} movements --store paris {ARTICLES[0]} --config {paths['paris']}")
    return ok


SELITON_STORE = SAMPLE_STORES / "magazin-1.yaml"
SELITON_ORDERS = (
    (5001, [("1001", "2", "3.49"), ("3800012345708", "1", "2.99")]),
    (5002, [("1002", "1", "3.19")]),
    (5003, [("1005", "1", "3.99"), ("7777", "1", "4.50")]),
)
"""Web orders: by code, by barcode (1004), and one naming a good Warehouse Pro lacks."""


def seliton() -> bool:
    import os

    import yaml
    from sqlalchemy import create_engine

    from stockbridge.cli import run_store
    from stockbridge.integrations.seliton.contract_fake import SelitonFake, self_signed_tls
    from stockbridge.integrations.seliton.sample import build, read_goods

    folder = DEMO / "seliton"
    warehouse = DEMO / "warehouse.db"
    folder.mkdir(parents=True, exist_ok=True)
    warehouse.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{warehouse}")
    build(engine, read_goods(Path("data_samples/seliton/goods.csv")))
    engine.dispose()
    secret = os.environ.get("SELITON_SECRET") or "demo-secret-key"
    os.environ["SELITON_SECRET"] = secret
    ca_file, cert_file, key_file = self_signed_tls(folder / "tls")
    shop = SelitonFake("admin", secret, cert_file, key_file)
    for order_id, items in SELITON_ORDERS:
        shop.add_order(order_id, items)
    url = shop.start()
    document = yaml.safe_load(SELITON_STORE.read_text(encoding="utf-8"))
    document["shop"].update(url=url, ca_file=str(ca_file))
    document["shop"]["secret"] = "${SELITON_SECRET}"
    document["ledger"] = f"sqlite:///{folder / 'ledger.db'}"  # starts afresh with the sample
    config = DEMO_STORES / SELITON_STORE.name  # the demo's copy, with the fake shop's address
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    print()
    print(
        f"stockbridge demo: Seliton shop '{document['store']}' (the contract fake at {url})"
        f" and Warehouse Pro in {warehouse}"
    )
    try:
        summary = run_store(config, "seliton")
    finally:
        shop.stop()
    print()
    print(summary.message)
    for line in summary.notes:
        print(f"  {line}")
    print()
    print("The shop now has:")
    for code, product in sorted(shop.products.items()):
        visible = "visible" if product.get("isActive") == "1" else "invisible"
        print(
            f"  {code} {product.get('name')}: {product.get('price')},"
            f" {product.get('quantity', '-')} available, {visible}"
        )
    for order_id, _ in SELITON_ORDERS:
        unp = shop.orders[order_id].unp or "(none yet: waiting)"
        print(f"  order {order_id}: УНП {unp}")
    print(f"Try: {CLI} history --store {document['store']} --config {config}")
    return summary.state == "completed"


if __name__ == "__main__":
    sys.exit(main())
