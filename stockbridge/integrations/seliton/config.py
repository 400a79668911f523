"""The Seliton store file: the settings of the seed's table 3.0, one key each.

Each key's Bulgarian label in Microinvest Utility Center is in ``docs/seliton.md``; the
letter in each description is the row of table 3.0 (a operator, b export on start, ...).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, ConfigDict, Field, SecretStr, field_validator

from stockbridge.config.models import StoreBase, Strict, _as_list
from stockbridge.errors import ConfigError

DOCUMENT_TYPES: dict[str, int] = {
    "order": 19,
    "sale": 2,
    "request": 12,
    "offer": 13,
    "proforma": 14,
    "booking": 35,
}
"""``document_type`` (j) -> Warehouse Pro's ``OperType`` (its ``operationtype`` list)."""

SECRET_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


class ExportSettings(Strict):
    """What goes from Warehouse Pro to the shop (b, f, g, h)."""

    goods: bool = Field(default=True, description="g: export the goods of the chosen groups")
    quantities: bool = Field(
        default=False,
        description="f: export quantities: the object's on hand minus what open orders reserve",
    )
    visible: bool = Field(
        default=False, description="h: new goods are created visible (default: invisible)"
    )
    on_start: bool = Field(default=True, description="b: also export once when serve starts")
    batch: int = Field(default=500, ge=1, le=10_000, description="goods per postxmlfeed request")


class ImportSettings(Strict):
    """What comes from the shop into Warehouse Pro (c, i)."""

    orders: bool = Field(default=True, description="c: import the shop's new orders")
    goods: bool = Field(
        default=False, description="i: download goods created on the shop into Warehouse Pro"
    )
    on_start: bool = Field(default=True, description="c: also import once when serve starts")


class ShopSettings(Strict):
    """The Seliton shop (k, l, m): its XML API over HTTPS."""

    url: str = Field(description="k: the shop's address, https://NAME.myseliton.com/")
    username: str = Field(min_length=1, description="l: the API user name set on the shop")
    secret: SecretStr = Field(description="m: the API secret key, as ${ENV_VAR} only")
    ca_file: str | None = Field(
        default=None, description="CA bundle to verify the shop with (default: the system's)"
    )
    verify: bool = Field(
        default=True, description="verify the shop's TLS certificate (false warns every run)"
    )
    timeout: float = Field(default=30.0, gt=0, le=600, description="seconds per request")
    attempts: int = Field(
        default=5, ge=1, le=20, description="tries per request on 429, 5xx or a dropped line"
    )
    max_wait: float = Field(
        default=120.0, ge=0, le=3600, description="longest Retry-After honoured, seconds"
    )

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        url = url.strip()
        if not re.match(r"^https://[^/\s:@]+(:\d+)?(/\S*)?$", url):
            raise ValueError(
                f"'{url}' is not an https:// address of a shop (like"
                " https://microinvest.myseliton.com/); the secret key is never sent in clear"
            )
        return url if url.endswith("/") else url + "/"

    @field_validator("ca_file")
    @classmethod
    def _ca_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"CA file '{value}' does not exist")
        return value


class WarehouseDatabase(Strict):
    """The Warehouse Pro database as a mapping, so its password can be ``${ENV}``."""

    url: str = Field(description="SQLAlchemy URL without password: mysql://user@host/warehouse")
    password: SecretStr | None = Field(default=None, description="the database password")


def _warehouse(value: Any) -> Any:
    return {"url": value} if isinstance(value, str) else value


class SelitonConfig(StoreBase):
    """A Seliton e-shop kept from Microinvest Warehouse Pro (MISSION system 4)."""

    integration: Literal["seliton"]
    warehouse: Annotated[WarehouseDatabase, BeforeValidator(_warehouse)] = Field(
        description="the Warehouse Pro database: SQLAlchemy URL or {url, password}"
    )
    operator: str = Field(min_length=1, description="a: code of the active operator (users)")
    object: str = Field(min_length=1, description="e: the object (location), name or code")
    groups: Annotated[list[str], BeforeValidator(_as_list)] = Field(
        min_length=1, description="d: goods groups exported, names or codes (and subgroups)"
    )
    export: ExportSettings = Field(default=ExportSettings(), description="b, f, g, h")
    imports: ImportSettings = Field(default=ImportSettings(), alias="import", description="c, i")
    document_type: Literal[tuple(DOCUMENT_TYPES)] = Field(  # type: ignore[valid-type]
        default="order", description="j: Warehouse Pro document for an imported order"
    )
    shop: ShopSettings = Field(description="k, l, m: the shop's address and API credentials")
    fiscal_device: str = Field(
        pattern=r"^[A-Za-z0-9]{8}$",
        description="n: serial of the fiscal device (8 characters), first part of each УНП",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("operator")
    @classmethod
    def _operator_code(cls, value: str) -> str:
        value = str(value).strip()
        if not re.match(r"^[A-Za-z0-9]{1,4}$", value):
            raise ValueError(
                f"operator '{value}' is not an operator code of 1 to 4 letters or digits"
                " (it becomes the second part of each УНП)"
            )
        return value

    @property
    def oper_type(self) -> int:
        return DOCUMENT_TYPES[self.document_type]

    @property
    def unp_operator(self) -> str:
        """The operator's code on 4 characters, as the УНП carries it (``1`` -> ``0001``)."""
        return self.operator.rjust(4, "0")


def check_secret_is_a_reference(path: str | Path) -> None:
    """``shop.secret`` must be ``${ENV}`` in the file itself, never the key in clear.

    The loader substitutes variables before the model sees the value, so this reads the
    file's own text (safe YAML) for that one key.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeError):
        return  # the loader reports an unreadable file in its own words
    shop = document.get("shop") if isinstance(document, dict) else None
    secret = shop.get("secret") if isinstance(shop, dict) else None
    if secret is not None and not (isinstance(secret, str) and SECRET_REFERENCE.match(secret)):
        raise ConfigError(
            f"{path}: shop.secret: must be an environment variable like ${{SELITON_SECRET}},"
            " not the key itself; move the key into the environment and write its name here"
        )
