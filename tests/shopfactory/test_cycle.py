"""The ShopFactory cycle on local folders: synchronise, web sales, edits, re-read, publish."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

from stockbridge.adjust import adjust
from stockbridge.ledger.ledger import Ledger as StockbridgeLedger
from tests.shopfactory.shop import OPENING, make_shop, parse_shop


def test_first_run_takes_the_shop_as_it_is_and_says_so(tmp_path, sqlite_url, run, ledger_of):
    shop = make_shop(tmp_path, sqlite_url)
    shop.write(OPENING)
    before = shop.online.read_bytes()

    summary = run(shop.config)
    assert summary.state == "completed", summary.render()
    text = summary.render()
    assert "first run: no levels published before" in text and "4 SKU(s)" in text
    ledger = ledger_of(sqlite_url)
    assert ledger.available(shop.store) == OPENING
    assert Counter(k for _, _, k in ledger.movements(shop.store)) == {"adjustment": 4}
    assert shop.online.read_bytes() == before  # the shop already shows these levels
    assert "nothing to publish" in text


def test_the_cycle_end_to_end(tmp_path, ledger_url, run, ledger_of):
    shop = make_shop(tmp_path, ledger_url)
    shop.write(OPENING)
    assert run(shop.config).state == "completed"
    ledger = ledger_of(ledger_url)

    shop.sell("P1_red_17", 1_000)  # web sales since the levels were taken
    shop.sell("P1_blue_17", 2_000)
    shop.deliver("delivery-1.txt", {"MUG-01": 24_000, "P1_red_18": 2_500})
    opened = StockbridgeLedger.open(ledger_url)
    try:
        adjust(opened, shop.store, "P1_red_18", -1_000, "breakage", who="tester")
    finally:
        opened.close()

    summary = run(shop.config)
    text = summary.render()
    assert summary.state == "completed", text
    expected = {"P1_red_17": 3_000, "P1_red_18": 7_500, "P1_blue_17": 0, "MUG-01": 36_000}
    assert shop.levels() == expected
    assert ledger.available(shop.store) == expected
    assert "web sales recorded: 3 unit(s) over 2 SKU(s)" in text
    assert "edits applied: 2 line(s) from 1 movement file(s), 1 adjustment(s)" in text
    assert "export: 4 SKU(s) written to" in text
    assert sorted((r, q) for r, q, _ in ledger.movements(shop.store, "sale")) == [
        ("P1_blue_17", -2_000),
        ("P1_red_17", -1_000),
    ]
    assert [p.state for p in ledger.published(shop.store)] == ["published"]
    seen = ledger.rows(
        "SELECT reference, seen, published FROM shopfactory_levels WHERE store = :s", s=shop.store
    )
    assert {r.reference: (int(r.seen), int(r.published)) for r in seen} == {
        s: (q, q) for s, q in expected.items()
    }

    # The same snapshot read again (the next run, nothing sold): nothing counted twice.
    before = ledger.dump()
    summary = run(shop.config)
    assert summary.state == "completed"
    assert "web sales recorded: 0 unit(s) over 0 SKU(s)" in summary.render()
    assert ledger.dump() == before

    # Raised on the shop's side: an adjustment, reported; a sale of it counted from there.
    levels = shop.levels()
    levels["P1_red_18"] += 3_000
    levels["MUG-01"] -= 1_000
    shop.write(levels)
    text = run(shop.config).render()
    assert "raised on the shop's side, recorded as adjustments: P1_red_18 (+3)" in text
    assert "web sales recorded: 1 unit(s) over 1 SKU(s)" in text
    assert ledger.available(shop.store) == {**expected, "P1_red_18": 10_500, "MUG-01": 35_000}
    assert shop.levels() == ledger.available(shop.store)


def test_a_sale_between_synchronise_and_publish_is_kept(tmp_path, sqlite_url, run, monkeypatch):
    shop = make_shop(tmp_path, sqlite_url)
    shop.write(OPENING)
    assert run(shop.config).state == "completed"
    shop.deliver("delivery-2.txt", {"MUG-01": 6_000})
    go = tmp_path / "go"
    monkeypatch.setenv("SB_SHOPFACTORY_PAUSE", str(go))

    def web_sale_at_that_instant() -> None:
        waiting = Path(f"{go}.waiting")
        deadline = time.monotonic() + 120
        while not waiting.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        shop.sell("MUG-01", 2_000)  # after synchronise and the delivery, before publish
        go.touch()

    seller = threading.Thread(target=web_sale_at_that_instant)
    seller.start()
    summary = run(shop.config)
    seller.join(timeout=5)
    text = summary.render()
    assert summary.state == "completed", text
    assert shop.levels()["MUG-01"] == 12_000 + 6_000 - 2_000, "the web sale was overwritten"
    assert "1 SKU(s) sold while this run worked" in text and "MUG-01 (-2)" in text


def test_an_unknown_sku_is_taken_at_the_shop_level_and_reported(
    tmp_path, sqlite_url, run, ledger_of
):
    shop = make_shop(tmp_path, sqlite_url)
    shop.write(OPENING)
    assert run(shop.config).state == "completed"
    shop.write({**OPENING, "CAP-NEW_blue": 5_000})  # a product added on the shop's side
    shop.deliver("delivery-3.txt", {"CAP-NEW_blue": 1_000, "NOT-IN-SHOP": 4_000})
    summary = run(shop.config)
    text = summary.render()
    assert "1 SKU(s) the ledger did not know, taken at the shop's level: CAP-NEW_blue (5)" in text
    assert shop.levels() == {**OPENING, "CAP-NEW_blue": 6_000}
    [outcome] = summary.files
    assert (outcome.lines_applied, outcome.lines_rejected) == (1, 1)
    errors = Path(outcome.error_file).read_text()
    assert "\t2\tunknown SKU: the shop's stock file does not list it\tNOT-IN-SHOP\\t+4" in errors
    assert "NOT-IN-SHOP" not in ledger_of(sqlite_url).available(shop.store)


def test_an_unreadable_shop_file_is_one_sentence_and_nothing_is_published(
    tmp_path, sqlite_url, run, ledger_of
):
    published = tmp_path / "published" / "levels.txt"
    shop = make_shop(tmp_path, sqlite_url, publish=str(published))
    shop.write(OPENING)
    assert run(shop.config).state == "completed"
    ledger = ledger_of(sqlite_url)
    assert parse_shop(published.read_bytes()) == OPENING
    publication = published.read_bytes()
    before = ledger.dump()

    shop.online.write_bytes(b"SKU\tQuantity\nP1_red_17\t3\nMUG-01\tdouze\n")
    summary = run(shop.config)
    assert summary.state == "failed"
    assert summary.message == (
        f"the shop's stock file {shop.online} line 3: level 'douze' is not a number with '.'"
        " as decimal mark (check layout.decimal and layout.columns); nothing was published"
    )
    assert published.read_bytes() == publication
    assert ledger.dump() == before

    shop.online.unlink()
    summary = run(shop.config)
    assert summary.state == "failed" and "does not exist; check 'online'" in summary.message
    assert published.read_bytes() == publication
