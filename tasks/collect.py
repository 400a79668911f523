"""Finding the files that are complete: settled, not hidden, not still being uploaded."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE

from stockbridge.config.messages import import_key, missing_folder
from stockbridge.context import RunContext
from stockbridge.errors import LocationError
from stockbridge.locations import RemoteFile
from stockbridge.logs import NETWORK_RETRIES

CLOCK_SKEW_TOLERANCE = timedelta(minutes=1)


@dataclass(frozen=True)
class Candidate:
    """A settled file in import location number ``location``."""

    location: int
    file: RemoteFile


@task(name="find settled files", cache_policy=NO_CACHE, **NETWORK_RETRIES)
def find_settled_files(ctx: RunContext) -> list[Candidate]:
    """List every import location twice, ``settle.recheck`` apart; keep what did not change.

    A file also has to be ``settle.min_age`` old by its modification time. A time in the
    future (a server clock ahead of ours) cannot prove an age, so such files rely on the two
    listings alone and a warning says so.
    """
    first = [{f.name: f for f in location.list_files()} for location in ctx.imports]
    if not any(first):
        _require_folders(ctx)
        return []
    time.sleep(ctx.config.settle.recheck.total_seconds())
    now = datetime.now(UTC)
    settled: list[Candidate] = []
    waiting = 0
    for index, location in enumerate(ctx.imports):
        for file in location.list_files():
            before = first[index].get(file.name)
            if before is None or before.signature != file.signature:
                waiting += 1
                continue
            if file.modified is not None:
                age = now - file.modified
                if age < -CLOCK_SKEW_TOLERANCE:
                    ctx.logger.warning(
                        "%s in %s is dated %s, in the future: is the server's clock right?",
                        file.name,
                        location.display,
                        file.modified.isoformat(timespec="seconds"),
                    )
                elif age < ctx.config.settle.min_age:
                    waiting += 1
                    continue
            settled.append(Candidate(index, file))
    if waiting:
        ctx.logger.info("%d file(s) still being written; they will be taken next run", waiting)
    settled.sort(key=lambda c: (c.file.modified or datetime.min.replace(tzinfo=UTC), c.file.name))
    return settled


def _require_folders(ctx: RunContext) -> None:
    """An empty listing may be a typo in the path: a folder that does not exist is an
    error naming the key, never "0 files" forever. Asked only when nothing was found, so a
    busy folder costs no extra round trip."""
    for index, location in enumerate(ctx.imports):
        if not location.folder_exists():
            key = import_key(index, len(ctx.imports))
            raise LocationError(f"{key}: {missing_folder(location.display)}")
