"""Opening a configured location on its backend: the only place that knows the schemes."""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from stockbridge.config.locations import LocationConfig
from stockbridge.errors import LocationError
from stockbridge.locations.base import Location, RemoteFile, is_ignored, safe_name

__all__ = [
    "Location",
    "RemoteFile",
    "is_ignored",
    "move_across",
    "open_file",
    "open_folder",
    "safe_name",
]


def open_folder(config: LocationConfig) -> Location:
    """The folder a location names.

    Remote backends are imported lazily so that a local-only run needs none of their
    libraries. FTP, FTPS and SFTP connect here (a server that is down is a
    :class:`LocationError` now); S3 connects on first use. Each call opens its own
    connection: do not share one remote location between threads.
    """
    scheme = config.scheme
    if scheme == "file":
        from stockbridge.locations.local import LocalLocation

        return LocalLocation.open(config)
    if scheme in ("ftp", "ftps"):
        from stockbridge.locations.ftp import FTPLocation

        return FTPLocation.open(config)
    if scheme == "s3":
        from stockbridge.locations.s3 import S3Location

        return S3Location.open(config)
    if scheme == "sftp":
        from stockbridge.locations.sftp import SFTPLocation

        return SFTPLocation.open(config)
    if scheme == "https":
        from stockbridge.locations.https import HTTPSLocation

        return HTTPSLocation.open(config)
    raise NotImplementedError(scheme)


def open_file(config: LocationConfig) -> tuple[Location, str]:
    """The folder holding the file a location names, and the file's name."""
    if config.scheme == "file":  # split by the OS's rules: C:\, C://, file:///C:/ alike
        folder_url, name = _split_local(config)
    else:
        folder_url, name = posixpath.split(config.url.rstrip("/"))
    folder = open_folder(config.model_copy(update={"url": folder_url or "."}))
    return folder, name


def move_across(
    source: Location,
    name: str,
    target: Location,
    target_name: str,
    delete_source: Callable[[str], None],
) -> str:
    """Move a file between two backends (or servers): publish a copy, then delete the source.

    Idempotent like :meth:`Location.move_to`: when the source is gone and the target exists
    the move already happened. A crash between the copy and the delete leaves both files; the
    repeat copies again and deletes.
    """
    try:
        data = source.read_bytes(name)
    except FileNotFoundError as exc:
        if target.exists(target_name):
            return posixpath.join(target.display, target_name)
        raise LocationError(f"cannot move {name}: it is not in {source.display}") from exc
    published = target.write_atomic(target_name, data)
    delete_source(name)
    return published


def _split_local(config: LocationConfig) -> tuple[str, str]:
    path = config.local_path
    return str(path.parent), path.name
