"""One Prefect flow per integration. ``FLOWS`` maps a store file's ``integration`` to it."""

from __future__ import annotations

from flows.interstock import interstock

FLOWS = {"interstock": interstock}
