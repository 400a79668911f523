"""The few file operations a flow needs, with the same guarantees on every backend.

A :class:`Location` wraps one fsspec filesystem rooted at a folder. Backends differ in how
they list, move and publish atomically (see NOTES: FTP renames, S3 copies), so each backend
overrides only what it must; flows never touch fsspec directly.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import IO

import fsspec

from stockbridge.config.locations import LocationConfig
from stockbridge.errors import LocationError

IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".lock", ".filepart")
"""Names an uploader uses while writing; such files are never read."""

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f/\\:]")
"""Controls and separators: ``/``, ``\\`` and ``:`` (a Windows drive or NTFS stream)."""
_INVISIBLE = ("Cc", "Cf", "Cs", "Zl", "Zp")
"""Controls, format characters (bidi overrides, zero widths), lone surrogates (a local name
that is not UTF-8 arrives as surrogate escapes) and line separators."""


@dataclass(frozen=True, order=True)
class RemoteFile:
    """A file seen in a listing. Ordering is the application order: (modified, name)."""

    modified: datetime | None
    name: str
    size: int

    @property
    def signature(self) -> tuple[str, int, datetime | None]:
        return (self.name, self.size, self.modified)


def is_ignored(name: str) -> bool:
    """Hidden files, lock files and files still being written by an uploader."""
    lowered = name.lower()
    return (
        name.startswith((".", "~$"))
        or lowered.endswith(IGNORED_SUFFIXES)
        or lowered in ("thumbs.db", "desktop.ini")
    )


def safe_name(name: str, limit: int = 180) -> str:
    """A name that cannot leave its folder: no separators (``/ \\ :``), controls or ``..``.

    The result is one path component of at most ``limit`` UTF-8 bytes, never empty, never
    starting with a dot or a space, with every invisible or line-breaking character
    replaced by ``_``, so it is also safe to show in logs and error files.
    """
    cleaned = _UNSAFE_NAME.sub("_", name)
    if not cleaned.isascii():
        cleaned = "".join("_" if unicodedata.category(ch) in _INVISIBLE else ch for ch in cleaned)
    cleaned = cleaned.lstrip(". ").rstrip() or "_"
    if len(cleaned.encode()) > limit:
        cleaned = cleaned.encode()[:limit].decode(errors="ignore").rstrip() or "_"
    return cleaned


def readable_name(name: str) -> str:
    """A listed name as text: a Windows-1252 name on a UTF-8 system arrives with surrogates
    (``caf\\udce9.txt``), which no database or log accepts."""
    raw = name.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


class Location:
    """A folder (or, for exports, a file) on one backend.

    ``root`` is the backend path of the folder; all names passed to methods are plain file
    names inside it, checked with :func:`safe_name` where they come from outside.
    """

    def __init__(
        self,
        config: LocationConfig,
        fs: fsspec.AbstractFileSystem,
        root: str,
        display: str | None = None,
    ):
        self.config = config
        self.fs = fs
        self.root = root.rstrip("/") or "/"
        self.display = display or config.display

    def path(self, name: str) -> str:
        return posixpath.join(self.root, name)

    def child(self, folder: str) -> Location:
        """The location of a sub-folder, on the same connection."""
        display = posixpath.join(self.display, folder)
        return type(self)(self.config, self.fs, self.path(folder), display)

    # -- reading -------------------------------------------------------------------------

    def list_files(self) -> list[RemoteFile]:
        """Files directly inside the folder, without sub-folders or ignored names.

        A missing folder is an empty folder; an unreachable server is a
        :class:`LocationError`, never an empty list.
        """
        try:
            entries = self.fs.ls(self.root, detail=True)
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise LocationError(f"cannot list {self.display}: {_describe(exc)}") from exc
        files = []
        for entry in entries:
            if entry.get("type") != "file":
                continue
            name = posixpath.basename(entry["name"].rstrip("/"))
            if is_ignored(name):
                continue
            files.append(RemoteFile(self._modified(entry), name, int(entry.get("size") or 0)))
        return sorted(files, key=_application_order)

    def _modified(self, entry: dict) -> datetime | None:
        raise NotImplementedError

    @contextmanager
    def open_read(self, name: str) -> Iterator[IO[bytes]]:
        try:
            handle = self.fs.open(self.path(name), "rb")
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise LocationError(
                f"cannot read {name} from {self.display}: {_describe(exc)}"
            ) from exc
        with handle:
            yield handle

    def read_bytes(self, name: str) -> bytes:
        with self.open_read(name) as handle:
            return handle.read()

    def exists(self, name: str) -> bool:
        try:
            return self.fs.exists(self.path(name))
        except Exception as exc:
            raise LocationError(f"cannot reach {self.display}: {_describe(exc)}") from exc

    # -- writing -------------------------------------------------------------------------

    def write_atomic(self, name: str, data: bytes) -> str:
        """Publish ``data`` as ``name`` so that a reader sees the old file or the whole new one."""
        raise NotImplementedError

    def move_to(self, name: str, target: Location, target_name: str) -> str:
        """Move a file into ``target``; safe to repeat after a crash at any point.

        When the source is gone and the target exists the move already happened and this
        returns quietly, so that archiving is idempotent.
        """
        raise NotImplementedError

    def ensure_folder(self) -> None:
        try:
            self.fs.makedirs(self.root, exist_ok=True)
        except Exception as exc:
            raise LocationError(f"cannot create folder {self.display}: {_describe(exc)}") from exc

    def folder_exists(self) -> bool:
        """Whether the folder itself is there (an empty listing does not say: a typo in a
        path lists as empty on every backend)."""
        try:
            return bool(self.fs.isdir(self.root))
        except Exception as exc:
            raise LocationError(f"cannot reach {self.display}: {_describe(exc)}") from exc

    def check(self) -> None:
        """Raise :class:`LocationError` unless the backend answers now."""
        self.list_files()


def _application_order(file: RemoteFile) -> tuple[float, str]:
    return (file.modified.timestamp() if file.modified else 0.0, file.name)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
