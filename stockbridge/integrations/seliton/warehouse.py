"""The Warehouse Pro tables stockbridge reads and writes, as SQLAlchemy Core.

The columns are those of Microinvest's MySQL create script, version 3.07 (the same names as
the public EF models of ldlalov/MIcroinvestIO), limited to the tables this integration
touches: ``goods``, ``goodsgroups``, ``objects``, ``store`` (quantity per object and good),
``operations`` (document lines; a document is ``(OperType, Acct)``), ``documents``,
``users`` (operators) and ``partners``. :data:`metadata` can create them (tests on MariaDB,
the demo on SQLite); against a real database stockbridge only reads and inserts rows.

One table is stockbridge's own: ``stockbridge_seliton`` holds one row per imported shop
order with unique keys on the order number and the УНП, written in the same transaction as
the document, so the database itself refuses an order or a УНП twice.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def _text(name: str, length: int = 255) -> Column:
    return Column(name, String(length))


goods = Table(
    "goods",
    metadata,
    Column("ID", Integer, primary_key=True, autoincrement=True),
    _text("Code"),
    _text("BarCode1"),
    _text("BarCode2"),
    _text("BarCode3"),
    _text("Catalog1"),
    _text("Name"),
    _text("Name2"),
    _text("Measure1"),
    Column("PriceIn", Float),
    *(Column(f"PriceOut{n}", Float) for n in range(1, 11)),
    Column("Description", Text),
    Column("Type", Integer),
    Column("TaxGroup", Integer),
    Column("IsVeryUsed", Integer),
    Column("GroupID", Integer),
    Column("Deleted", Integer),
)
"""``PriceOut2`` is the retail price (``PriceOut1`` wholesale), exported with VAT as kept."""

goodsgroups = Table(
    "goodsgroups",
    metadata,
    Column("ID", Integer, primary_key=True, autoincrement=True),
    _text("Name"),
    _text("Code"),
)
"""Group codes are hierarchical: a subgroup's code starts with its parent's."""

objects = Table(
    "objects",
    metadata,
    Column("ID", Integer, primary_key=True, autoincrement=True),
    _text("Code"),
    _text("Name"),
    _text("Name2"),
    Column("PriceGroup", Integer),
    Column("IsVeryUsed", Integer),
    Column("GroupID", Integer),
    Column("Deleted", Integer),
)

store = Table(
    "store",
    metadata,
    Column("ID", Integer, primary_key=True, autoincrement=True),
    Column("ObjectID", Integer),
    Column("GoodID", Integer),
    Column("Qtty", Float),
    Column("Price", Float),
    _text("Lot"),
    Column("LotID", Integer),
    Column("LotOrder", Integer),
)

operations = Table(
    "operations",
    metadata,
    Column("ID", Integer, primary_key=True, autoincrement=True),
    Column("OperType", Integer),
    Column("Acct", Integer),
    Column("GoodID", Integer),
    Column("PartnerID", Integer),
    Column("ObjectID", Integer),
    Column("OperatorID", Integer),
    Column("Qtty", Float),
    Column("Sign", Integer),
    Column("PriceIn", Float),
    Column("PriceOut", Float),
    Column("VATIn", Float),
    Column("VATOut", Float),
    Column("Discount", Float),
    Column("CurrencyID", Integer),
    Column("CurrencyRate", Float),
    Column("Date", DateTime),
    _text("Lot"),
    Column("LotID", Integer),
    _text("Note"),
    Column("SrcDocID", Integer),
    Column("UserID", Integer),
    Column("UserRealTime", DateTime),
)

documents = Table(
    "documents",
    metadata,
    Column("ID", Integer, primary_key=True, autoincrement=True),
    Column("Acct", Integer),
    _text("InvoiceNumber"),
    Column("OperType", SmallInteger),
    Column("InvoiceDate", DateTime),
    Column("DocumentType", SmallInteger),
    Column("ExternalInvoiceDate", DateTime),
    _text("ExternalInvoiceNumber"),
    Column("PaymentType", SmallInteger),
    _text("Recipient"),
    _text("EGN"),
    _text("Provider"),
    Column("TaxDate", DateTime),
    _text("Reason"),
    _text("Description"),
    _text("Place"),
)
"""An imported order's document: ``ExternalInvoiceNumber`` = its УНП, ``Reason`` = the
shop's order number (``Seliton 1001``)."""

users = Table(
    "users",
    metadata,
    Column("ID", Integer, primary_key=True, autoincrement=True),
    _text("Code"),
    _text("Name"),
    _text("Name2"),
    Column("IsVeryUsed", Integer),
    Column("GroupID", Integer),
    _text("Password"),
    Column("UserLevel", Integer),
    Column("Deleted", Integer),
    _text("CardNumber"),
)

partners = Table(
    "partners",
    metadata,
    Column("ID", Integer, primary_key=True, autoincrement=True),
    _text("Code"),
    _text("Company"),
    _text("MOL"),
    _text("City"),
    _text("Address"),
    _text("Phone"),
    _text("eMail"),
    _text("TaxNo"),
    _text("Bulstat"),
    Column("PriceGroup", Integer),
    Column("Discount", Float),
    Column("Type", SmallInteger),
    Column("IsVeryUsed", SmallInteger),
    Column("UserID", Integer),
    Column("GroupID", Integer),
    Column("UserRealTime", DateTime),
    Column("Deleted", Integer),
    _text("CardNumber"),
    _text("Note1"),
    _text("Note2"),
    Column("PaymentDays", Integer),
)
"""Imported orders go to partner ``ID`` 1, the default partner of a Warehouse Pro database."""

OWN_TABLE = "stockbridge_seliton"
imported_orders = Table(
    OWN_TABLE,
    metadata,
    Column("OrderNumber", BigInteger, primary_key=True, autoincrement=False),
    Column("UNP", String(21), nullable=False),
    Column("OperType", Integer, nullable=False),
    Column("Acct", Integer, nullable=False),
    Column("WrittenAt", DateTime, nullable=False),
    UniqueConstraint("UNP", name="uq_stockbridge_seliton_unp"),
)
"""stockbridge's own keys in the Warehouse Pro database (created on first use)."""

WAREHOUSE_TABLES = (goods, goodsgroups, objects, store, operations, documents, users, partners)
DEFAULT_PARTNER = 1
SALE = 2
