"""Real servers for tests: FTP, FTPS (with a test CA), SFTP and S3 (moto), all on 127.0.0.1.

``tests/conftest.py`` star-imports this module, so every fixture here is available to every
test module. Servers run in threads of the test process, start in milliseconds and are
always shut down in teardown.

* ``ftp_server`` / ``ftps_server`` -> :class:`FTPTestServer` (host, port, user, password,
  root; FTPS adds ca_file and wrong_ca_file). ``server.drop_all_connections()`` closes every
  client socket (the client sees EOF); ``drop_all_connections(reply_421=True)`` first sends
  ``421 Control connection timed out.`` as an idle-timeout would.
* ``s3_server`` -> :class:`S3TestServer` (endpoint_url, bucket, key, secret, region, client):
  one moto server per session, emptied before every test, with a fresh bucket.
* ``sftp_server`` -> :class:`SFTPTestServer` (host, port, user, password, root): paramiko's
  SFTP server over a local folder; ``drop_all_connections()`` closes every SSH transport.
* :func:`running_ftp_server` starts a server with variations (no MLSD, no rename over an
  existing file) for backend edge cases.
* ``sshd_server`` -> :class:`SSHDTestServer`: the machine's real OpenSSH ``sshd`` on a random
  port with its own host keys, config and log in a temporary folder, key login (no password)
  as the user running the tests, SFTP only; stopped at teardown. Without ``sshd`` the test
  skips, except under CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import getpass
import ipaddress
import logging
import os
import posixpath
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from stockbridge.config.locations import LocationConfig

__all__ = [
    "FTPTestServer",
    "S3TestServer",
    "SFTPTestServer",
    "SSHDTestServer",
    "TLSMaterial",
    "free_port",
    "ftp_server",
    "ftps_server",
    "moto_endpoint",
    "running_ftp_server",
    "s3_server",
    "sftp_host_key",
    "sftp_server",
    "sshd_server",
    "tls_material",
]

HOST = "127.0.0.1"
FTP_USER = "till"
FTP_PASSWORD = "s3cr3t-Pa55word"
S3_KEY = "testing-key"
S3_SECRET = "testing-secret-value"
S3_REGION = "us-east-1"
S3_BUCKET = "stock"
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": S3_KEY,
    "AWS_SECRET_ACCESS_KEY": S3_SECRET,
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": S3_REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}

# A handler stops pyftpdlib from configuring logging to stderr itself; its INFO lines (one
# per command) would drown the test output.
logging.getLogger("pyftpdlib").addHandler(logging.NullHandler())
logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's one line per request


def free_port() -> int:
    """A local TCP port with nothing listening: a server that is down."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# -- TLS ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSMaterial:
    ca_file: Path
    wrong_ca_file: Path
    cert_file: Path
    key_file: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())  # fast, unlike RSA


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_tls_material(folder: Path) -> TLSMaterial:
    """A test CA, a server certificate it signed for 127.0.0.1/localhost, and a stranger CA."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ca("stockbridge test CA")
    wrong_cert, _ = _ca("some other CA")
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    material = TLSMaterial(
        ca_file=folder / "ca.pem",
        wrong_ca_file=folder / "wrong-ca.pem",
        cert_file=folder / "server.pem",
        key_file=folder / "server.key",
    )
    material.ca_file.write_bytes(ca_cert.public_bytes(pem))
    material.wrong_ca_file.write_bytes(wrong_cert.public_bytes(pem))
    material.cert_file.write_bytes(cert.public_bytes(pem))
    material.key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return material


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    return make_tls_material(tmp_path_factory.mktemp("tls"))


# -- FTP ---------------------------------------------------------------------------------------


@dataclass
class FTPTestServer:
    """A pyftpdlib server running in its own thread and IO loop."""

    host: str
    port: int
    user: str
    password: str
    root: Path
    scheme: str = "ftp"
    ca_file: Path | None = None
    wrong_ca_file: Path | None = None
    _server: Any = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _tasks: collections.deque[Callable[[], None]] = field(
        default_factory=collections.deque, repr=False
    )

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://{self.host}:{self.port}/{path.lstrip('/')}"

    def config(self, path: str = "/", **options: Any) -> LocationConfig:
        """A location config for ``path`` on this server, logged in as the test user."""
        settings: dict[str, Any] = {
            "url": self.url(path),
            "username": self.user,
            "password": self.password,
            "timeout": 5,
        }
        if self.ca_file is not None:
            settings["ca_file"] = str(self.ca_file)
        settings.update(options)
        return LocationConfig(**settings)

    def refuse_reads(self, folder: str) -> None:
        """Let the test user list ``folder`` (relative to the root) but never download from
        it: every RETR there answers ``550 Not enough privileges``."""
        self._server.handler.authorizer.override_perm(self.user, str(self.root / folder), "elmf")

    def drop_all_connections(self, reply_421: bool = False) -> None:
        """Close every client connection, as a server restart or a NAT timeout would.

        With ``reply_421`` each control connection first gets ``421 Control connection timed
        out.`` (what an idle timeout looks like); without, the client just sees EOF.
        """
        done = threading.Event()

        def drop() -> None:
            for channel in list(self._server.ioloop.socket_map.values()):
                if isinstance(channel, FTPHandler):
                    if reply_421:
                        channel.respond("421 Control connection timed out.")
                        channel.close_when_done()
                    else:
                        channel.close()
                elif isinstance(channel, DTPHandler):
                    channel.close()
            done.set()

        self._tasks.append(drop)
        if not done.wait(5):
            raise RuntimeError("the FTP test server did not drop its connections")
        if reply_421:  # let the loop flush the replies before the test goes on
            flushed = threading.Event()
            self._tasks.append(flushed.set)
            flushed.wait(5)

    def expire_session_after_next_listing(self) -> None:
        """The next MLSD/LIST answers an empty listing, then the session is dead (``421``).

        This is what a server that timed the session out half-way looks like: an empty
        listing that must not be believed without checking the connection.
        """
        self._server.expire_after_listing = True

    def connection_count(self) -> int:
        """Open control connections (to check that clients do not leak connections)."""
        return sum(
            isinstance(channel, FTPHandler)
            for channel in list(self._server.ioloop.socket_map.values())
        )

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                self._server.ioloop.loop(0.01, blocking=False)
                while self._tasks:
                    self._tasks.popleft()()
        finally:
            self._server.close_all()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


@contextmanager
def running_ftp_server(
    root: Path,
    *,
    tls: TLSMaterial | None = None,
    mlsd: bool = True,
    rename_over_existing: bool = True,
) -> Iterator[FTPTestServer]:
    """An FTP(S) server whose test user is chrooted to ``root``.

    ``mlsd=False`` behaves like vsftpd (LIST and MDTM only); ``rename_over_existing=False``
    refuses RNTO onto an existing file, as IIS and some Windows servers do. With ``tls`` the
    server requires TLS on both channels, so a client that lost ``PROT P`` fails.
    """
    root.mkdir(parents=True, exist_ok=True)
    authorizer = DummyAuthorizer()
    authorizer.add_user(FTP_USER, FTP_PASSWORD, str(root), perm="elradfmwMT")
    attributes: dict[str, Any] = {
        "authorizer": authorizer,
        "banner": "stockbridge test",
        "auth_failed_timeout": 0,  # the default 3 s pause after a bad password slows tests
    }
    if tls is not None:
        from pyftpdlib.handlers import TLS_FTPHandler

        base: type[FTPHandler] = TLS_FTPHandler
        attributes.update(
            certfile=str(tls.cert_file),
            keyfile=str(tls.key_file),
            ssl_context=None,  # built per server class from the files above
            tls_control_required=True,
            tls_data_required=True,
        )
    else:
        base = FTPHandler
    if not mlsd:
        attributes["proto_cmds"] = {
            cmd: info for cmd, info in base.proto_cmds.items() if cmd not in ("MLSD", "MLST")
        }
    if not rename_over_existing:

        def ftp_RNTO(self: FTPHandler, path: str) -> Any:
            if self._rnfr and self.fs.lexists(path):
                self._rnfr = None
                self.respond("550 Cannot rename: target exists.")
                return None
            return base.ftp_RNTO(self, path)

        attributes["ftp_RNTO"] = ftp_RNTO
    attributes.update(
        pre_process_command=_expiring_pre_process_command,
        ftp_MLSD=_expiring_listing(base.ftp_MLSD),
        ftp_LIST=_expiring_listing(base.ftp_LIST),
    )
    handler = type("TestFTPHandler", (base,), attributes)
    server = FTPServer((HOST, 0), handler, ioloop=IOLoop())
    info = FTPTestServer(
        host=HOST,
        port=server.address[1],
        user=FTP_USER,
        password=FTP_PASSWORD,
        root=root,
        scheme="ftps" if tls else "ftp",
        ca_file=tls.ca_file if tls else None,
        wrong_ca_file=tls.wrong_ca_file if tls else None,
        _server=server,
    )
    info._thread = threading.Thread(target=info._serve, name="ftp-test-server", daemon=True)
    info._thread.start()
    try:
        yield info
    finally:
        info.stop()


def _expiring_listing(listing: Callable[..., Any]) -> Callable[..., Any]:
    def handle(self: FTPHandler, path: str) -> Any:
        if getattr(self.server, "expire_after_listing", False):
            self.server.expire_after_listing = False
            self._expired = True
            self.push_dtp_data(b"", cmd="MLSD")
            return None
        return listing(self, path)

    return handle


def _expiring_pre_process_command(self: FTPHandler, line: str, cmd: str, arg: str) -> Any:
    if getattr(self, "_expired", False):
        self.respond("421 Session expired.")
        self.close_when_done()
        return None
    return FTPHandler.pre_process_command(self, line, cmd, arg)


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[FTPTestServer]:
    """Plain FTP on 127.0.0.1 (random port); the user's home is ``server.root``."""
    with running_ftp_server(tmp_path / "ftp-home") as server:
        yield server


@pytest.fixture
def ftps_server(tmp_path: Path, tls_material: TLSMaterial) -> Iterator[FTPTestServer]:
    """Explicit FTPS (AUTH TLS, PROT P required) with a certificate from a test CA."""
    with running_ftp_server(tmp_path / "ftps-home", tls=tls_material) as server:
        yield server


# -- SFTP --------------------------------------------------------------------------------------


class _SFTPFolder(paramiko.SFTPServerInterface):
    """SFTP requests served from a local folder (the user's chroot)."""

    def __init__(self, server: Any, *args: Any, root: Path, **kwargs: Any):
        super().__init__(server, *args, **kwargs)
        self.root = root

    def _real(self, path: str) -> str:
        return str(self.root / posixpath.normpath("/" + path).lstrip("/"))

    def canonicalize(self, path: str) -> str:
        return posixpath.normpath("/" + path)

    def list_folder(self, path: str) -> Any:
        try:
            real = self._real(path)
            entries = []
            for name in os.listdir(real):
                attributes = paramiko.SFTPAttributes.from_stat(os.stat(os.path.join(real, name)))
                attributes.filename = name
                entries.append(attributes)
            return entries
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def stat(self, path: str) -> Any:
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._real(path)))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    lstat = stat

    def open(self, path: str, flags: int, attr: Any) -> Any:
        try:
            fd = os.open(self._real(path), flags | getattr(os, "O_BINARY", 0), 0o644)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        if flags & os.O_WRONLY:
            mode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            mode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            mode = "rb"
        handle = _SFTPFile(flags)
        handle.readfile = handle.writefile = os.fdopen(fd, mode)
        return handle

    def _call(self, action: Callable[[], object]) -> int:
        try:
            action()
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        return paramiko.SFTP_OK

    def remove(self, path: str) -> int:
        return self._call(lambda: os.remove(self._real(path)))

    def rename(self, oldpath: str, newpath: str) -> int:
        if os.path.exists(self._real(newpath)):  # SFTP v3: plain rename never overwrites
            return paramiko.SFTP_FAILURE
        return self._call(lambda: os.rename(self._real(oldpath), self._real(newpath)))

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return self._call(lambda: os.replace(self._real(oldpath), self._real(newpath)))

    def mkdir(self, path: str, attr: Any) -> int:
        return self._call(lambda: os.mkdir(self._real(path)))

    def rmdir(self, path: str) -> int:
        return self._call(lambda: os.rmdir(self._real(path)))

    def chattr(self, path: str, attr: Any) -> int:
        return paramiko.SFTP_OK


class _SFTPFile(paramiko.SFTPHandle):
    def stat(self) -> Any:
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))

    def chattr(self, attr: Any) -> int:
        return paramiko.SFTP_OK


class _SSHLogin(paramiko.ServerInterface):
    def __init__(self, user: str, password: str):
        self.user, self.password = user, password

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        ok = (username, password) == (self.user, self.password)
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


@dataclass
class SFTPTestServer:
    """A paramiko SFTP server in a thread; the user's root ("/") is ``root``."""

    host: str
    port: int
    user: str
    password: str
    root: Path
    _listener: socket.socket = field(repr=False)
    _host_key: Any = field(repr=False)
    _transports: list[Any] = field(default_factory=list, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def url(self, path: str = "/") -> str:
        return f"sftp://{self.host}:{self.port}/{path.lstrip('/')}"

    def config(self, path: str = "/", **options: Any) -> LocationConfig:
        settings: dict[str, Any] = {
            "url": self.url(path),
            "username": self.user,
            "password": self.password,
            "timeout": 5,
        }
        settings.update(options)
        return LocationConfig(**settings)

    def drop_all_connections(self) -> None:
        """Close every client's SSH transport."""
        for transport in list(self._transports):
            transport.close()
        self._transports.clear()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # listener closed: stop
            transport = paramiko.Transport(client)
            transport.add_server_key(self._host_key)
            transport.set_subsystem_handler(
                "sftp", paramiko.SFTPServer, _SFTPFolder, root=self.root
            )
            self._transports.append(transport)
            try:
                transport.start_server(server=_SSHLogin(self.user, self.password))
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self.drop_all_connections()
        if self._thread is not None:
            self._thread.join(5)


@pytest.fixture(scope="session")
def sftp_host_key() -> Any:
    return paramiko.ECDSAKey.generate()


@pytest.fixture
def sftp_server(tmp_path: Path, sftp_host_key: Any) -> Iterator[SFTPTestServer]:
    """SFTP (paramiko) on 127.0.0.1, random port, password login, chrooted to ``root``."""
    root = tmp_path / "sftp-home"
    root.mkdir()
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(16)
    server = SFTPTestServer(
        host=HOST,
        port=listener.getsockname()[1],
        user=FTP_USER,
        password=FTP_PASSWORD,
        root=root,
        _listener=listener,
        _host_key=sftp_host_key,
    )
    server._thread = threading.Thread(target=server._serve, name="sftp-test-server", daemon=True)
    server._thread.start()
    try:
        yield server
    finally:
        server.stop()


# -- OpenSSH sshd ------------------------------------------------------------------------------

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")
"""Where sshd running as root chroots its pre-auth child; the Debian service creates it at
start, so a machine whose sshd service never ran has none."""


@dataclass
class SSHDTestServer:
    """A real OpenSSH sshd serving SFTP on 127.0.0.1; ``root`` is an empty folder of ours.

    The server's host keys are ``ssh-ed25519`` (what clients negotiate first) and
    ``ecdsa-sha2-nistp256``; their fingerprints and ``ssh-keyscan`` lines come from the
    OpenSSH tools, never from paramiko, so they check stockbridge independently.
    """

    host: str
    port: int
    user: str
    key_file: Path
    root: Path
    folder: Path
    log_file: Path
    host_keys: dict[str, Path]
    process: subprocess.Popen[bytes] = field(repr=False)

    def url(self, path: str = "") -> str:
        return f"sftp://{self.host}:{self.port}{self.root}/{path.lstrip('/')}"

    def config(self, path: str = "", **options: Any) -> LocationConfig:
        """A location on this server, logging in with the test key."""
        settings: dict[str, Any] = {
            "url": self.url(path),
            "username": self.user,
            "key_file": str(self.key_file),
            "timeout": 10,
        }
        settings.update(options)
        return LocationConfig(**settings)

    def fingerprint(self, kind: str = "ssh-ed25519") -> str:
        """``SHA256:…`` of a host key, as ``ssh-keygen -lf`` prints it."""
        out = _run_tool("ssh-keygen", "-l", "-E", "sha256", "-f", f"{self.host_keys[kind]}.pub")
        return out.split()[1]

    def keyscan(self) -> list[str]:
        """The server's known_hosts lines as ``ssh-keyscan`` prints them (``[host]:port``)."""
        out = _run_tool("ssh-keyscan", "-p", str(self.port), "-T", "10", self.host)
        return sorted(line for line in out.splitlines() if line and not line.startswith("#"))

    def logins(self) -> list[str]:
        """The log lines of accepted logins so far (``Accepted publickey for USER from …``)."""
        lines = self.log_file.read_text().splitlines()
        return [line for line in lines if f"for {self.user} from" in line and "Accepted " in line]

    def stop(self) -> None:
        """SIGTERM to sshd and its per-connection children (its own process group)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def _run_tool(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


def _sshd_missing() -> str | None:
    if not os.access(SSHD, os.X_OK):
        return f"OpenSSH sshd is not installed ({SSHD}; apt-get install openssh-server)"
    for tool in ("ssh-keygen", "ssh-keyscan"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install openssh-client)"
    return None


def _sshd_config(folder: Path, port: int, user: str, sshd: str) -> Path:
    lines = [
        f"ListenAddress {HOST}",
        f"Port {port}",
        *(f"HostKey {folder / name}" for name in ("host_ed25519", "host_ecdsa")),
        f"PidFile {folder / 'sshd.pid'}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}",
        f"AllowUsers {user}",
        "AuthenticationMethods publickey",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",  # key only; used when the tests run as root
        "UsePAM no",
        "StrictModes no",  # the keys live in a pytest temp folder
        "Subsystem sftp internal-sftp",
        "ForceCommand internal-sftp",  # SFTP only: no shell, whoever logs in
        "PermitTTY no",
        "AllowTcpForwarding no",
        "X11Forwarding no",
        "LogLevel VERBOSE",
    ]
    config = folder / "sshd_config"
    config.write_text("\n".join(lines) + "\n")
    # OpenSSH 9.8+ penalises a source address whose connections end before login (what a
    # refused host key looks like to the server); the tests do that on purpose.
    probe = [sshd, "-t", "-f", str(config), "-o", "PerSourcePenalties=no"]
    if subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0:
        config.write_text(config.read_text() + "PerSourcePenalties no\n")
    return config


def _wait_for_banner(server: SSHDTestServer, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        with (
            contextlib.suppress(OSError),
            socket.create_connection((server.host, server.port), timeout=1) as sock,
        ):
            if sock.recv(4).startswith(b"SSH-"):
                return True
        time.sleep(0.05)
    return False


@pytest.fixture
def sshd_server(tmp_path: Path) -> Iterator[SSHDTestServer]:
    """A real OpenSSH sshd on 127.0.0.1 (random port), key login, stopped at teardown."""
    missing = _sshd_missing()
    if missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{missing}; the OpenSSH tests are mandatory in CI", pytrace=False)
        pytest.skip(missing)
    folder = tmp_path / "sshd"
    root = tmp_path / "sshd-home"
    folder.mkdir()
    root.mkdir()
    for name, kind in (("host_ed25519", "ed25519"), ("host_ecdsa", "ecdsa"), ("client", "ed25519")):
        _run_tool("ssh-keygen", "-q", "-t", kind, "-N", "", "-C", name, "-f", str(folder / name))
    (folder / "authorized_keys").write_bytes((folder / "client.pub").read_bytes())
    user = getpass.getuser()
    made_privsep = False
    if os.geteuid() == 0 and not PRIVSEP_DIR.exists():
        PRIVSEP_DIR.mkdir(mode=0o755)
        made_privsep = True
    server: SSHDTestServer | None = None
    try:
        for _attempt in range(3):  # the free port may be taken before sshd binds it
            port = free_port()
            config = _sshd_config(folder, port, user, SSHD)
            log_file = folder / f"sshd-{port}.log"
            process = subprocess.Popen(
                [SSHD, "-D", "-f", str(config), "-E", str(log_file)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            server = SSHDTestServer(
                host=HOST,
                port=port,
                user=user,
                key_file=folder / "client",
                root=root,
                folder=folder,
                log_file=log_file,
                host_keys={
                    "ssh-ed25519": folder / "host_ed25519",
                    "ecdsa-sha2-nistp256": folder / "host_ecdsa",
                },
                process=process,
            )
            if _wait_for_banner(server, time.monotonic() + 10):
                break
            server.stop()
            server = None
        if server is None:
            log = log_file.read_text() if log_file.exists() else ""
            raise RuntimeError(f"sshd did not start: {log.strip()[-2000:]}")
        yield server
    finally:
        if server is not None:
            server.stop()
        if made_privsep:
            with contextlib.suppress(OSError):
                PRIVSEP_DIR.rmdir()


# -- S3 ----------------------------------------------------------------------------------------


@dataclass
class S3TestServer:
    endpoint_url: str
    bucket: str
    key: str
    secret: str
    region: str
    client: Any  # a boto3 S3 client: "another program" writing into the bucket

    def config(self, prefix: str = "", **options: Any) -> LocationConfig:
        settings: dict[str, Any] = {
            "url": f"s3://{self.bucket}/{prefix.lstrip('/')}",
            "endpoint_url": self.endpoint_url,
            "key": self.key,
            "secret": self.secret,
            "region": self.region,
            "timeout": 5,
        }
        settings.update(options)
        return LocationConfig(**settings)

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto S3 server for the whole session, with fake credentials in the environment."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def s3_server(moto_endpoint: str) -> Iterator[S3TestServer]:
    """An empty moto S3 with the bucket ``stock``; state is reset before and after each test."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name=S3_REGION,
    )
    server = S3TestServer(moto_endpoint, S3_BUCKET, S3_KEY, S3_SECRET, S3_REGION, client)
    server.reset()
    client.create_bucket(Bucket=S3_BUCKET)
    try:
        yield server
    finally:
        server.reset()
        client.close()
