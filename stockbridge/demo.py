"""``make demo``: run every sample store on a fresh copy of ``data_samples/``.

Every run starts from scratch: ``.work/demo/`` (ledger and exchange folders) is deleted and
the sample files are copied in again, so the demo can be repeated at will.

* InterStock (``configs/boutique-paris.yaml``): the web shop's movement files, applied.
* The cellar (``configs/cave-lyon.yaml``): Friday night's journal, two answers a sommelier
  would give (a bottle: yes; a glass: six to the bottle), then Saturday night's journal,
  whose sales of those codes now apply at once; the rest wait as drinks to link.
* The chain (``configs/chain-*.yaml``): HQ and two stores on SQLite files; HQ's articles go
  down, the tills' sales and a transfer go up, HQ's view of sales and stock is printed.
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
    ok = interstock() & cellar() & chain()
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


CHAIN_STORES = {
    "hq": Path("configs/chain-hq.yaml"),
    "lyon": Path("configs/chain-lyon.yaml"),
    "paris": Path("configs/chain-paris.yaml"),
}


def chain() -> bool:
    """A chain of two stores and HQ on SQLite files: HQ's articles go down, the simulator
    sells at both tills and sends a transfer, the stores push; HQ's view is printed."""
    from decimal import Decimal

    import sqlalchemy as sa

    from stockbridge.cli import run_store
    from stockbridge.config.loader import load_store
    from stockbridge.integrations.chain.database import open_engine
    from stockbridge.integrations.chain.simulator import ARTICLES, Till

    stores = {name: load_store(path) for name, path in CHAIN_STORES.items()}
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
        summary = run_store(CHAIN_STORES[name], "chain")
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
    print(f"Try: {CLI} jobs request --config configs/chain-hq.yaml --stores all articles")
    print(f"     {CLI} jobs list --config configs/chain-hq.yaml")
    print(f"     {CLI} movements --store paris {ARTICLES[0]} --config configs/chain-paris.yaml")
    return ok


if __name__ == "__main__":
    sys.exit(main())
