"""Explicit FTPS against pyftpdlib with a certificate from a test CA.

The server requires TLS on the control *and* data channels, so every passing listing proves
``PROT P`` is in force, including after a reconnect.
"""

from __future__ import annotations

import logging

import pytest

from stockbridge.errors import LocationError
from stockbridge.locations import open_folder
from stockbridge.locations.ftp import FTPLocation
from tests.locations.test_ftp import ftp_backend
from tests.locations.test_local import DirectoryBackend, LocationContract
from tests.servers import FTPTestServer

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def backend(ftps_server: FTPTestServer) -> DirectoryBackend:
    return ftp_backend(ftps_server)


class TestFTPSContract(LocationContract):
    pass


def test_right_ca_verifies_and_protects_data(ftps_server: FTPTestServer) -> None:
    location = open_folder(ftps_server.config("inbox"))
    assert isinstance(location, FTPLocation)
    ftp = location.fs.ftp
    assert ftp.context.verify_mode.name == "CERT_REQUIRED"
    assert ftp.context.check_hostname
    assert ftp._prot_p  # data channel protected
    location.write_atomic("stock.csv", b"secret stock")
    assert location.read_bytes("stock.csv") == b"secret stock"


def test_host_name_is_checked_against_the_certificate(ftps_server: FTPTestServer) -> None:
    by_name = ftps_server.config("inbox", url=f"ftps://localhost:{ftps_server.port}/inbox")
    assert open_folder(by_name).list_files() == []


def test_ftp_url_with_tls_option_is_explicit_tls(ftps_server: FTPTestServer) -> None:
    config = ftps_server.config("inbox", url=f"ftp://127.0.0.1:{ftps_server.port}/inbox", tls=True)
    location = open_folder(config)
    assert location.fs.ftp._prot_p
    assert location.list_files() == []


def test_plain_ftp_to_a_tls_only_server_fails(ftps_server: FTPTestServer) -> None:
    config = ftps_server.config("inbox", url=f"ftp://127.0.0.1:{ftps_server.port}/inbox")
    with pytest.raises(LocationError):
        open_folder(config)


@pytest.mark.parametrize("which", ["wrong_ca", "system_store"])
def test_untrusted_certificate_fails_closed(ftps_server: FTPTestServer, which: str) -> None:
    ca_file = str(ftps_server.wrong_ca_file) if which == "wrong_ca" else None
    config = ftps_server.config("inbox", ca_file=ca_file)
    with pytest.raises(LocationError) as caught:
        open_folder(config)
    message = str(caught.value)
    assert config.display in message
    assert "certificate" in message
    assert ftps_server.password not in message


def test_verify_false_connects_and_warns_every_time(
    ftps_server: FTPTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    config = ftps_server.config("inbox", ca_file=str(ftps_server.wrong_ca_file), verify=False)
    with caplog.at_level(logging.WARNING, logger="stockbridge.locations"):
        assert open_folder(config).list_files() == []
        open_folder(config)
    warnings = [
        r
        for r in caplog.records
        if r.name == "stockbridge.locations" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 2
    assert config.display in warnings[0].getMessage()
    assert "NOT verified" in warnings[0].getMessage()


@pytest.mark.parametrize("reply_421", [False, True], ids=["eof", "421-idle-timeout"])
def test_reconnect_keeps_tls_and_prot_p(ftps_server: FTPTestServer, reply_421: bool) -> None:
    """After a reconnect fsspec alone would lose PROT P; this server would then refuse PASV."""
    ftp_backend(ftps_server).put("inbox", "stock.csv", b"x")
    location = open_folder(ftps_server.config("inbox"))
    first_connection = location.fs.ftp

    ftps_server.drop_all_connections(reply_421=reply_421)
    assert [f.name for f in location.list_files()] == ["stock.csv"]
    assert location.fs.ftp is not first_connection
    assert location.fs.ftp._prot_p
    ftps_server.drop_all_connections(reply_421=reply_421)
    assert location.read_bytes("stock.csv") == b"x"


def test_wrong_ca_on_reconnect_is_an_error_not_an_empty_listing(
    ftps_server: FTPTestServer,
) -> None:
    location = open_folder(ftps_server.config("inbox"))
    # Swap in a context that trusts another CA: as if the server's certificate changed.
    import ssl

    location.fs.ssl_context = ssl.create_default_context(cafile=str(ftps_server.wrong_ca_file))
    ftps_server.drop_all_connections()
    with pytest.raises(LocationError, match="certificate"):
        location.list_files()
