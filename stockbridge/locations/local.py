"""Local and Dropbox-synced folders.

Publishing writes a hidden temp file in the same folder, fsyncs it and ``os.replace``-s it
over the target: atomic on every local filesystem, and sync clients such as Dropbox ignore
dot-files until they are renamed. On Windows a rename waits out the moments when another
program (Dropbox, an antivirus, the till reading the export) has the file open.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from stockbridge.config.locations import LocationConfig
from stockbridge.errors import LocationError
from stockbridge.locations.base import Location, _describe

_WINDOWS = os.name == "nt"
SHARING_RETRIES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
"""Seconds between attempts at a rename Windows refuses because the file is open elsewhere."""


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
            _replace(temp, target)
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
                _replace(source, destination)
            except OSError:
                # Another filesystem (a synced folder on another disk): copy, then remove.
                temp = destination.with_name(f".{destination.name}.tmp")
                shutil.copyfile(source, temp)
                _replace(temp, destination)
                source.unlink(missing_ok=True)
        except OSError as exc:
            raise LocationError(f"cannot move {source} to {destination}: {_describe(exc)}") from exc
        return str(destination)


def _replace(source: Path, target: Path) -> None:
    """``os.replace``, retried for a few seconds on Windows while the file is in use.

    Windows refuses to rename over (or away) a file another process holds open without
    delete sharing (``PermissionError``, a sharing violation); sync clients and virus
    scanners do that for moments after every change. On POSIX a rename never fails that way,
    so there a ``PermissionError`` is final at once.
    """
    for delay in SHARING_RETRIES if _WINDOWS else ():
        try:
            os.replace(source, target)
            return
        except PermissionError:
            time.sleep(delay)
    os.replace(source, target)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable on POSIX. Windows cannot open a folder to flush it (NTFS
    journals the rename as metadata), so there it is skipped."""
    if _WINDOWS:
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
