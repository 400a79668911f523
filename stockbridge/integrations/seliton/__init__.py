"""Microinvest Warehouse Pro and a Seliton e-shop (MISSION system 4).

``config`` is the store file (the seed's table 3.0); ``warehouse`` the Warehouse Pro tables
and ``wpdb`` their reads and writes; ``wire`` the shop's XML API as assumed, ``safexml`` how
its answers are parsed, ``client`` how it is called; ``unp`` the unique sale numbers;
``orders`` the import and the reservations; ``export`` goods out (and down); ``steps`` the
flow's tasks; ``doctor`` its checks; ``contract_fake`` a fake of the shop for tests and the
demo; ``serve`` which stores want a run when ``serve`` starts.
"""

from stockbridge.integrations import Integration
from stockbridge.integrations.seliton.config import SelitonConfig

INTEGRATION = Integration(
    name="seliton",
    title="Microinvest Warehouse Pro and a Seliton e-shop (goods out, orders in with a УНП)",
    config=SelitonConfig,
    flow="flows.seliton:seliton",
    doctor="stockbridge.integrations.seliton.doctor:checks",
    run_on_start="stockbridge.integrations.seliton.serve:wants_run_on_start",
)
