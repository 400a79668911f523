"""The Location contract, run here against local folders and reused by every remote backend.

:class:`LocationContract` holds the tests every backend must pass. A backend's test module
subclasses it (as ``TestXxxContract``) and provides a ``backend`` fixture: an object that
opens locations and that sees the storage *directly* (not through the code under test), so
the tests can check what really landed on the server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Protocol

import pytest

from stockbridge.config.locations import LocationConfig
from stockbridge.errors import LocationError
from stockbridge.locations import Location, open_file, open_folder

IGNORED = (".hidden.csv", "stock.csv.tmp", "upload.part", "~$sheet.xlsx", "x.filepart")


class Backend(Protocol):
    """What a contract test needs from a backend's test module."""

    can_set_mtime: bool

    def open(self, folder: str) -> Location: ...

    def put(self, folder: str, name: str, data: bytes, mtime: float | None = None) -> None: ...

    def make_folder(self, folder: str) -> None: ...

    def names(self, folder: str) -> set[str]:
        """Every file name in the folder, hidden and temporary ones included."""
        ...

    def read(self, folder: str, name: str) -> bytes: ...


class DirectoryBackend:
    """Storage that is a local directory: a local folder, or an FTP server's home."""

    can_set_mtime = True

    def __init__(self, root: Path, opener: Callable[[str], Location]):
        self.root = root
        self.opener = opener

    def open(self, folder: str) -> Location:
        return self.opener(folder)

    def put(self, folder: str, name: str, data: bytes, mtime: float | None = None) -> None:
        path = self.root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))

    def make_folder(self, folder: str) -> None:
        (self.root / folder).mkdir(parents=True, exist_ok=True)

    def names(self, folder: str) -> set[str]:
        path = self.root / folder
        return {p.name for p in path.iterdir() if p.is_file()} if path.is_dir() else set()

    def read(self, folder: str, name: str) -> bytes:
        return (self.root / folder / name).read_bytes()


@pytest.mark.timeout(30)
class LocationContract:
    """Every backend behaves the same way for the operations flows use."""

    def test_list_skips_ignored_names_and_folders(self, backend: Backend) -> None:
        backend.put("inbox", "stock.csv", b"sku;qty\n1;2\n")
        for name in IGNORED:
            backend.put("inbox", name, b"not yet")
        backend.put("inbox/sub", "nested.csv", b"deeper")

        files = backend.open("inbox").list_files()

        assert [f.name for f in files] == ["stock.csv"]
        (stock,) = files
        assert stock.size == len(b"sku;qty\n1;2\n")
        assert stock.modified is not None
        assert stock.modified.utcoffset() is not None
        assert stock.modified.astimezone(UTC).year >= 2024
        assert abs(stock.modified.timestamp() - time.time()) < 300

    def test_list_is_sorted_by_modified_then_name(self, backend: Backend) -> None:
        if backend.can_set_mtime:
            base = float(int(time.time()) - 3600)
            backend.put("inbox", "b.csv", b"2", mtime=base)
            backend.put("inbox", "a.csv", b"1", mtime=base)
            backend.put("inbox", "0-new.csv", b"3", mtime=base + 10)
            backend.put("inbox", "z-old.csv", b"4", mtime=base - 10)
            names = [f.name for f in backend.open("inbox").list_files()]
            assert names == ["z-old.csv", "a.csv", "b.csv", "0-new.csv"]
        else:
            for name in ("b.csv", "a.csv", "c.csv"):
                backend.put("inbox", name, name.encode())
            files = backend.open("inbox").list_files()
            assert {f.name for f in files} == {"a.csv", "b.csv", "c.csv"}
            assert files == sorted(files, key=lambda f: (f.modified, f.name))

    def test_missing_folder_is_empty(self, backend: Backend) -> None:
        backend.make_folder("inbox")
        assert backend.open("inbox/never-created").list_files() == []
        assert backend.open("inbox").list_files() == []
        assert not backend.open("inbox/never-created").exists("x.csv")

    def test_read(self, backend: Backend) -> None:
        data = bytes(range(256)) * 1000
        backend.put("inbox", "stock.csv", data)
        location = backend.open("inbox")

        assert location.read_bytes("stock.csv") == data
        with location.open_read("stock.csv") as handle:
            assert handle.read(10) == data[:10]
            assert handle.read() == data[10:]
        assert location.exists("stock.csv")
        assert not location.exists("other.csv")

    def test_read_missing_file_raises_file_not_found(self, backend: Backend) -> None:
        backend.make_folder("inbox")
        with pytest.raises(FileNotFoundError):
            backend.open("inbox").read_bytes("missing.csv")

    def test_write_atomic_publishes_without_leftovers(self, backend: Backend) -> None:
        location = backend.open("outbox")

        location.write_atomic("export.csv", b"first")
        assert backend.names("outbox") == {"export.csv"}
        assert backend.read("outbox", "export.csv") == b"first"

        location.write_atomic("export.csv", b"second, longer")
        assert backend.names("outbox") == {"export.csv"}
        assert backend.read("outbox", "export.csv") == b"second, longer"
        assert location.read_bytes("export.csv") == b"second, longer"
        assert [(f.name, f.size) for f in location.list_files()] == [("export.csv", 14)]

    def test_write_atomic_into_missing_nested_folder(self, backend: Backend) -> None:
        location = backend.open("deep/er/outbox")
        location.write_atomic("export.csv", b"data")
        assert backend.read("deep/er/outbox", "export.csv") == b"data"

    def test_write_atomic_large_file(self, backend: Backend) -> None:
        data = os.urandom(3 * 2**20 + 17)
        backend.open("outbox").write_atomic("big.bin", data)
        assert backend.read("outbox", "big.bin") == data

    def test_move_to_and_repeat(self, backend: Backend) -> None:
        backend.put("inbox", "stock.csv", b"payload")
        inbox = backend.open("inbox")
        archive = inbox.child("archive")

        inbox.move_to("stock.csv", archive, "2024-stock.csv")
        assert backend.names("inbox") == set()
        assert backend.read("inbox/archive", "2024-stock.csv") == b"payload"

        # A crash after the move: the repeat finds the source gone and the target there.
        inbox.move_to("stock.csv", archive, "2024-stock.csv")
        assert backend.read("inbox/archive", "2024-stock.csv") == b"payload"
        assert [f.name for f in archive.list_files()] == ["2024-stock.csv"]

    def test_move_to_replaces_existing_target(self, backend: Backend) -> None:
        backend.put("inbox", "stock.csv", b"new")
        backend.put("done", "stock.csv", b"old")
        backend.open("inbox").move_to("stock.csv", backend.open("done"), "stock.csv")
        assert backend.read("done", "stock.csv") == b"new"
        assert backend.names("inbox") == set()

    def test_move_missing_file_is_an_error(self, backend: Backend) -> None:
        backend.make_folder("inbox")
        inbox = backend.open("inbox")
        with pytest.raises((LocationError, FileNotFoundError)):
            inbox.move_to("missing.csv", inbox.child("archive"), "missing.csv")

    def test_ensure_folder_and_check(self, backend: Backend) -> None:
        location = backend.open("new/folder")
        location.ensure_folder()
        location.ensure_folder()  # idempotent
        location.check()
        assert location.list_files() == []

    def test_child_display(self, backend: Backend) -> None:
        location = backend.open("inbox")
        child = location.child("archive")
        assert child.display.rstrip("/") == location.display.rstrip("/") + "/archive"
        assert type(child) is type(location)


@pytest.fixture
def backend(tmp_path: Path) -> DirectoryBackend:
    root = tmp_path / "local"
    root.mkdir()
    return DirectoryBackend(
        root, lambda folder: open_folder(LocationConfig(url=str(root / folder)))
    )


class TestLocalContract(LocationContract):
    pass


def test_open_file_splits_folder_and_name(tmp_path: Path) -> None:
    (tmp_path / "stock.csv").write_bytes(b"x")
    folder, name = open_file(LocationConfig(url=str(tmp_path / "stock.csv")))
    assert name == "stock.csv"
    assert folder.read_bytes(name) == b"x"
