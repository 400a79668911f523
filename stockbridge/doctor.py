"""What ``stockbridge doctor`` reports: one :class:`Check` per thing that must hold.

Every store gets the shared checks (locations reachable, output folders writable, the ledger,
certificates, the Prefect API); an integration adds its own through ``Integration.doctor``,
a function ``checks(store, path) -> Iterable[Check]``. A check never raises: what fails is
its ``detail``, one sentence saying what to fix, and never holds a secret.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    """What was checked, in words: ``till database reachable``, ``import location``."""
    ok: bool
    detail: str
    """What holds (``3 files, listable``), or one sentence on what to fix."""
    warning: bool = False
    """Holds, but needs attention soon (a certificate expiring in 10 days): shown, exit 0."""
