"""SFTP folders, through fsspec's paramiko filesystem.

Publishing uploads a hidden temp file and ``posix_rename``-s it over the target (atomic on
OpenSSH); a move is one rename. A dropped connection is reconnected once per operation. One
connection must not be shared between threads.

The server's host key is verified before the password or key is sent, as FTPS verifies its
certificate: against a pinned ``host_key`` fingerprint, else against ``known_hosts`` (default
``~/.ssh/known_hosts``, hashed or plain lines, ``[host]:port`` for other ports than 22). An
unknown key is refused with the fingerprint to pin; a key that differs from the known one is
refused as a possible attack. ``verify: false`` accepts any key and warns on every connect.
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
from paramiko.hostkeys import HostKeyEntry

from stockbridge.config.locations import LocationConfig, expand_path
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


class _HostKeyCheck(paramiko.MissingHostKeyPolicy):
    """Decides on a key paramiko did not find among the loaded known hosts.

    With a pin nothing is loaded, so every key comes here and must match the pin; with
    ``known_hosts`` only unknown hosts come here and are refused; with ``verify: false``
    nothing is loaded and every key is accepted with a warning.
    """

    def __init__(self, config: LocationConfig):
        self.config = config
        self.revoked: set[str] = set()

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        config, kind, fingerprint = self.config, key.get_name(), key.fingerprint
        if not config.verify:
            logger.warning(
                "SSH host key of %s is NOT verified (verify: false): anyone on the network path"
                " could pose as the server and read the password and the files; the server"
                " showed %s key %s (pin it with host_key: %s)",
                config.display,
                kind,
                fingerprint,
                fingerprint,
            )
            return
        if config.host_key is not None:
            if fingerprint == config.host_key:
                return
            raise LocationError(
                f"{config.display}: the server's {kind} key {fingerprint} does not match"
                f" host_key {config.host_key}: the key changed, possibly an attack (someone on"
                " the network path posing as the server), so stockbridge refuses to connect;"
                f" if the server was really given a new key, set `host_key: {fingerprint}`"
            )
        known_hosts = config.known_hosts_path
        if fingerprint in self.revoked:
            raise LocationError(
                f"{config.display}: the server's {kind} key {fingerprint} is marked @revoked in"
                f" known_hosts {known_hosts}, so stockbridge refuses to connect"
            )
        missing = "" if expand_path(known_hosts).exists() else " (which does not exist)"
        raise LocationError(
            f"{config.display}: the server's {kind} key {fingerprint} is not in known_hosts"
            f" {known_hosts}{missing}; if you trust it, add `host_key: {fingerprint}` to this"
            " location (or add the server's key to that known_hosts file)"
        )


class VerifiedSFTPFileSystem(SFTPFileSystem):
    """fsspec's SFTP filesystem verifying the host key (fsspec trusts any key it is shown)."""

    host_key_policy: _HostKeyCheck

    def __init__(self, host: str, *, location: LocationConfig, **ssh_kwargs: Any):
        self.location = location
        super().__init__(host, host_key_policy=_HostKeyCheck(location), **ssh_kwargs)

    def _connect(self) -> None:
        config = self.location
        self.client = paramiko.SSHClient()
        if config.verify and config.host_key is None:
            self.host_key_policy.revoked = _load_known_hosts(self.client, config)
        self.client.set_missing_host_key_policy(self.host_key_policy)
        try:
            self.client.connect(self.host, **self.ssh_kwargs)
        except paramiko.BadHostKeyException as exc:
            self.client.close()
            raise _changed_key(config, self.host, self.ssh_kwargs.get("port"), exc) from None
        except BaseException:
            self.client.close()  # a refused key must not leave the transport thread behind
            raise
        self.ftp = self.client.open_sftp()


def _load_known_hosts(client: paramiko.SSHClient, config: LocationConfig) -> set[str]:
    """Trust the keys of a known_hosts file; return the fingerprints it marks ``@revoked``.

    Read line by line as OpenSSH does: a line that cannot be read (a corrupt key, a key type
    paramiko lacks, ``@cert-authority``, which paramiko cannot check) is skipped, where
    paramiko's own loader would reject the whole file. A revoked key is never trusted.
    Read-only: stockbridge never adds a key to a known_hosts file.
    """
    path = expand_path(config.known_hosts_path)
    if config.known_hosts is None and not path.exists():
        return set()  # the default file is optional; every host is then unknown
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise LocationError(
            f"{config.display}: cannot read known_hosts {config.known_hosts_path}: {_describe(exc)}"
        ) from exc
    trusted: list[HostKeyEntry] = []
    revoked: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        marker, _, rest = line.partition(" ") if line.startswith("@") else ("", "", line)
        if not rest or rest.startswith("#") or marker not in ("", "@revoked"):
            continue
        try:
            entry = HostKeyEntry.from_line(rest, number)
        except Exception:
            entry = None
        if entry is None or entry.key is None:
            logger.debug("known_hosts %s line %d skipped: not readable", path, number)
        elif marker == "@revoked":
            revoked.add(entry.key.fingerprint)
        else:
            trusted.append(entry)
    keys = client.get_host_keys()
    for entry in trusted:
        if entry.key.fingerprint not in revoked:
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)
    return revoked


def _changed_key(
    config: LocationConfig, host: str, port: int | None, exc: paramiko.BadHostKeyException
) -> LocationError:
    name = host if port in (None, 22) else f"[{host}]:{port}"
    known_hosts = config.known_hosts_path
    return LocationError(
        f"{config.display}: the server's {exc.key.get_name()} key {exc.key.fingerprint} is not"
        f" the {exc.expected_key.get_name()} key {exc.expected_key.fingerprint} that"
        f" known_hosts {known_hosts} has for {name}: the key changed, possibly an attack"
        " (someone on the network path posing as the server), so stockbridge refuses to"
        " connect; if the server was really given a new key, remove the old one with"
        f" `ssh-keygen -R '{name}' -f {known_hosts}` and add the new one"
    )


class SFTPLocation(Location):
    fs: VerifiedSFTPFileSystem

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
            "key_filename": str(expand_path(config.key_file)) if config.key_file else None,
            "timeout": config.timeout,
            "banner_timeout": config.timeout,
            "auth_timeout": config.timeout,
            "look_for_keys": not explicit,
            "allow_agent": not explicit,
        }
        try:
            fs = VerifiedSFTPFileSystem(
                parts.hostname, location=config, skip_instance_cache=True, **options
            )
        except LocationError:
            raise
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

    def folder_exists(self) -> bool:
        def is_folder(sftp: paramiko.SFTPClient) -> bool:
            try:
                return stat.S_ISDIR(sftp.stat(self.root).st_mode or 0)
            except FileNotFoundError:
                return False

        return self._run("reach", is_folder)

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
