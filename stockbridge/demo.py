"""``make demo``: run every sample store on a fresh copy of ``data_samples/``.

Every run starts from scratch: ``.work/demo/`` (ledger and exchange folders) is deleted and
the sample files are copied in again, so the demo can be repeated at will.

* InterStock (``configs/boutique-paris.yaml``): the web shop's movement files, applied.
* The cellar (``configs/cave-lyon.yaml``): Friday night's journal, two answers a sommelier
  would give (a bottle: yes; a glass: six to the bottle), then Saturday night's journal,
  whose sales of those codes now apply at once; the rest wait as drinks to link.
* Seliton (``configs/magazin-1.yaml``): a sample Warehouse Pro database (SQLite) and the
  contract fake of the shop over HTTPS: goods of the group Сок exported, three web orders
  imported, each with its УНП (one waits: it names a good Warehouse Pro does not have).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from stockbridge.runtime import configure_prefect

INTERSTOCK_STORE = Path("configs/boutique-paris.yaml")
INTERSTOCK_SAMPLES = Path("data_samples/interstock/import")
CELLAR_STORE = Path("configs/cave-lyon.yaml")
CELLAR_NIGHTS = sorted(Path("data_samples/pointex/sales").glob("journal-*.csv"))
CELLAR_ANSWERS = (("000101", "V001", 1), ("000501", "V019", 6))
"""Friday's answers: Château Margaux 2015 by the bottle; the Guigal by the glass."""
DEMO = Path(".work/demo")
CLI = ".venv/bin/stockbridge"


def main() -> int:
    configure_prefect()
    shutil.rmtree(DEMO, ignore_errors=True)
    ok = interstock() & cellar() & seliton()
    return 0 if ok else 1


def interstock() -> bool:
    from stockbridge.cli import run_store
    from stockbridge.config.loader import load_store

    store = load_store(INTERSTOCK_STORE)
    inbox = store.imports[0].local_path
    inbox.mkdir(parents=True)
    for sample in sorted(INTERSTOCK_SAMPLES.iterdir()):
        shutil.copy2(sample, inbox / sample.name)

    print(f"stockbridge demo: store '{store.store}' on {len(list(inbox.iterdir()))} sample files")
    summary = run_store(INTERSTOCK_STORE, store.integration)
    print()
    print(summary.render())
    print()
    print(f"Export file:  {store.export.local_path}")
    print(f"Error files:  {store.errors.local_path}/")
    print(f"Ledger:       {store.ledger}")
    print(f"Try: {CLI} history --store {store.store}")
    print(f"     {CLI} movements --store {store.store} 8880000000130")
    return summary.state == "completed"


def cellar() -> bool:
    from stockbridge.cli import run_store
    from stockbridge.config.loader import load_store
    from stockbridge.integrations.pointex.links import Cellar
    from stockbridge.ledger.ledger import Ledger

    store = load_store(CELLAR_STORE)
    drop = store.imports[0].local_path
    drop.mkdir(parents=True)
    print()
    print(f"stockbridge demo: cellar '{store.store}', {len(CELLAR_NIGHTS)} nights of journals")
    ok = True
    for night, journal in enumerate(CELLAR_NIGHTS):
        shutil.copy2(journal, drop / journal.name)
        summary = run_store(CELLAR_STORE, store.integration)
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
    print(f"Next: {CLI} links pending --store {store.store}")
    print(f"      {CLI} links yes --store {store.store} 000104")
    print(f"      {CLI} stock --store {store.store}")
    print(f"      {CLI} sales --store {store.store} --by day")
    return ok


SELITON_STORE = Path("configs/magazin-1.yaml")
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
    config = folder / SELITON_STORE.name
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
