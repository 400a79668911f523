"""ShopFactory (MISSION system 3): the shop's online stock levels, synchronised, edited and
published as the stock file alone, without ever overwriting a web sale.

``config`` is the store file; ``stockfile`` reads and writes the shop's stock file;
``levels`` keeps in the ledger what the shop was last seen showing and what was published;
``steps`` are the flow's tasks (synchronise, publish).
"""

from stockbridge.integrations import Integration
from stockbridge.integrations.shopfactory.config import ShopFactoryConfig

INTEGRATION = Integration(
    name="shopfactory",
    title="ShopFactory: online stock levels synchronised, edited and published",
    config=ShopFactoryConfig,
    flow="flows.shopfactory:shopfactory",
    doctor="stockbridge.integrations.shopfactory.doctor:checks",
)
