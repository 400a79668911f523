"""``stockbridge doctor`` for a Seliton store: the shop, Warehouse Pro and the settings' rows.

Checks only read: ``getorders`` for the shop (it must answer and accept the user name and
secret), a connection and the rows the store file names (operator, object, groups) for
Warehouse Pro. A check never raises and never shows a secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from stockbridge.doctor import Check
from stockbridge.errors import StockbridgeError
from stockbridge.integrations.seliton.client import ShopClient
from stockbridge.integrations.seliton.config import SelitonConfig, check_secret_is_a_reference
from stockbridge.integrations.seliton.wpdb import connected, open_warehouse, resolve


def checks(store: SelitonConfig, path: str | Path) -> Iterator[Check]:
    try:
        check_secret_is_a_reference(path)
        yield Check("shop secret from the environment", True, "shop.secret is ${ENV}")
    except StockbridgeError as exc:
        yield Check("shop secret from the environment", False, str(exc))
    yield _shop(store)
    yield from _warehouse(store)


def _shop(store: SelitonConfig) -> Check:
    name = "shop answers and accepts the credentials"
    try:
        with ShopClient(store.shop.model_copy(update={"attempts": 1})) as shop:
            shop.call("getorders", from_id="0", limit="1")
    except StockbridgeError as exc:
        return Check(name, False, str(exc))
    warning = not store.shop.verify
    detail = f"{store.shop.url} accepted user '{store.shop.username}'"
    if warning:
        detail += "; its certificate is not verified (shop.verify is false)"
    return Check(name, True, detail, warning)


def _warehouse(store: SelitonConfig) -> Iterator[Check]:
    name = "Warehouse Pro database reachable"
    try:
        engine = open_warehouse(store)
    except StockbridgeError as exc:
        yield Check(name, False, str(exc))
        return
    try:
        found: dict[str, str] = {}
        with connected(engine) as connection:
            resolve(connection, store, found)
        yield Check(name, True, "connected")
        for key, what in (
            ("operator", f"operator '{store.operator}'"),
            ("object", f"object '{store.object}'"),
            ("groups", "goods groups " + ", ".join(store.groups)),
        ):
            problem = found.get(key, "")
            yield Check(f"{key} exists in Warehouse Pro", not problem, problem or f"{what} found")
    except StockbridgeError as exc:
        yield Check(name, False, str(exc))
    finally:
        engine.dispose()
