"""The InterStock store file (MISSION system 1)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from stockbridge.config.models import FileIntake, Location


class InterStockConfig(FileIntake):
    """InterStock: movement files in, the full article file out."""

    integration: Literal["interstock"]
    catalogue: Location = Field(description="the till's article file: reference<TAB>quantity")
    export: Location = Field(description="full article file, rewritten after each run")
    negative_stock: Literal["zero", "keep"] = Field(
        default="zero", description="export a negative stock as 0 (zero) or as it is (keep)"
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
