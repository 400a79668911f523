"""The seed's "on server start" (b, c): which store files want one run when serve starts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from stockbridge.config.models import StoreBase


def wants_run_on_start(config: StoreBase) -> bool:
    """True for a Seliton store whose export or import is set to run on start."""
    if getattr(config, "integration", None) != "seliton":
        return False
    export, imports = config.export, config.imports  # type: ignore[attr-defined]
    return (export.goods and export.on_start) or (
        (imports.orders or imports.goods) and imports.on_start
    )


def stores_to_run_on_start(stores: Iterable[tuple[Path, StoreBase]]) -> list[Path]:
    """Of (path, loaded store) pairs (what ``validate_files`` returns), the paths to run once
    as serve starts, before the schedules take over."""
    return [path for path, config in stores if wants_run_on_start(config)]
