"""ShopFactory's own start-up checks for ``stockbridge doctor``: the shop's live file can be
read in its layout, and the place the stock file is published to is reachable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from stockbridge.doctor import Check
from stockbridge.errors import StockbridgeError
from stockbridge.integrations.shopfactory.stockfile import read_stock_file
from stockbridge.locations import open_file


def checks(store, path: Path) -> Iterator[Check]:
    """The shop's file read and parsed (nothing recorded); the publish folder reachable."""
    online = store.online
    try:
        folder, name = open_file(online)
        data = folder.read_bytes(name)
        shop = read_stock_file(data, store.layout, online.display)
    except FileNotFoundError:
        yield Check("shop's stock file", False, f"{online.display} does not exist; check 'online'")
    except StockbridgeError as exc:
        yield Check("shop's stock file", False, str(exc))
    else:
        yield Check(
            "shop's stock file", True, f"{len(shop.skus)} SKU(s) read from {online.display}"
        )
    publish = store.publish
    if publish is None:
        return
    try:
        folder, _ = open_file(publish)
        folder.check()
    except StockbridgeError as exc:
        yield Check("stock file publish location", False, str(exc))
    else:
        yield Check("stock file publish location", True, f"{publish.display} reachable")
