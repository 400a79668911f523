"""The wire format of Seliton's XML API: the contract stockbridge assumes, in one module.

Seliton documents the endpoint, ``POST /modules/extra/vendors/api.php`` with the form fields
``action`` (``postxmlfeed``, ``getorders``, ``updateorder``), ``version=1.0``, ``username``
and ``secret``, and the feed's sections (Store, FeedInfo, Products, Categories, ...), but not
the bodies. The element names below are the field names of Seliton's REST API in its PHP
client (``seliton/seliton-php-client``: Product.php ``code``, ``barcode``, ``name``,
``price``, ``quantity``, ``isActive``, ``availabilityStatus``, ``categories``; Order.php
``id``, ``status``, ``createdAt``, ``items`` with ``orderItemProductCode``,
``orderItemQty``, ``orderItemPrice``). Correcting the format against a real shop is a change
to this file alone (and to the contract fake that follows it).

Assumed, and stated in ``docs/seliton.md``:

* every request is ``application/x-www-form-urlencoded``; a request with a body carries it
  as the form field ``xml``;
* ``getorders``: ``from_id`` (orders with a greater ``id``), ``limit``; answers
  ``<Response status="ok"><Orders><Order>...</Order></Orders></Response>``, ``id`` ascending;
* ``postxmlfeed``: ``<Feed><FeedInfo/><Categories/><Products/></Feed>``; a product is
  created or updated by ``code``; ``isActive`` is sent only for goods new to the shop;
* ``updateorder``: ``id`` and ``unp``; the same УНП again is harmless, another УНП for an
  order that has one is refused (``code="conflict"``);
* ``getproducts`` (for downloading goods, i): ``from_id``, ``limit``; answers
  ``<Products><Product>...`` with ``id``;
* an error is ``<Response status="error"><Error code="auth|xml|conflict|...">text``; a
  refused user name or secret is HTTP 401 with ``code="auth"``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from stockbridge.integrations.seliton import safexml

API_PATH = "modules/extra/vendors/api.php"
VERSION = "1.0"
ORDERS_PER_PAGE = 500


class BadAnswer(ValueError):
    """The shop's answer is not what the contract says (or is hostile): one sentence."""

    def __init__(self, message: str, cut_short: bool = False):
        super().__init__(message)
        self.cut_short = cut_short
        """Not well-formed, as an answer cut short is: asking again is worth it."""


@dataclass(frozen=True)
class Product:
    code: str
    barcode: str
    name: str
    price: Decimal
    category: str
    quantity: Decimal | None = None
    """Available quantity, sent only when ``export.quantities`` is on."""
    is_active: bool | None = None
    """Sent only for a good new to the shop (h)."""
    shop_id: int | None = None


@dataclass(frozen=True)
class OrderLine:
    line: int
    code: str
    quantity: str
    price: str
    name: str = ""

    @property
    def raw(self) -> str:
        return f"code={self.code!r} quantity={self.quantity!r} price={self.price!r}"


@dataclass(frozen=True)
class ShopOrder:
    id: int
    status: str
    created_at: str
    unp: str
    lines: list[OrderLine] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    status: str
    code: str
    message: str
    root: ET.Element


def form(action: str, username: str, secret: str, **fields: str) -> dict[str, str]:
    return {"action": action, "version": VERSION, "username": username, "secret": secret, **fields}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value, "f")  # 10, never 1E+1
    return "" if value is None else str(value)


def feed(store: str, products: list[Product]) -> bytes:
    root = ET.Element("Feed")
    info = ET.SubElement(root, "FeedInfo")
    ET.SubElement(info, "Store").text = store
    ET.SubElement(info, "Generator").text = "stockbridge"
    categories = ET.SubElement(root, "Categories")
    for name in sorted({p.category for p in products}):
        ET.SubElement(ET.SubElement(categories, "Category"), "name").text = name
    items = ET.SubElement(root, "Products")
    for product in products:
        element = ET.SubElement(items, "Product")
        for name, value in (
            ("code", product.code),
            ("barcode", product.barcode),
            ("name", product.name),
            ("price", product.price),
        ):
            ET.SubElement(element, name).text = _text(value)
        if product.quantity is not None:
            ET.SubElement(element, "quantity").text = _text(product.quantity)
            status = "in_stock" if product.quantity > 0 else "out_of_stock"
            ET.SubElement(element, "availabilityStatus").text = status
        if product.is_active is not None:
            ET.SubElement(element, "isActive").text = _text(product.is_active)
        ET.SubElement(ET.SubElement(element, "categories"), "category").text = product.category
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def answer(body: bytes, max_bytes: int = safexml.MAX_BYTES) -> Answer:
    try:
        root = safexml.parse(body, max_bytes)
    except safexml.UnsafeXML as exc:
        cut = isinstance(exc, safexml.MalformedXML)
        raise BadAnswer(f"the shop's answer {exc}", cut_short=cut) from None
    if root.tag != "Response":
        raise BadAnswer(f"the shop answered <{root.tag}> where <Response> was expected")
    error = root.find("Error")
    return Answer(
        root.get("status", ""),
        error.get("code", "") if error is not None else "",
        (error.text or "").strip() if error is not None else "",
        root,
    )


def _child(element: ET.Element, name: str) -> str:
    found = element.find(name)
    return (found.text or "").strip() if found is not None else ""


def orders(root: ET.Element) -> list[ShopOrder]:
    found: list[ShopOrder] = []
    for element in root.iterfind("Orders/Order"):
        raw_id = _child(element, "id")
        if not raw_id.isdigit():
            raise BadAnswer(f"the shop sent an order whose id is {raw_id!r}, not a number")
        lines = [
            OrderLine(
                number,
                _child(item, "orderItemProductCode"),
                _child(item, "orderItemQty"),
                _child(item, "orderItemPrice"),
                _child(item, "orderItemProductName"),
            )
            for number, item in enumerate(element.iterfind("items/item"), start=1)
        ]
        found.append(
            ShopOrder(
                int(raw_id),
                _child(element, "status"),
                _child(element, "createdAt"),
                _child(element, "unp"),
                lines,
            )
        )
    return sorted(found, key=lambda order: order.id)


def decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip().replace(",", "."))
    except (InvalidOperation, AttributeError):
        return None
    return value if value.is_finite() else None


def products(root: ET.Element) -> list[Product]:
    found = []
    for element in root.iterfind("Products/Product"):
        raw_id = _child(element, "id")
        found.append(
            Product(
                code=_child(element, "code"),
                barcode=_child(element, "barcode"),
                name=_child(element, "name"),
                price=decimal(_child(element, "price")) or Decimal(0),
                category=_child(element, "categories/category"),
                quantity=decimal(_child(element, "quantity")),
                is_active=_child(element, "isActive") == "1",
                shop_id=int(raw_id) if raw_id.isdigit() else None,
            )
        )
    return found
