"""SFTP against a real (paramiko) SFTP server: the contract plus connection failures."""

from __future__ import annotations

import time

import pytest

from stockbridge.config.locations import LocationConfig
from stockbridge.errors import LocationError
from stockbridge.locations import open_folder
from stockbridge.locations.sftp import SFTPLocation
from tests.locations.test_local import DirectoryBackend, LocationContract
from tests.servers import SFTPTestServer, free_port

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def backend(sftp_server: SFTPTestServer) -> DirectoryBackend:
    return DirectoryBackend(sftp_server.root, lambda f: open_folder(sftp_server.config(f)))


class TestSFTPContract(LocationContract):
    pass


def test_open_folder_gives_sftp_location(sftp_server: SFTPTestServer) -> None:
    location = open_folder(sftp_server.config("inbox/"))
    assert isinstance(location, SFTPLocation)
    assert location.root == "/inbox"
    assert location.display == f"sftp://127.0.0.1:{sftp_server.port}/inbox/"


def test_dropped_connection_reconnects(sftp_server: SFTPTestServer) -> None:
    (sftp_server.root / "inbox").mkdir()
    (sftp_server.root / "inbox" / "stock.csv").write_bytes(b"x")
    location = open_folder(sftp_server.config("inbox"))
    assert [f.name for f in location.list_files()] == ["stock.csv"]
    sftp_server.drop_all_connections()
    assert [f.name for f in location.list_files()] == ["stock.csv"]


def test_dead_server_is_an_error_not_an_empty_listing(sftp_server: SFTPTestServer) -> None:
    (sftp_server.root / "inbox").mkdir()
    location = open_folder(sftp_server.config("inbox"))
    assert location.list_files() == []
    sftp_server.stop()
    with pytest.raises(LocationError) as caught:
        location.list_files()
    assert location.display in str(caught.value)


def test_wrong_password_is_a_location_error(sftp_server: SFTPTestServer) -> None:
    config = sftp_server.config("inbox", password="not-the-password-42")
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
