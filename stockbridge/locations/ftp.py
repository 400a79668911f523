"""FTP and FTPS (explicit TLS) folders.

fsspec's FTP filesystem is used only for its connection; every operation talks ftplib
directly because fsspec's ``ls`` turns a dead connection (``421`` after an idle timeout) into
an empty folder, which a flow would read as "nothing to import". Here:

* listings use MLSD (``modify`` fact, UTC, whole seconds) and fall back to LIST + MDTM on
  servers without MLSD; an empty or missing folder is only believed after a ``NOOP`` proves
  the connection alive;
* a dropped connection is reconnected once and the operation retried once, then it is a
  :class:`~stockbridge.errors.LocationError`;
* TLS verifies the server certificate (``ca_file`` or the system store) unless ``verify:
  false``, and ``PROT P`` is set on every (re)connect so data never travels in clear;
* publishing uploads a hidden ``.<name>.tmp`` in one STOR and renames it over the
  target, so readers see the old file or the whole new one.

One connection is not safe to share between threads: give each thread its own location
(``open_folder`` opens a new connection every time; ``child`` shares its parent's).
"""

from __future__ import annotations

import ftplib
import io
import logging
import posixpath
import ssl
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import IO, Any, TypeVar
from urllib.parse import unquote, urlsplit

from fsspec.implementations.ftp import FTPFileSystem, _mlsd2

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

UPLOAD_BLOCK_SIZE = 64 * 2**20
"""fsspec sends one STOR per block; a large block keeps a published file to one STOR."""

SPOOL_IN_MEMORY = 16 * 2**20
"""Downloads larger than this spill from memory to a temporary file."""

_RECONNECT_CODES = ("421", "425", "426")
"""Replies meaning the server closed (or is closing) the connection or a data channel."""

_DROPPED = (EOFError, OSError, ftplib.error_reply, ftplib.error_proto)
"""What ftplib raises when the connection is gone (OSError covers resets, timeouts, TLS)."""


class _FTP_TLS(ftplib.FTP_TLS):
    """Explicit FTPS that resumes the control channel's TLS session on data channels.

    Servers such as vsftpd (``require_ssl_reuse``) and FileZilla refuse data connections
    that do not reuse the session; ftplib does not do it by itself.
    """

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[Any, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            session = getattr(self.sock, "session", None)
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
        return conn, size


class VerifiedFTPFileSystem(FTPFileSystem):
    """fsspec's FTP filesystem with a verifying TLS context and ``PROT P`` on every connect.

    fsspec's own ``tls=True`` accepts any certificate and loses ``PROT P`` when it reconnects.
    """

    def __init__(self, *args: Any, ssl_context: ssl.SSLContext | None = None, **kwargs: Any):
        self.ssl_context = ssl_context
        super().__init__(*args, **kwargs)

    def _connect(self) -> None:
        if not self.tls:
            super()._connect()
            return
        context = self.ssl_context or ssl.create_default_context()
        self.ftp = _FTP_TLS(context=context, timeout=self.timeout, encoding=self.encoding)
        self.ftp.connect(self.host, self.port)
        self.ftp.login(*self.cred)  # sends AUTH TLS first
        self.ftp.prot_p()

    def __del__(self) -> None:
        ftp = getattr(self, "ftp", None)
        if ftp is not None:
            with suppress(Exception):
                ftp.close()


class FTPLocation(Location):
    """A folder on an FTP or FTPS server; see the module docstring for the guarantees."""

    fs: VerifiedFTPFileSystem

    @classmethod
    def open(cls, config: LocationConfig) -> FTPLocation:
        """Connect now; a server that is down or refuses the login is a LocationError."""
        parts = urlsplit(config.url)
        if not parts.hostname:
            raise LocationError(f"{config.display} has no host name")
        tls = config.tls or config.scheme == "ftps"
        username = config.username or (unquote(parts.username) if parts.username else None)
        password = config.password.get_secret_value() if config.password else None
        try:
            fs = VerifiedFTPFileSystem(
                host=parts.hostname,
                port=config.port or parts.port or 21,
                username=username,
                password=password,
                timeout=config.timeout,
                tls=tls,
                ssl_context=_ssl_context(config) if tls else None,
                block_size=UPLOAD_BLOCK_SIZE,
                skip_instance_cache=True,
            )
        except Exception as exc:
            raise LocationError(f"cannot connect to {config.display}: {_explain(exc)}") from exc
        root = "/" + unquote(parts.path).strip("/")
        return cls(config, fs, root)

    # -- connection ------------------------------------------------------------------------

    def _run(self, what: str, operation: Callable[[ftplib.FTP], T]) -> T:
        """Run ``operation`` on the connection; reconnect and retry it once if it dropped.

        ``what`` completes the sentence "cannot <what> <display>".
        """
        for attempt in (1, 2):
            try:
                if self.fs.ftp.sock is None:  # closed by an earlier failed reconnect
                    self._reconnect(what)
                return operation(self.fs.ftp)
            except (FileNotFoundError, LocationError):
                raise
            except ftplib.error_temp as exc:
                if not str(exc).startswith(_RECONNECT_CODES) or attempt == 2:
                    raise self._error(what, exc) from exc
                cause: BaseException = exc
            except ftplib.error_perm as exc:
                raise self._error(what, exc) from exc
            except _DROPPED as exc:
                if attempt == 2:
                    raise LocationError(
                        f"cannot {what} {self.display}: the connection dropped again after"
                        f" reconnecting ({_explain(exc)})"
                    ) from exc
                cause = exc
            logger.info(
                "FTP connection to %s dropped (%s); reconnecting", self.display, _explain(cause)
            )
            self._reconnect(what)
        raise AssertionError("unreachable")

    def _reconnect(self, what: str) -> None:
        with suppress(Exception):
            self.fs.ftp.close()
        try:
            self.fs._connect()
        except Exception as exc:
            with suppress(Exception):
                self.fs.ftp.close()
            raise LocationError(
                f"cannot {what} {self.display}: reconnecting failed: {_explain(exc)}"
            ) from exc

    def _error(self, what: str, exc: BaseException) -> LocationError:
        return LocationError(f"cannot {what} {self.display}: {_explain(exc)}")

    # -- reading ---------------------------------------------------------------------------

    def list_files(self) -> list[RemoteFile]:
        entries = self._run("list", lambda ftp: _entries(ftp, self.root)) or {}
        files = [
            RemoteFile(_parse_time(facts.get("modify")), name, int(facts.get("size") or 0))
            for name, facts in entries.items()
            # A hostile server could list "../x" or "/etc/x": only plain names are ours.
            if facts.get("type") == "file"
            and not is_ignored(name)
            and name not in ("", ".", "..")
            and "/" not in name
            and "\\" not in name
        ]
        return sorted(files, key=_application_order)

    def _modified(self, entry: dict) -> datetime | None:
        return _parse_time(entry.get("modify"))

    def folder_exists(self) -> bool:
        return self._run("reach", lambda ftp: _entries(ftp, self.root)) is not None

    def exists(self, name: str) -> bool:
        entries = self._run("reach", lambda ftp: _entries(ftp, self.root))
        return entries is not None and name in entries

    @contextmanager
    def open_read(self, name: str) -> Iterator[IO[bytes]]:
        """Download the whole file first, so a dropped connection can be retried cleanly."""
        path = self.path(name)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:

            def download(ftp: ftplib.FTP) -> None:
                spool.seek(0)
                spool.truncate()
                try:
                    ftp.retrbinary(f"RETR {path}", spool.write, blocksize=2**16)
                except ftplib.error_perm as exc:
                    entries = _entries(ftp, self.root)
                    if entries is None or name not in entries:
                        raise FileNotFoundError(f"{name} is not in {self.display}") from exc
                    raise

            self._run(f"read {name} from", download)
            spool.seek(0)
            yield spool  # type: ignore[misc]

    # -- writing ---------------------------------------------------------------------------

    def write_atomic(self, name: str, data: bytes) -> str:
        target = self.path(name)
        temp = self.path(f".{name}.tmp")  # fixed: a killed upload's leftover is overwritten

        def publish(ftp: ftplib.FTP) -> None:
            try:
                try:
                    _store(ftp, temp, data)
                except ftplib.error_perm:
                    _makedirs(ftp, self.root)  # most likely the folder is missing
                    _store(ftp, temp, data)
                _rename(ftp, temp, target, replace=True)
            except BaseException:
                with suppress(Exception):
                    ftp.delete(temp)
                raise

        self._run(f"write {name} to", publish)
        return _join(self.display, name)

    def move_to(self, name: str, target: Location, target_name: str) -> str:
        if not (isinstance(target, FTPLocation) and self._same_server(target)):
            from stockbridge.locations import move_across

            return move_across(self, name, target, target_name, self._delete)
        source, destination = self.path(name), target.path(target_name)

        def move(ftp: ftplib.FTP) -> None:
            try:
                _rename(ftp, source, destination, replace=True)
                return
            except ftplib.error_perm:
                if not _exists(ftp, source):
                    if _exists(ftp, destination):
                        return  # moved by an earlier attempt
                    raise FileNotFoundError(f"{name} is not in {self.display}") from None
            _makedirs(ftp, target.root)
            _rename(ftp, source, destination, replace=True)

        try:
            self._run(f"move {name} to {_join(target.display, target_name)} on", move)
        except FileNotFoundError as exc:
            raise LocationError(f"cannot move {name}: {exc}") from exc
        return _join(target.display, target_name)

    def _delete(self, name: str) -> None:
        """Delete a file; one that is already gone is fine (moves are repeated after crashes)."""
        path = self.path(name)

        def delete(ftp: ftplib.FTP) -> None:
            try:
                ftp.delete(path)
            except ftplib.error_perm:
                if _exists(ftp, path):
                    raise

        self._run(f"delete {name} from", delete)

    def ensure_folder(self) -> None:
        self._run("create folder", lambda ftp: _makedirs(ftp, self.root))

    def _same_server(self, other: FTPLocation) -> bool:
        mine, theirs = self.fs, other.fs
        return (mine.host, mine.port, mine.cred[0], bool(mine.tls)) == (
            theirs.host,
            theirs.port,
            theirs.cred[0],
            bool(theirs.tls),
        )


# -- ftplib helpers (all paths absolute) -------------------------------------------------------


def _entries(ftp: ftplib.FTP, folder: str) -> dict[str, dict[str, str]] | None:
    """Name -> facts for everything in ``folder``, or None when the folder does not exist.

    An empty answer is confirmed on the live connection (NOOP) before it is believed, because
    a connection that died in between can look exactly like an empty folder; a missing
    folder is confirmed by the server's own CWD refusal.
    """
    no_mlsd = getattr(ftp, "stockbridge_no_mlsd", False)
    try:
        entries = _list_entries(ftp, folder) if no_mlsd else _mlsd_entries(ftp, folder)
    except ftplib.error_perm as exc:
        # No such folder, or no MLSD (500/502): CWD tells which.
        try:
            ftp.cwd(folder)
        except ftplib.error_perm:
            return None
        if no_mlsd:
            raise
        if str(exc)[:3] in ("500", "502"):
            ftp.stockbridge_no_mlsd = True  # type: ignore[attr-defined]  # per connection
        entries = _list_entries(ftp, folder)
    if not entries:
        ftp.voidcmd("NOOP")
    return entries


def _mlsd_entries(ftp: ftplib.FTP, folder: str) -> dict[str, dict[str, str]]:
    entries = {}
    for path, facts in ftp.mlsd(folder):
        name = posixpath.basename(path.rstrip("/")) if "/" in path else path
        lowered = {key.lower(): value for key, value in facts.items()}
        lowered["type"] = lowered.get("type", "").lower()
        if name not in (".", "..") and lowered["type"] not in ("cdir", "pdir"):
            entries[name] = lowered
    return entries


def _list_entries(ftp: ftplib.FTP, folder: str) -> dict[str, dict[str, str]]:
    """LIST for servers without MLSD (vsftpd); mtimes then come from MDTM, in UTC."""
    entries: dict[str, dict[str, str]] = {}
    for name, facts in _mlsd2(ftp, folder):
        if name in (".", ".."):
            continue
        facts.pop("modify", None)  # "Jan 02 12:00": no year, no zone
        if facts.get("type") == "file":
            with suppress(ftplib.error_perm):
                reply = ftp.sendcmd(f"MDTM {posixpath.join(folder, name)}")
                facts["modify"] = reply[4:].strip()
        entries[name] = facts
    return entries


def _exists(ftp: ftplib.FTP, path: str) -> bool:
    folder, name = posixpath.split(path)
    entries = _entries(ftp, folder or "/")
    return entries is not None and name in entries


def _store(ftp: ftplib.FTP, path: str, data: bytes) -> None:
    ftp.storbinary(f"STOR {path}", io.BytesIO(data), blocksize=2**20)


def _rename(ftp: ftplib.FTP, source: str, target: str, *, replace: bool) -> None:
    """RNFR/RNTO; a server that will not rename over a file gets the target deleted first."""
    ftp.sendcmd(f"RNFR {source}")  # error_perm here: the source is missing
    try:
        ftp.voidcmd(f"RNTO {target}")
    except ftplib.error_perm as refused:
        if not replace:
            raise
        try:
            ftp.delete(target)
        except ftplib.error_perm:
            raise refused from None
        ftp.sendcmd(f"RNFR {source}")
        ftp.voidcmd(f"RNTO {target}")


def _makedirs(ftp: ftplib.FTP, folder: str) -> None:
    try:
        ftp.cwd(folder)
        return
    except ftplib.error_perm:
        pass
    current = ""
    for part in folder.strip("/").split("/"):
        current = f"{current}/{part}"
        try:
            ftp.mkd(current)
        except ftplib.error_perm:
            ftp.cwd(current)  # fine if it already exists; error_perm if it cannot


# -- small helpers -----------------------------------------------------------------------------


def _ssl_context(config: LocationConfig) -> ssl.SSLContext:
    """Verify the certificate and host name unless the location says ``verify: false``."""
    context = ssl.create_default_context(cafile=config.ca_file)
    if not config.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        logger.warning(
            "TLS certificate of %s is NOT verified (verify: false): anyone on the network path"
            " could read the password and the files",
            config.display,
        )
    return context


def _parse_time(value: str | None) -> datetime | None:
    """MLSD/MDTM time ``YYYYMMDDHHMMSS[.fff]``, which RFC 3659 defines as UTC."""
    if not value:
        return None
    whole, _, fraction = value.strip().partition(".")
    try:
        moment = datetime.strptime(whole[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    if fraction.isdigit():
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    return moment


def _join(display: str, name: str) -> str:
    return f"{display.rstrip('/')}/{name}"


def _explain(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the server's TLS certificate is not trusted ({exc.verify_message}); set ca_file"
            " to the CA that signed it"
        )
    if isinstance(exc, TimeoutError | EOFError | ConnectionError) and not str(exc).strip():
        return f"{type(exc).__name__} (the server closed or stopped answering)"
    return _describe(exc)
