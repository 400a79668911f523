"""The wine cellar (MISSION system 5): the till's nightly sales journal decrements cellar
items once each till code is linked to one.

``config`` is the store file; ``journal`` and ``cellar`` read the till's journal and the
cellar catalogue; ``matching`` proposes cellar items for a till label; ``mapping`` turns
journal lines into canonical movements and held lines; ``links`` answers yes / almost / no
in the ledger; ``steps`` are the flow's own tasks; ``commands`` its CLI.
"""

from stockbridge.integrations import Integration
from stockbridge.integrations.pointex.config import PointexConfig


def _commands(subparsers) -> None:
    from stockbridge.integrations.pointex.commands import add_commands

    add_commands(subparsers)


INTEGRATION = Integration(
    name="pointex",
    title="A wine cellar fed by the till's nightly sales journal (Pointex -> Somm'It)",
    config=PointexConfig,
    flow="flows.pointex:pointex",
    extra_flows={"links": "flows.pointex:pointex_links"},
    commands=_commands,
)
