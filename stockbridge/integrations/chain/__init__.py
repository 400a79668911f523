"""A chain's stores in step with their head office (MISSION system 2, the seed's CentraleSrv).

``config`` is the store file (a store's or HQ's), ``profile`` what is synced (a YAML profile;
``reference-till`` ships), ``database`` the till and HQ tables, ``push``/``pull``/``customers``
the exchanges, ``stock`` the ledger's view of every store, ``jobs`` HQ's requests, ``checks``
the start-up checks, ``sync`` one run, ``commands`` the CLI, ``simulator`` a till writing
sales (demo, tests, bench).
"""

from stockbridge.integrations import Integration
from stockbridge.integrations.chain.config import ChainConfig


def _commands(subparsers) -> None:
    from stockbridge.integrations.chain.commands import add_commands

    add_commands(subparsers)


INTEGRATION = Integration(
    name="chain",
    title="A chain's stores and their head office: sales up, articles down, customers both ways",
    config=ChainConfig,
    flow="flows.chain:chain",
    extra_flows={"jobs": "flows.chain:chain_jobs"},
    commands=_commands,
    doctor="stockbridge.integrations.chain.checks:checks",
)
