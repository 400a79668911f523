"""The wine cellar's store file (MISSION system 5: Pointex till -> Somm'It cellar)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field

from stockbridge.config.models import Duration, FileIntake, Location, Strict, _as_list
from stockbridge.integrations.pointex.journal import JournalLayout


class LinksForm(Strict):
    """The ``links`` deployment: how long its form waits for answers in the Prefect UI."""

    timeout: Duration = Field(
        default=timedelta(hours=1), description="the run fails if nobody answers by then"
    )


class PointexConfig(FileIntake):
    """A cellar kept from the till's nightly sales journal.

    ``import`` is the journal drop folder (the till uploads ``/sales`` by FTP over TLS);
    ``catalogue`` the cellar's item list with opening quantities. Sales of till codes linked
    to an item decrement it; the others are held as drinks to link.
    """

    integration: Literal["pointex"]
    catalogue: Location = Field(
        description="the cellar catalogue: CSV with item, name, vintage, volume, quantity"
    )
    families: Annotated[list[str], BeforeValidator(_as_list)] | None = Field(
        default=None,
        description="journal families that are drinks; other lines never enter the queue",
    )
    journal: JournalLayout = Field(
        default=JournalLayout(), description="the journal's layout when it is not Pointex's"
    )
    export: Location | None = Field(
        default=None, description="the cellar stock file (item;name;vintage;quantity)"
    )
    links: LinksForm = LinksForm()
    negative_stock: Literal["zero", "keep"] = Field(
        default="keep", description="export a negative stock as 0 (zero) or as it is (keep)"
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
