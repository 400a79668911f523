"""InterStock (MISSION system 1): the web shop's movement files in, the till's article file out.

``config`` is the store file, ``format`` the ``reference<TAB>quantity`` parser, ``mapping``
turns parsed lines into canonical movements (an unknown reference is rejected),
``catalogue`` opens new articles from the article file and ``export`` writes it back.
"""

from stockbridge.integrations import Integration
from stockbridge.integrations.interstock.config import InterStockConfig

INTEGRATION = Integration(
    name="interstock",
    title="InterStock: movement files in, the full article file out",
    config=InterStockConfig,
    flow="flows.interstock:interstock",
)
