"""The ShopFactory store file (MISSION system 3): the shop's live levels, where the stock
file is published, its layout, optional movement files and the ledger."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from stockbridge.config.models import FileIntake, Location, _as_list
from stockbridge.integrations.shopfactory.stockfile import StockLayout
from stockbridge.locations.https import ReadableLocationConfig

OnlineLocation = Annotated[ReadableLocationConfig, BeforeValidator(ReadableLocationConfig.coerce)]


def _string_or_mapping(schema: dict) -> None:
    """In the JSON Schema, a location is a path or URL string, or the mapping."""
    reference = schema.pop("$ref", None)
    if reference is not None:
        schema["anyOf"] = [
            {"type": "string", "description": "a path or URL (https:// too)"},
            {"$ref": reference},
        ]


class ShopFactoryConfig(FileIntake):
    """A ShopFactory shop's online stock levels, kept without overwriting a web sale.

    Each run synchronises (reads ``online``), records the web sales since the last publish,
    applies the edits (movement files in ``import``, ``stockbridge adjust``), reads the
    online levels again and publishes only the stock file to ``publish``.
    """

    integration: Literal["shopfactory"]
    online: OnlineLocation = Field(
        description="the shop's live stock file: https://, ftp(s)://, sftp://, s3:// or a path",
        json_schema_extra=_string_or_mapping,
    )
    publish: Location | None = Field(
        default=None, description="where the stock file is published; default: 'online'"
    )
    layout: StockLayout = Field(
        default=StockLayout(), description="the stock file's layout; default SKU<TAB>quantity"
    )
    imports: Annotated[list[Location], BeforeValidator(_as_list)] = Field(
        default_factory=list,
        alias="import",
        description="optional folders of movement files (reference<TAB>quantity): deliveries",
    )
    errors: Location | None = Field(  # type: ignore[assignment]
        default=None, description="folder for error files of movement files; needed with import"
    )
    negative_stock: Literal["zero", "keep"] = Field(
        default="zero", description="publish a negative level as 0 (zero) or as it is (keep)"
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _publishable(self) -> ShopFactoryConfig:
        if self.imports and self.errors is None:
            raise ValueError("'import' needs 'errors': the folder for rejected lines")
        if self.publish is None and self.online.scheme == "https":
            raise ValueError(
                "'online' is a web address, which stockbridge can only read: give 'publish'"
                " (the FTP, SFTP, S3 or folder location the stock file is uploaded to)"
            )
        return self

    @property
    def publish_location(self) -> Location:
        return self.publish if self.publish is not None else self.online  # type: ignore[return-value]
