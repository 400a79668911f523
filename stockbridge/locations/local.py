"""Local and Dropbox-synced folders.

Publishing writes a hidden temp file in the same folder, fsyncs it and ``os.replace``-s it
over the target: atomic on every local filesystem, and sync clients such as Dropbox ignore
dot-files until they are renamed.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from stockbridge.config.locations import LocationConfig
from stockbridge.errors import LocationError
from stockbridge.locations.base import Location, _describe


class LocalLocation(Location):
    """A local folder. Moves are not fsynced: a move lost to a power cut leaves the file in
    the import folder, where the ledger recognises it as applied and archives it again."""

    @classmethod
    def open(cls, config: LocationConfig, root: Path | None = None) -> LocalLocation:
        path = root or config.local_path
        return cls(config, LocalFileSystem(), str(path))

    def _modified(self, entry: dict) -> datetime | None:
        mtime = entry.get("mtime")
        return datetime.fromtimestamp(mtime, UTC) if mtime is not None else None

    def write_atomic(self, name: str, data: bytes) -> str:
        target = Path(self.path(name))
        # A fixed temp name: a writer killed before the rename leaves a file that the next
        # publish overwrites (runs of one store never overlap), not one more orphan.
        temp = target.with_name(f".{target.name}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
            _fsync_dir(target.parent)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise LocationError(f"cannot write {target}: {_describe(exc)}") from exc
        return str(target)

    def move_to(self, name: str, target: Location, target_name: str) -> str:
        source = Path(self.path(name))
        if not isinstance(target, LocalLocation):
            from stockbridge.locations import move_across

            return move_across(
                self,
                name,
                target,
                target_name,
                lambda n: Path(self.path(n)).unlink(missing_ok=True),
            )
        destination = Path(target.path(target_name))
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            if not source.exists() and destination.exists():
                return str(destination)
            try:
                os.replace(source, destination)
            except OSError:
                # Another filesystem (a synced folder on another disk): copy, then remove.
                temp = destination.with_name(f".{destination.name}.tmp")
                shutil.copyfile(source, temp)
                os.replace(temp, destination)
                source.unlink(missing_ok=True)
        except OSError as exc:
            raise LocationError(f"cannot move {source} to {destination}: {_describe(exc)}") from exc
        return str(destination)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
