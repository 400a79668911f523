"""A non-blocking exclusive lock on a file, released by the operating system when its holder dies.

The SQLite ledger has no advisory locks of its own, so a run holds one of these on a file
beside the database. The mechanism is picked when the lock is taken, from what the platform
has:

* POSIX: ``fcntl.flock`` on the whole file;
* Windows: ``msvcrt.locking`` on the file's first byte (a byte-range lock; locking past the
  end of an empty file is allowed there);
* a POSIX Python without the ``fcntl`` module: ``os.lockf``, a POSIX record lock.

All three live in the kernel for an open file, so a process killed by SIGKILL or the Task
Manager loses its lock at once: there is never a stale lock to delete by hand, as there would
be with a lock that is the mere existence of a file (``O_CREAT | O_EXCL``).

A path is also locked at most once per process (a registry below), whatever the mechanism:
POSIX record locks do not exclude a second lock taken by the same process, and closing any
descriptor of the file would drop them.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

_HELD: set[str] = set()
_HELD_GUARD = threading.Lock()


class LockHeld(Exception):
    """Another process (or another part of this one) holds the lock."""


def mechanism() -> str:
    """``flock``, ``msvcrt`` or ``lockf``: what :class:`FileLock` uses on this platform now."""
    if os.name == "nt":
        return "msvcrt"
    if _importable("fcntl"):
        return "flock"
    if hasattr(os, "lockf"):
        return "lockf"
    raise OSError(errno.ENOSYS, "no file locking available on this platform")


class FileLock:
    """An exclusive lock on ``path`` (created if missing); :meth:`acquire` never waits.

    Also a context manager. The file itself stays: only the kernel's lock on it matters.
    """

    def __init__(self, path: str | Path):
        self.path = os.path.normcase(os.path.abspath(path))
        self._fd: int | None = None
        self._release: Callable[[int], None] | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`LockHeld` at once."""
        with _HELD_GUARD:
            if self.path in _HELD:
                raise LockHeld(self.path)
            _HELD.add(self.path)
        try:
            lock, unlock = _MECHANISMS[mechanism()]
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
            try:
                lock(fd)
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            self._forget()
            raise
        self._fd, self._release = fd, unlock

    def release(self) -> None:
        fd, unlock = self._fd, self._release
        if fd is None or unlock is None:
            return
        self._fd = self._release = None
        try:
            unlock(fd)
        finally:
            os.close(fd)
            self._forget()

    def _forget(self) -> None:
        with _HELD_GUARD:
            _HELD.discard(self.path)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def _flock(fd: int) -> None:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise LockHeld() from None


def _funlock(fd: int) -> None:
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _msvcrt_lock(fd: int) -> None:
    import msvcrt

    os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks from the current position
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EDEADLK):
            raise LockHeld() from None
        raise


def _msvcrt_unlock(fd: int) -> None:
    import msvcrt

    os.lseek(fd, 0, os.SEEK_SET)
    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


def _lockf(fd: int) -> None:
    try:
        os.lockf(fd, os.F_TLOCK, 0)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            raise LockHeld() from None
        raise


def _lockf_unlock(fd: int) -> None:
    os.lockf(fd, os.F_ULOCK, 0)


_MECHANISMS: dict[str, tuple[Callable[[int], None], Callable[[int], None]]] = {
    "flock": (_flock, _funlock),
    "msvcrt": (_msvcrt_lock, _msvcrt_unlock),
    "lockf": (_lockf, _lockf_unlock),
}
