"""The one registry of integrations: everything else derives from it.

An integration is a package ``stockbridge/integrations/NAME/`` (its config model, its mapping
into canonical movements, its own steps and commands) plus a thin flow in ``flows/NAME.py``.
Listing it here once gives it store-file validation, the JSON Schema, ``stockbridge run``,
``serve`` deployments and its CLI commands; nothing else keeps a list.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stockbridge.config.models import StoreBase


@dataclass(frozen=True)
class Integration:
    name: str
    """The ``integration:`` value of its store files and the name of its flow."""
    title: str
    config: type[StoreBase]
    flow: str
    """``module:attribute`` of its sync flow, imported only when a run needs it (Prefect is
    slow to import, and ``validate`` must not pay for it)."""
    extra_flows: dict[str, str] = field(default_factory=dict)
    """More deployments per store file: suffix -> ``module:attribute`` of a flow that takes
    the store file's path (the cellar's ``links`` answers)."""
    commands: Callable[[Any], None] | None = None
    """Adds the integration's own commands to ``stockbridge`` (argparse subparsers)."""
    doctor: str | None = None
    """``module:attribute`` of ``checks(store, path) -> Iterable[Check]``: the integration's
    own start-up checks (its databases reachable, the shop accepting the credentials), run by
    ``stockbridge doctor`` after the checks every store gets (:mod:`stockbridge.doctor`)."""

    def load_flow(self, path: str | None = None) -> Any:
        return _load(path or self.flow)

    run_on_start: str | None = None
    """``module:attribute`` of ``wants(store) -> bool``: True for a store file that asks for
    one run as soon as ``serve`` starts, before its schedule (Seliton's "on server start")."""

    def wants_run_on_start(self, store: Any) -> bool:
        return bool(self.run_on_start and _load(self.run_on_start)(store))

    def load_doctor(self) -> Callable[..., Any] | None:
        return _load(self.doctor) if self.doctor else None


def _load(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


@cache
def integrations() -> dict[str, Integration]:
    from stockbridge.integrations.chain import INTEGRATION as chain
    from stockbridge.integrations.interstock import INTEGRATION as interstock
    from stockbridge.integrations.pointex import INTEGRATION as pointex
    from stockbridge.integrations.seliton import INTEGRATION as seliton
    from stockbridge.integrations.shopfactory import INTEGRATION as shopfactory

    return {i.name: i for i in (interstock, pointex, chain, seliton, shopfactory)}


def get(name: str) -> Integration:
    return integrations()[name]


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    for integration in integrations().values():
        if integration.commands is not None:
            integration.commands(subparsers)
