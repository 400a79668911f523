"""SFTP folders, through fsspec's paramiko filesystem.

Publishing uploads a hidden temp file and ``posix_rename``-s it over the target (atomic on
OpenSSH); a move is one rename. Host keys found in ``~/.ssh/known_hosts`` are enforced (a
changed key fails); an unknown host is accepted with a logged warning naming its key's
fingerprint, as there is no ``known_hosts`` option yet. A dropped connection is reconnected
once per operation. One connection must not be shared between threads.
"""

from __future__ import annotations

import io
import logging
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import IO, Any, TypeVar
from urllib.parse import unquote, urlsplit

import paramiko
from fsspec.implementations.sftp import SFTPFileSystem

from stockbridge.config.locations import LocationConfig
from stockbridge.errors import LocationError
from stockbridge.locations.base import (
    Location,
    RemoteFile,
    _application_order,
    _describe,
    is_ignored,
)

logger = logging.getLogger("stockbridge.locations")

T = TypeVar("T")

SPOOL_IN_MEMORY = 16 * 2**20

_DROPPED = (paramiko.SSHException, EOFError, ConnectionError, TimeoutError)


class _LogUnknownHostKey(paramiko.MissingHostKeyPolicy):
    """Accept a host that is not in known_hosts, saying so with its key's fingerprint."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        fingerprint = getattr(key, "fingerprint", None) or key.get_fingerprint().hex()
        logger.warning(
            "SFTP host %s is not in known_hosts; accepting its %s key %s unverified",
            hostname,
            key.get_name(),
            fingerprint,
        )


class KnownHostsSFTPFileSystem(SFTPFileSystem):
    """fsspec's SFTP filesystem, but checking the user's known_hosts (fsspec ignores it)."""

    def _connect(self) -> None:
        self.client = paramiko.SSHClient()
        with suppress(OSError):
            self.client.load_system_host_keys()
        self.client.set_missing_host_key_policy(self.host_key_policy)
        self.client.connect(self.host, **self.ssh_kwargs)
        self.ftp = self.client.open_sftp()


class SFTPLocation(Location):
    fs: KnownHostsSFTPFileSystem

    @classmethod
    def open(cls, config: LocationConfig) -> SFTPLocation:
        """Connect now; a server that is down or refuses the login is a LocationError."""
        parts = urlsplit(config.url)
        if not parts.hostname:
            raise LocationError(f"{config.display} has no host name")
        explicit = config.password is not None or config.key_file is not None
        options: dict[str, Any] = {
            "port": config.port or parts.port or 22,
            "username": config.username or (unquote(parts.username) if parts.username else None),
            "password": config.password.get_secret_value() if config.password else None,
            "key_filename": config.key_file,
            "timeout": config.timeout,
            "banner_timeout": config.timeout,
            "auth_timeout": config.timeout,
            "look_for_keys": not explicit,
            "allow_agent": not explicit,
        }
        try:
            fs = KnownHostsSFTPFileSystem(
                parts.hostname,
                host_key_policy=_LogUnknownHostKey(),
                skip_instance_cache=True,
                **options,
            )
        except Exception as exc:
            raise LocationError(f"cannot connect to {config.display}: {_describe(exc)}") from exc
        root = "/" + unquote(parts.path).strip("/")
        return cls(config, fs, root)

    def _run(self, what: str, operation: Callable[[paramiko.SFTPClient], T]) -> T:
        """Run on the SFTP session; reconnect and retry once if the connection dropped."""
        for attempt in (1, 2):
            try:
                return operation(self.fs.ftp)
            except (FileNotFoundError, LocationError):
                raise
            except (*_DROPPED, OSError) as exc:
                dropped = isinstance(exc, _DROPPED) or "Socket is closed" in str(exc)
                if not dropped or attempt == 2:
                    raise LocationError(f"cannot {what} {self.display}: {_describe(exc)}") from exc
                with suppress(Exception):
                    self.fs.client.close()
                try:
                    self.fs._connect()
                except Exception as again:
                    raise LocationError(
                        f"cannot {what} {self.display}: reconnecting failed: {_describe(again)}"
                    ) from again
        raise AssertionError("unreachable")

    def list_files(self) -> list[RemoteFile]:
        def listing(sftp: paramiko.SFTPClient) -> list[paramiko.SFTPAttributes]:
            try:
                return sftp.listdir_attr(self.root)
            except FileNotFoundError:
                return []

        files = [
            RemoteFile(_mtime(attrs), attrs.filename, int(attrs.st_size or 0))
            for attrs in self._run("list", listing)
            if stat.S_ISREG(attrs.st_mode or 0) and not is_ignored(attrs.filename)
        ]
        return sorted(files, key=_application_order)

    def _modified(self, entry: dict) -> datetime | None:
        return entry.get("mtime")

    def exists(self, name: str) -> bool:
        def check(sftp: paramiko.SFTPClient) -> bool:
            try:
                sftp.stat(self.path(name))
            except FileNotFoundError:
                return False
            return True

        return self._run("reach", check)

    @contextmanager
    def open_read(self, name: str) -> Iterator[IO[bytes]]:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:

            def download(sftp: paramiko.SFTPClient) -> None:
                spool.seek(0)
                spool.truncate()
                sftp.getfo(self.path(name), spool)

            self._run(f"read {name} from", download)
            spool.seek(0)
            yield spool  # type: ignore[misc]

    def write_atomic(self, name: str, data: bytes) -> str:
        target = self.path(name)
        temp = self.path(f".{name}.tmp")  # fixed: a killed upload's leftover is overwritten

        def publish(sftp: paramiko.SFTPClient) -> None:
            try:
                try:
                    sftp.putfo(io.BytesIO(data), temp)
                except FileNotFoundError:
                    _makedirs(sftp, self.root)
                    sftp.putfo(io.BytesIO(data), temp)
                _replace(sftp, temp, target)
            except BaseException:
                with suppress(Exception):
                    sftp.remove(temp)
                raise

        self._run(f"write {name} to", publish)
        return _join(self.display, name)

    def move_to(self, name: str, target: Location, target_name: str) -> str:
        if not (isinstance(target, SFTPLocation) and self._same_server(target)):
            from stockbridge.locations import move_across

            return move_across(self, name, target, target_name, self._delete)
        source, destination = self.path(name), target.path(target_name)

        def move(sftp: paramiko.SFTPClient) -> None:
            try:
                sftp.stat(source)
            except FileNotFoundError:
                try:
                    sftp.stat(destination)
                except FileNotFoundError:
                    raise LocationError(
                        f"cannot move {name}: it is not in {self.display}"
                    ) from None
                return  # moved by an earlier attempt
            _makedirs(sftp, target.root)
            _replace(sftp, source, destination)

        self._run(f"move {name} on", move)
        return _join(target.display, target_name)

    def _delete(self, name: str) -> None:
        def delete(sftp: paramiko.SFTPClient) -> None:
            with suppress(FileNotFoundError):
                sftp.remove(self.path(name))

        self._run(f"delete {name} from", delete)

    def ensure_folder(self) -> None:
        self._run("create folder", lambda sftp: _makedirs(sftp, self.root))

    def _same_server(self, other: SFTPLocation) -> bool:
        mine, theirs = self.fs, other.fs
        return (mine.host, mine.ssh_kwargs.get("port"), mine.ssh_kwargs.get("username")) == (
            theirs.host,
            theirs.ssh_kwargs.get("port"),
            theirs.ssh_kwargs.get("username"),
        )


def _replace(sftp: paramiko.SFTPClient, source: str, target: str) -> None:
    """posix_rename (atomic replace); plain SFTP rename refuses to overwrite, so delete first."""
    try:
        sftp.posix_rename(source, target)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        with suppress(FileNotFoundError):
            sftp.remove(target)
        sftp.rename(source, target)


def _makedirs(sftp: paramiko.SFTPClient, folder: str) -> None:
    current = ""
    for part in folder.strip("/").split("/"):
        if not part:
            continue
        current = f"{current}/{part}"
        try:
            sftp.stat(current)
        except FileNotFoundError:
            sftp.mkdir(current)


def _mtime(attrs: paramiko.SFTPAttributes) -> datetime | None:
    return datetime.fromtimestamp(attrs.st_mtime, UTC) if attrs.st_mtime is not None else None


def _join(display: str, name: str) -> str:
    return f"{display.rstrip('/')}/{name}"
