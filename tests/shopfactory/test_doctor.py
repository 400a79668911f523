"""ShopFactory's doctor checks: the shop's file readable in its layout, the publish folder."""

from __future__ import annotations

from stockbridge.config.loader import load_store
from stockbridge.integrations import get
from tests.shopfactory.shop import OPENING, make_shop


def test_doctor_reads_the_shop_file_and_names_what_is_wrong(tmp_path, sqlite_url):
    shop = make_shop(tmp_path, sqlite_url, publish=str(tmp_path / "out" / "levels.txt"))
    checks = get("shopfactory").load_doctor()
    shop.write(OPENING)
    store = load_store(shop.config)
    found = list(checks(store, shop.config))
    assert [(c.name, c.ok) for c in found] == [
        ("shop's stock file", True),
        ("stock file publish location", True),
    ]
    assert found[0].detail.startswith("4 SKU(s) read from")

    shop.online.write_bytes(b"A\t1\nB\tx\n")
    [problem, _] = checks(store, shop.config)
    assert not problem.ok and "line 2: level 'x' is not a number" in problem.detail
    shop.online.unlink()
    [problem, _] = checks(store, shop.config)
    assert not problem.ok and "does not exist; check 'online'" in problem.detail
