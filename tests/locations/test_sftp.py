"""SFTP against real servers: the contract, connection failures and host-key verification.

Two servers: paramiko's SFTP server in a thread (``sftp_server``, fast, every run) and the
machine's real OpenSSH ``sshd`` (``sshd_server``; mandatory in CI). No test relies on
accepting an unknown key: every connection pins the key or names it in a known_hosts file.
Fingerprints and known_hosts lines are computed here (hashlib, hmac) or by the OpenSSH tools,
never by the paramiko code under test. ``HOME`` points at an empty folder, so the default
``~/.ssh/known_hosts`` of the machine never decides a test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramiko
import pytest
import yaml

from stockbridge.cli import main
from stockbridge.config.loader import InvalidStoreFile, load_store
from stockbridge.config.locations import LocationConfig
from stockbridge.errors import LocationError
from stockbridge.locations import open_folder
from stockbridge.locations.sftp import SFTPLocation
from tests.locations.test_local import DirectoryBackend, LocationContract
from tests.servers import SFTPTestServer, SSHDTestServer, free_port

pytestmark = pytest.mark.timeout(60)


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:`` fingerprint: unpadded base64 of the SHA-256 of the key blob."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_line(name: str, key: paramiko.PKey, hashed: bool = False) -> str:
    """A known_hosts line; hashed as ``ssh-keygen -H`` does (HMAC-SHA1 of the name)."""
    if hashed:
        salt = os.urandom(20)
        mac = hmac.new(salt, name.encode(), hashlib.sha1).digest()
        name = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(mac).decode()}"
    return f"{name} {key.get_name()} {key.get_base64()}\n"


def refusal(caught: pytest.ExceptionInfo[LocationError]) -> str:
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.fixture(autouse=True)
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    return home


@pytest.fixture
def pin(sftp_host_key: paramiko.PKey) -> str:
    return fingerprint(sftp_host_key)


@pytest.fixture
def pinned(sftp_server: SFTPTestServer, pin: str) -> Callable[..., LocationConfig]:
    """``pinned(path, **options)``: a location on the paramiko server with its key pinned."""

    def config(path: str = "/", **options: Any) -> LocationConfig:
        return sftp_server.config(path, **{"host_key": pin, **options})

    return config


@pytest.fixture
def backend(sftp_server: SFTPTestServer, pinned: Callable[..., LocationConfig]) -> DirectoryBackend:
    return DirectoryBackend(sftp_server.root, lambda f: open_folder(pinned(f)))


class TestSFTPContract(LocationContract):
    pass


def test_open_folder_gives_sftp_location(sftp_server: SFTPTestServer, pinned) -> None:
    location = open_folder(pinned("inbox/"))
    assert isinstance(location, SFTPLocation)
    assert location.root == "/inbox"
    assert location.display == f"sftp://127.0.0.1:{sftp_server.port}/inbox/"


def test_dropped_connection_reconnects(sftp_server: SFTPTestServer, pinned) -> None:
    (sftp_server.root / "inbox").mkdir()
    (sftp_server.root / "inbox" / "stock.csv").write_bytes(b"x")
    location = open_folder(pinned("inbox"))
    assert [f.name for f in location.list_files()] == ["stock.csv"]
    sftp_server.drop_all_connections()
    assert [f.name for f in location.list_files()] == ["stock.csv"]


def test_dead_server_is_an_error_not_an_empty_listing(sftp_server: SFTPTestServer, pinned) -> None:
    (sftp_server.root / "inbox").mkdir()
    location = open_folder(pinned("inbox"))
    assert location.list_files() == []
    sftp_server.stop()
    with pytest.raises(LocationError) as caught:
        location.list_files()
    assert location.display in str(caught.value)


def test_wrong_password_is_a_location_error(pinned) -> None:
    config = pinned("inbox", password="not-the-password-42")
    with pytest.raises(LocationError) as caught:
        open_folder(config)
    assert config.display in str(caught.value)
    assert "not-the-password-42" not in str(caught.value)


def test_server_down_is_a_quick_location_error() -> None:
    config = LocationConfig(
        url=f"sftp://127.0.0.1:{free_port()}/inbox/",
        username="till",
        password="hunter2-secret",
        timeout=5,
    )
    started = time.monotonic()
    with pytest.raises(LocationError) as caught:
        open_folder(config)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert config.display in message
    assert "hunter2-secret" not in message


# -- host keys, paramiko server ----------------------------------------------------------------


def test_pinned_host_key_is_accepted(sftp_server: SFTPTestServer, pin: str) -> None:
    (sftp_server.root / "inbox").mkdir()
    (sftp_server.root / "inbox" / "a.txt").write_bytes(b"1")
    location = open_folder(sftp_server.config("inbox", host_key=pin))
    assert [f.name for f in location.list_files()] == ["a.txt"]


@pytest.mark.parametrize("hashed", [False, True], ids=["plain", "hashed"])
def test_known_hosts_line_for_host_and_port_is_accepted(
    sftp_server: SFTPTestServer, sftp_host_key: paramiko.PKey, tmp_path: Path, hashed: bool
) -> None:
    known_hosts = tmp_path / "known_hosts"
    other = paramiko.ECDSAKey.generate()
    known_hosts.write_text(
        "# a comment, then another host\n"
        + known_hosts_line("sftp.example.com", other)
        + known_hosts_line(f"[127.0.0.1]:{sftp_server.port}", sftp_host_key, hashed=hashed)
    )
    location = open_folder(sftp_server.config("/", known_hosts=str(known_hosts)))
    assert location.list_files() == []


def test_known_hosts_lines_paramiko_cannot_read_are_skipped_as_openssh_does(
    sftp_server: SFTPTestServer, sftp_host_key: paramiko.PKey, tmp_path: Path
) -> None:
    """A real known_hosts has CA lines, keys of newer types, the odd corrupt line: the
    server's own line still counts (paramiko's loader would refuse the whole file)."""
    ca = paramiko.ECDSAKey.generate()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        f"@cert-authority *.example.com {ca.get_name()} {ca.get_base64()}\n"
        "old.example.com ssh-ed25519 AAAA!!corrupt\n"
        "new.example.com sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5\n"
        "\n" + known_hosts_line(f"[127.0.0.1]:{sftp_server.port}", sftp_host_key, hashed=True)
    )
    config = sftp_server.config("/", known_hosts=str(known_hosts))
    assert open_folder(config).list_files() == []


def test_a_revoked_key_is_refused_even_when_listed(
    sftp_server: SFTPTestServer, sftp_host_key: paramiko.PKey, pin: str, tmp_path: Path
) -> None:
    name = f"[127.0.0.1]:{sftp_server.port}"
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        known_hosts_line(name, sftp_host_key) + "@revoked " + known_hosts_line("*", sftp_host_key)
    )
    config = sftp_server.config("/", known_hosts=str(known_hosts))
    with pytest.raises(LocationError) as caught:
        open_folder(config)
    assert refusal(caught) == (
        f"{config.display}: the server's ecdsa-sha2-nistp256 key {pin} is marked @revoked in"
        f" known_hosts {known_hosts}, so stockbridge refuses to connect"
    )


def test_default_known_hosts_is_the_users(
    sftp_server: SFTPTestServer, sftp_host_key: paramiko.PKey, empty_home: Path
) -> None:
    (empty_home / ".ssh").mkdir()
    line = known_hosts_line(f"[127.0.0.1]:{sftp_server.port}", sftp_host_key, hashed=True)
    (empty_home / ".ssh" / "known_hosts").write_text(line)
    assert open_folder(sftp_server.config("/")).list_files() == []


def test_known_hosts_path_expands_tilde(
    sftp_server: SFTPTestServer, sftp_host_key: paramiko.PKey, empty_home: Path
) -> None:
    (empty_home / "shop_known_hosts").write_text(
        known_hosts_line(f"[127.0.0.1]:{sftp_server.port}", sftp_host_key)
    )
    config = sftp_server.config("/", known_hosts="~/shop_known_hosts")
    assert open_folder(config).list_files() == []


def test_unknown_key_is_refused_with_the_fingerprint_to_pin(
    sftp_server: SFTPTestServer, pin: str, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(known_hosts_line("sftp.example.com", paramiko.ECDSAKey.generate()))
    config = sftp_server.config("inbox/", known_hosts=str(known_hosts))
    with pytest.raises(LocationError) as caught:
        open_folder(config)
    assert refusal(caught) == (
        f"{config.display}: the server's ecdsa-sha2-nistp256 key {pin} is not in known_hosts"
        f" {known_hosts}; if you trust it, add `host_key: {pin}` to this location (or add the"
        " server's key to that known_hosts file)"
    )
    assert sftp_server.password not in refusal(caught)
    # What the sentence says to do works.
    assert open_folder(sftp_server.config("inbox/", host_key=pin)).list_files() == []


def test_without_a_known_hosts_file_every_key_is_unknown(
    sftp_server: SFTPTestServer, pin: str
) -> None:
    config = sftp_server.config("/")
    with pytest.raises(LocationError) as caught:
        open_folder(config)
    assert (
        f"key {pin} is not in known_hosts ~/.ssh/known_hosts (which does not exist);"
        f" if you trust it, add `host_key: {pin}`" in refusal(caught)
    )


def test_wrong_pin_is_refused(sftp_server: SFTPTestServer, pin: str) -> None:
    wrong = fingerprint(paramiko.ECDSAKey.generate())
    config = sftp_server.config("/", host_key=wrong)
    with pytest.raises(LocationError) as caught:
        open_folder(config)
    message = refusal(caught)
    assert message.startswith(
        f"{config.display}: the server's ecdsa-sha2-nistp256 key {pin} does not match"
        f" host_key {wrong}: the key changed, possibly an attack"
    )
    assert f"set `host_key: {pin}`" in message


def test_changed_key_in_known_hosts_is_refused_as_a_possible_attack(
    sftp_server: SFTPTestServer, pin: str, tmp_path: Path
) -> None:
    old = paramiko.ECDSAKey.generate()
    name = f"[127.0.0.1]:{sftp_server.port}"
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(known_hosts_line(name, old))
    config = sftp_server.config("/", known_hosts=str(known_hosts))
    with pytest.raises(LocationError) as caught:
        open_folder(config)
    assert refusal(caught).startswith(
        f"{config.display}: the server's ecdsa-sha2-nistp256 key {pin} is not the"
        f" ecdsa-sha2-nistp256 key {fingerprint(old)} that known_hosts {known_hosts} has for"
        f" {name}: the key changed, possibly an attack"
    )


def test_verify_false_connects_and_warns_on_every_connect(
    sftp_server: SFTPTestServer, pin: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = sftp_server.config("/", verify=False)
    with caplog.at_level(logging.WARNING, logger="stockbridge.locations"):
        for _run in range(2):
            assert open_folder(config).list_files() == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[0].startswith(f"SSH host key of {config.display} is NOT verified")
    assert f"pin it with host_key: {pin}" in warnings[0]


def test_pinned_key_is_checked_again_on_reconnect(sftp_server: SFTPTestServer, pin: str) -> None:
    location = open_folder(sftp_server.config("/", host_key=pin))
    sftp_server._host_key = paramiko.ECDSAKey.generate()  # "re-keyed" behind our back
    sftp_server.drop_all_connections()
    with pytest.raises(LocationError) as caught:
        location.list_files()
    assert f"does not match host_key {pin}" in refusal(caught)


# -- validation, without connecting -------------------------------------------------------------


def store_file(folder: Path, imports: list[Any]) -> Path:
    document = {
        "store": "boutique-lyon",
        "integration": "interstock",
        "schedule": {"every": "60s"},
        "catalogue": "/srv/till/articles.tsv",
        "import": imports,
        "export": "/srv/exchange/export/articles.txt",
        "errors": "/srv/exchange/errors/",
    }
    path = folder / "store.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def problems(capsys: pytest.CaptureFixture[str], path: Path) -> list[str]:
    assert main(["validate", str(path)]) == 2
    return [
        line.removeprefix(f"{path}: ")
        for line in capsys.readouterr().err.splitlines()
        if line.startswith(f"{path}: ")
    ]


def test_missing_files_are_validation_errors_naming_key_and_path(
    tmp_path: Path, empty_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = store_file(
        tmp_path,
        [
            {"url": "sftp://h/in/", "known_hosts": "~/.ssh/shop_hosts"},
            {"url": "sftp://h/in/", "key_file": str(tmp_path / "id_missing")},
            {"url": "ftps://h/in/", "ca_file": str(tmp_path / "ca.pem")},
            {"url": "sftp://h/in/", "known_hosts": str(tmp_path)},
        ],
    )
    assert problems(capsys, path) == [
        f"import[0].known_hosts: no such file: {empty_home}/.ssh/shop_hosts"
        " (got '~/.ssh/shop_hosts')",
        f"import[1].key_file: no such file: {tmp_path}/id_missing",
        f"import[2].ca_file: no such file: {tmp_path}/ca.pem",
        f"import[3].known_hosts: {tmp_path} is a folder, not a file",
    ]


def test_existing_files_and_a_good_fingerprint_pass(
    tmp_path: Path, empty_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (empty_home / "known_hosts").write_text("")
    (tmp_path / "id_ed25519").write_text("")
    monkeypatch.chdir(tmp_path)  # relative paths are relative to where stockbridge runs
    good = fingerprint(paramiko.ECDSAKey.generate())
    path = store_file(
        tmp_path,
        [
            {"url": "sftp://h/a/", "known_hosts": "~/known_hosts", "key_file": "id_ed25519"},
            {"url": "sftp://h/b/", "host_key": good + "="},  # padded: accepted, stored unpadded
            {"url": "sftp://h/c/", "verify": False},
        ],
    )
    first, second, third = load_store(path).imports
    assert first.known_hosts_path == "~/known_hosts"
    assert second.host_key == good
    assert third.verify is False


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "SHA256:tooShort",
        "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
        "SHA256:" + "A" * 44,
        "SHA256:" + "A" * 42 + "!",
        "sha256:" + "A" * 43,
    ],
)
def test_host_key_must_be_a_sha256_fingerprint(tmp_path: Path, value: str) -> None:
    with pytest.raises(InvalidStoreFile) as caught:
        load_store(store_file(tmp_path, [{"url": "sftp://h/in/", "host_key": value}]))
    [problem] = caught.value.problems
    assert problem.key == "import.host_key"  # one location: no [0] (as the file reads)
    assert problem.message.startswith(
        "is not a host key fingerprint; give it as OpenSSH prints it: SHA256: and 43 base64"
    )


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ({"url": "ftp://h/in/", "host_key": "SHA256:" + "A" * 43}, "'host_key' applies to sftp"),
        ({"url": "/srv/in/", "known_hosts": "KNOWN"}, "'known_hosts' applies to sftp"),
        (
            {"url": "sftp://h/in/", "host_key": "SHA256:" + "A" * 43, "known_hosts": "KNOWN"},
            "give either 'host_key' (one pinned key) or 'known_hosts' (a file), not both",
        ),
        (
            {"url": "sftp://h/in/", "host_key": "SHA256:" + "A" * 43, "verify": False},
            "'host_key' pins the server's key and 'verify: false' ignores it",
        ),
    ],
)
def test_host_key_options_that_contradict(tmp_path: Path, location: dict, expected: str) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    location = {k: str(known) if v == "KNOWN" else v for k, v in location.items()}
    with pytest.raises(InvalidStoreFile) as caught:
        load_store(store_file(tmp_path, [location]))
    [problem] = caught.value.problems
    assert problem.key == "import"
    assert problem.message.startswith(expected)


# -- host keys, the real OpenSSH sshd ------------------------------------------------------------


class TestOpenSSHContract(LocationContract):
    """The whole contract against OpenSSH's own SFTP server (real posix-rename and all)."""

    @pytest.fixture
    def backend(self, sshd_server: SSHDTestServer) -> DirectoryBackend:
        pin = sshd_server.fingerprint()
        return DirectoryBackend(
            sshd_server.root, lambda f: open_folder(sshd_server.config(f, host_key=pin))
        )


def _no_login_attempted(sshd_server: SSHDTestServer) -> None:
    """sshd logs every authentication attempt; a refused key must end before any."""
    log = sshd_server.log_file.read_text()
    for sign in ("Accepted ", "Failed ", "authenticating user", "Postponed "):
        assert sign not in log, log


def test_openssh_unknown_key_is_refused_before_login_and_its_pin_works(
    sshd_server: SSHDTestServer, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    config = sshd_server.config("inbox/", known_hosts=str(known_hosts))
    expected = sshd_server.fingerprint("ssh-ed25519")
    with pytest.raises(LocationError) as caught:
        open_folder(config)
    assert refusal(caught) == (
        f"{config.display}: the server's ssh-ed25519 key {expected} is not in known_hosts"
        f" {known_hosts}; if you trust it, add `host_key: {expected}` to this location (or add"
        " the server's key to that known_hosts file)"
    )
    _no_login_attempted(sshd_server)

    location = open_folder(sshd_server.config("inbox/", host_key=expected))
    location.write_atomic("articles.txt", b"8880000000109\t1\n")
    assert (sshd_server.root / "inbox" / "articles.txt").read_bytes() == b"8880000000109\t1\n"
    assert len(sshd_server.logins()) == 1


@pytest.mark.parametrize("hashed", [False, True], ids=["plain", "hashed"])
def test_openssh_known_hosts_from_ssh_keyscan_is_accepted(
    sshd_server: SSHDTestServer, tmp_path: Path, hashed: bool
) -> None:
    lines = sshd_server.keyscan()
    assert {line.split()[0] for line in lines} == {f"[127.0.0.1]:{sshd_server.port}"}
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("".join(f"{line}\n" for line in lines))
    if hashed:
        subprocess.run(
            ["ssh-keygen", "-H", "-f", str(known_hosts)], check=True, capture_output=True
        )
        assert all(line.startswith("|1|") for line in known_hosts.read_text().splitlines())
    (sshd_server.root / "inbox").mkdir()
    (sshd_server.root / "inbox" / "a.txt").write_bytes(b"x")
    location = open_folder(sshd_server.config("inbox", known_hosts=str(known_hosts)))
    assert [f.name for f in location.list_files()] == ["a.txt"]


def test_openssh_known_hosts_with_only_its_second_key_type(
    sshd_server: SSHDTestServer, tmp_path: Path
) -> None:
    """A known_hosts that has the server's ECDSA key only: that key is asked for, not the
    ed25519 key clients prefer, as OpenSSH's ssh does."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        "".join(f"{line}\n" for line in sshd_server.keyscan() if " ecdsa-sha2-nistp256 " in line)
    )
    config = sshd_server.config("", known_hosts=str(known_hosts))
    assert open_folder(config).list_files() == []


def test_openssh_wrong_pin_is_refused(sshd_server: SSHDTestServer) -> None:
    wrong = fingerprint(paramiko.ECDSAKey.generate())
    config = sshd_server.config("", host_key=wrong)
    with pytest.raises(LocationError) as caught:
        open_folder(config)
    assert refusal(caught).startswith(
        f"{config.display}: the server's ssh-ed25519 key {sshd_server.fingerprint()} does not"
        f" match host_key {wrong}: the key changed, possibly an attack"
    )
    _no_login_attempted(sshd_server)


def test_openssh_changed_key_in_known_hosts_is_refused(
    sshd_server: SSHDTestServer, tmp_path: Path
) -> None:
    old = tmp_path / "old_host_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(old)],
        check=True,
        capture_output=True,
    )
    name = f"[127.0.0.1]:{sshd_server.port}"
    kind, blob = old.with_suffix(".pub").read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{name} {kind} {blob}\n")
    config = sshd_server.config("", known_hosts=str(known_hosts))
    with pytest.raises(LocationError) as caught:
        open_folder(config)
    old_print = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(old)], check=True, capture_output=True
    ).stdout.split()[1]
    assert refusal(caught).startswith(
        f"{config.display}: the server's ssh-ed25519 key {sshd_server.fingerprint()} is not the"
        f" ssh-ed25519 key {old_print.decode()} that known_hosts {known_hosts} has for {name}:"
        " the key changed, possibly an attack"
    )
    _no_login_attempted(sshd_server)


def test_openssh_verify_false_works_and_warns(
    sshd_server: SSHDTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    config = sshd_server.config("", verify=False)
    with caplog.at_level(logging.WARNING, logger="stockbridge.locations"):
        assert open_folder(config).list_files() == []
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "is NOT verified (verify: false)" in warning
    assert f"pin it with host_key: {sshd_server.fingerprint()}" in warning
