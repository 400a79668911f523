"""Errors that end a run with one sentence for the user instead of a traceback."""


class StockbridgeError(Exception):
    """Base class: the message is written for the person running stockbridge."""


class ConfigError(StockbridgeError):
    """A store file is missing, unreadable or invalid."""


class LocationError(StockbridgeError):
    """A folder, server or bucket could not be reached or written."""


class LedgerError(StockbridgeError):
    """The ledger database could not be reached or updated."""


class StoreBusyError(StockbridgeError):
    """Another run for the same store holds the store's lock."""
